/**
 * The via transport: a gateway made through another gateway (execnet's
 * `popen//via=master`, `ssh=host//via=master`, `socket=...//via=...`). The
 * first gateway's worker starts the interpreter (or the ssh client, or
 * connects to the socket server) with a small relay, and the new
 * gateway's frames travel as bytes inside a channel of the first, flow
 * controlled like any other; the child's stderr and exit status come back on
 * a second channel.
 */
import { constants } from 'node:os'
import { PassThrough, Writable } from 'node:stream'
import { BootstrapError, type ExitInfo } from '../errors.js'
import type { Spec } from '../spec.js'
import { pythonSource } from '../bootstrap.js'
import { workerDebugEnv } from '../debug.js'
import { Tuple } from '../serializer/types.js'
import type { Channel } from '../channel.js'
import type { Transport } from './index.js'
import { workerArgv } from './popen.js'
import { sshCommand, vagrantCommand } from './ssh.js'
import { authenticate, handshakeDeadline, socketAddress, socketSecret } from './socket.js'

/**
 * What a via transport needs of the gateway it goes through.
 * @category Gateways
 */
export interface ViaHost {
  /** The gateway's id, for messages. */
  readonly id: string
  /** Run the relay there. */
  remoteExec: (source: string, kwargs?: Record<string, unknown>, options?: { call?: string, filename?: string }) => Channel
  /** A channel for the relayed stderr and exit status. */
  newChannel: () => Channel
}

/**
 * Start the spec's worker through the `via` gateway: popen and ssh as a
 * relayed child process, socket as a relayed connection (our server's
 * challenge is answered through it, so the secret never leaves this side).
 */
export async function viaTransport (spec: Spec, via: ViaHost, secret?: string, startTimeout?: number, keepAlive = 0): Promise<Transport> {
  let call = 'relay'
  let kwargs: Record<string, unknown>
  let command: string[]
  let key: string | null = null
  if (spec.transport === 'socket') {
    const { host, port, where } = socketAddress(spec)
    key = socketSecret(spec, secret, where)
    call = 'relay_socket'
    kwargs = { host, port }
    command = [`via=${via.id}:`, `socket=${where}`]
  } else {
    const argv = spec.transport === 'ssh' ? sshCommand(spec, { keepAlive }) : spec.transport === 'vagrant_ssh' ? vagrantCommand(spec, { keepAlive }) : workerArgv(spec)
    const popen = spec.transport === 'popen'
    kwargs = { argv, cwd: popen ? spec.chdir ?? null : null, env: popen ? { ...workerDebugEnv(), ...spec.env } : {} }
    command = [`via=${via.id}:`, ...argv]
  }
  const relay = via.remoteExec(pythonSource('relay.py'), kwargs, { call, filename: 'execnet-relay.py' })
  const control = via.newChannel()
  await relay.send(control)
  const first = await relay.receive()
  const parts = first instanceof Tuple ? [...first] : []
  if (parts[0] !== 'pid') {
    relay.close()
    control.close()
    throw new BootstrapError(`through gateway ${via.id}: ${String(parts[1] ?? first)}`, { stderr: '', received: '', exitCode: null, signal: null })
  }
  const transport = relayedTransport(relay, control, parts[1] === null ? undefined : Number(parts[1]), command)
  if (key !== null) {
    const deadline = handshakeDeadline(startTimeout)
    const timer = setTimeout(() => { transport.output.destroy(new Error(`no challenge within ${deadline} ms: not our socket server?`)) }, deadline)
    try {
      await authenticate(transport.output, transport.input, key)
    } catch (err) {
      transport.kill()
      throw new BootstrapError(`cannot start a worker at ${command.join(' ')}: ${(err as Error).message}`, { stderr: '', received: '', exitCode: null, signal: null })
    } finally {
      clearTimeout(timer)
    }
  }
  return transport
}

/**
 * The relayed worker as a Transport: its bytes travel on the relay channel,
 * its stderr, the end of its stdout (("eof",)) and its exit (("exit",
 * status), or the control channel closing) on the control channel.
 */
function signalName (n: number): NodeJS.Signals {
  const found = Object.entries(constants.signals).find(([, v]) => v === n)
  return (found?.[0] as NodeJS.Signals | undefined) ?? 'SIGKILL'
}

function relayedTransport (relay: Channel, control: Channel, pid: number | undefined, command: string[]): Transport {
  let end: ExitInfo | null = null
  let resolveExit: (info: ExitInfo) => void = () => {}
  const exited = new Promise<ExitInfo>((resolve) => { resolveExit = resolve })
  const exit = (code: number): void => {
    if (end !== null) return
    // Python's returncode is -N for a child killed by signal N
    end = code < 0 ? { exitCode: null, signal: signalName(-code) } : { exitCode: code, signal: null }
    resolveExit(end)
  }
  const output = new PassThrough()
  const stderr = new PassThrough()
  relay.on('data', (chunk: unknown) => { if (Buffer.isBuffer(chunk)) output.write(chunk) })
  relay.on('end', () => { output.end() })
  relay.on('error', (err: Error) => { output.destroy(err) })
  control.on('data', (item: unknown) => {
    if (Buffer.isBuffer(item)) stderr.write(item)
    else if (item instanceof Tuple && item[0] === 'eof') output.end() // after all it wrote: the relay sends it behind the data
    else if (item instanceof Tuple && item[0] === 'exit') exit(Number(item[1]))
  })
  // the relay itself is gone (its gateway ended): the child went with it
  control.on('end', () => { stderr.end(); exit(-9) })
  control.on('error', () => { stderr.end(); exit(-9) })
  const input = new Writable({
    write (chunk: Buffer, _enc, done) { relay.send(chunk).then(() => { done() }, done) },
    final (done) { relay.end(); done() }
  })
  return {
    input,
    output,
    stderr,
    command,
    pid,
    exited,
    spawnError: new Promise(() => {}),
    kill: () => { if (end === null) control.send('kill').catch(() => {}) },
    // the relay's channels hold Node alive exactly when the relayed gateway wants it
    setRef: (held) => { relay.setKeepAlive(held); control.setKeepAlive(held) }
  }
}
