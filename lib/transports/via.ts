/**
 * The via transport: a gateway made through another gateway (execnet's
 * `popen//via=master`, `ssh=host//via=master`). The first gateway's worker
 * starts the interpreter (or the ssh client) with a small relay, and the new
 * gateway's frames travel as bytes inside a channel of the first, flow
 * controlled like any other; the child's stderr and exit status come back on
 * a second channel.
 */
import { EventEmitter } from 'node:events'
import { PassThrough, Writable } from 'node:stream'
import { BootstrapError } from '../errors.js'
import type { Spec } from '../spec.js'
import { BOOTSTRAP_LINE } from '../bootstrap.js'
import { workerDebugEnv } from '../debug.js'
import { Tuple } from '../serializer/types.js'
import type { Channel } from '../channel.js'
import { interpreterCommand, type WorkerHandle, type WorkerProcess } from './popen.js'
import { sshCommand } from './ssh.js'

/** What a via transport needs of the gateway it goes through. */
export interface ViaHost {
  /** The gateway's id, for messages. */
  readonly id: string
  /** Run the relay there. */
  remoteExec: (source: string, kwargs?: Record<string, unknown>, options?: { call?: string }) => Channel
  /** A channel for the relayed stderr and exit status. */
  newChannel: () => Channel
}

const RELAY = `
import os, subprocess, threading

def relay(channel, argv, cwd, env):
    environ = dict(os.environ)
    environ.update(env)
    try:
        if cwd and not os.path.isdir(cwd):
            os.makedirs(cwd)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=cwd or None, env=environ)
    except (OSError, IOError) as error:
        channel.send(("error", "cannot start %s: %s" % (argv[0], error)))
        return
    control = channel.receive()
    channel.send(("pid", proc.pid))

    def pump(source, target):
        fd = source.fileno()
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            # bytes on both lines (Python 2's str would arrive as a string)
            target.send(bytearray(data) if str is bytes else data)

    threads = [threading.Thread(target=pump, args=(proc.stdout, channel)),
               threading.Thread(target=pump, args=(proc.stderr, control))]
    for thread in threads:
        thread.daemon = True
        thread.start()

    def kill_on_request():
        for message in control:
            if message == "kill" and proc.poll() is None:
                proc.kill()
                proc.wait()  # reaped now: no zombie while the relay winds down
                control.send(("exit", proc.returncode))
    killer = threading.Thread(target=kill_on_request)
    killer.daemon = True
    killer.start()
    for data in channel:
        proc.stdin.write(data)
        proc.stdin.flush()
    proc.stdin.close()
    for thread in threads:
        thread.join()
    control.send(("exit", proc.wait()))
`

/** The relayed child: its exit comes on the control channel. */
class RelayedHandle extends EventEmitter implements WorkerHandle {
  exitCode: number | null = null
  signalCode: NodeJS.Signals | null = null
  constructor (readonly pid: number, private readonly control: Channel) {
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

  // the channels of the gateway it goes through hold Node alive or not
  ref (): void {}
  unref (): void {}
}

export async function viaWorker (spec: Spec, via: ViaHost): Promise<WorkerProcess> {
  let argv: string[]
  let cwd: string | null = null
  let env: Record<string, string> = {}
  if (spec.transport === 'ssh') {
    argv = sshCommand(spec)
  } else if (spec.transport === 'popen') {
    argv = [...interpreterCommand(spec), '-u', ...(spec.dontWriteBytecode ? ['-B'] : []), '-c', BOOTSTRAP_LINE]
    cwd = spec.chdir ?? null
    env = { ...workerDebugEnv(), ...spec.env }
  } else {
    throw new BootstrapError(`${spec.transport}= through via= is not available; popen and ssh are`, { stderr: '', received: '', exitCode: null, signal: null })
  }
  const command = [`via=${via.id}:`, ...argv]
  const relay = via.remoteExec(RELAY, { argv, cwd, env }, { call: 'relay' })
  const control = via.newChannel()
  await relay.send(control)
  const first = await relay.receive()
  const parts = first instanceof Tuple ? [...first] : []
  if (parts[0] !== 'pid') {
    relay.close()
    throw new BootstrapError(`through gateway ${via.id}: ${String(parts[1] ?? first)}`, { stderr: '', received: '', exitCode: null, signal: null })
  }
  const handle = new RelayedHandle(Number(parts[1]), control)
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
  return { child: handle, stdin, stdout, stderr, command }
}
