/**
 * The via transport: a gateway made through another gateway (execnet's
 * `popen//via=master`, `ssh=host//via=master`, `socket=...//via=...`). The
 * first gateway's worker starts the interpreter (or the ssh client, or
 * connects to the socket server) with a small relay, and the new
 * gateway's frames travel as bytes inside a channel of the first, flow
 * controlled like any other; the child's stderr and exit status come back on
 * a second channel.
 */
import { EventEmitter } from 'node:events'
import { PassThrough, Writable } from 'node:stream'
import { BootstrapError } from '../errors.js'
import type { Spec } from '../spec.js'
import { BOOTSTRAP_LINE, pythonSource } from '../bootstrap.js'
import { workerDebugEnv } from '../debug.js'
import { Tuple } from '../serializer/types.js'
import type { Channel } from '../channel.js'
import { interpreterCommand, type WorkerHandle, type WorkerProcess } from './popen.js'
import { sshCommand, vagrantCommand } from './ssh.js'
import { authenticate, handshakeDeadline, socketAddress, socketSecret } from './socket.js'

/** What a via transport needs of the gateway it goes through. */
export interface ViaHost {
  /** The gateway's id, for messages. */
  readonly id: string
  /** Run the relay there. */
  remoteExec: (source: string, kwargs?: Record<string, unknown>, options?: { call?: string, filename?: string }) => Channel
  /** A channel for the relayed stderr and exit status. */
  newChannel: () => Channel
}


/** The relayed child: its exit comes on the control channel. */
class RelayedHandle extends EventEmitter implements WorkerHandle {
  exitCode: number | null = null
  signalCode: NodeJS.Signals | null = null
  constructor (readonly pid: number | undefined, private readonly control: Channel, private readonly channels: Channel[]) {
    super()
  }

  exited (code: number): void {
    if (this.exitCode !== null || this.signalCode !== null) return
    if (code < 0) this.signalCode = 'SIGKILL'
    else this.exitCode = code
    this.emit('exit', this.exitCode, this.signalCode)
  }

  kill (): boolean {
    if (this.exitCode !== null || this.signalCode !== null) return false
    this.control.send('kill').catch(() => {})
    return true
  }

  // the relay's channels hold Node alive exactly when the relayed gateway wants it
  ref (): void { for (const c of this.channels) c.setKeepAlive(true) }
  unref (): void { for (const c of this.channels) c.setKeepAlive(false) }
}

/**
 * Start the spec's worker through the `via` gateway: popen and ssh as a
 * relayed child process, socket as a relayed connection (our server's
 * challenge is answered through it, so the secret never leaves this side).
 */
export async function viaWorker (spec: Spec, via: ViaHost, secret?: string, startTimeout?: number): Promise<WorkerProcess> {
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
    const argv = spec.transport === 'ssh'
      ? sshCommand(spec)
      : spec.transport === 'vagrant_ssh'
        ? vagrantCommand(spec)
        : [...interpreterCommand(spec), '-u', ...(spec.dontWriteBytecode ? ['-B'] : []), '-c', BOOTSTRAP_LINE]
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
    throw new BootstrapError(`through gateway ${via.id}: ${String(parts[1] ?? first)}`, { stderr: '', received: '', exitCode: null, signal: null })
  }
  const handle = new RelayedHandle(parts[1] === null ? undefined : Number(parts[1]), control, [relay, control])
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  relay.on('data', (chunk: unknown) => { if (Buffer.isBuffer(chunk)) stdout.write(chunk) })
  relay.on('end', () => { stdout.end() })
  relay.on('error', (err: Error) => { stdout.destroy(err) })
  control.on('data', (item: unknown) => {
    if (Buffer.isBuffer(item)) stderr.write(item)
    else if (item instanceof Tuple && item[0] === 'exit') handle.exited(Number(item[1]))
  })
  control.on('end', () => { stderr.end(); handle.exited(-1) })
  control.on('error', () => { stderr.end(); handle.exited(-1) })
  const stdin = new Writable({
    write (chunk: Buffer, _enc, done) { relay.send(chunk).then(() => { done() }, done) },
    final (done) { relay.end(); done() }
  })
  if (key !== null) {
    const deadline = handshakeDeadline(startTimeout)
    const timer = setTimeout(() => { stdout.destroy(new Error(`no challenge within ${deadline} ms: not our socket server?`)) }, deadline)
    try {
      await authenticate(stdout, stdin, key)
    } catch (err) {
      handle.kill()
      throw new BootstrapError(`cannot start a worker at ${command.join(' ')}: ${(err as Error).message}`, { stderr: '', received: '', exitCode: null, signal: null })
    } finally {
      clearTimeout(timer)
    }
  }
  return { child: handle, stdin, stdout, stderr, command }
}
