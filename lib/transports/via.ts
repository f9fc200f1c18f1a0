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
import { BOOTSTRAP_LINE } from '../bootstrap.js'
import { workerDebugEnv } from '../debug.js'
import { Tuple } from '../serializer/types.js'
import type { Channel } from '../channel.js'
import { interpreterCommand, type WorkerHandle, type WorkerProcess } from './popen.js'
import { sshCommand } from './ssh.js'
import { authenticate, handshakeDeadline, socketAddress, socketSecret } from './socket.js'

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

def relay_socket(channel, host, port):
    import socket
    try:
        sock = socket.create_connection((host, port), 10)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, IOError, socket.error) as error:
        channel.send(("error", "cannot connect to %s:%s: %s" % (host, port, error)))
        return
    control = channel.receive()
    channel.send(("pid", None))  # a connection: no process of its own
    ended = []
    killed = []

    def close():
        if not ended:
            ended.append(True)
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except (OSError, IOError, socket.error):
                pass

    def pump():
        while True:
            try:
                data = sock.recv(65536)
            except (OSError, IOError, socket.error):
                data = b""
            if not data:
                break
            channel.send(bytearray(data) if str is bytes else data)
        close()
        control.send(("exit", -9 if killed else 0))

    def kill_on_request():
        for message in control:
            if message == "kill":
                killed.append(True)
                close()
    threads = [threading.Thread(target=pump), threading.Thread(target=kill_on_request)]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for data in channel:
        try:
            sock.sendall(data)
        except (OSError, IOError, socket.error):
            break
    try:
        sock.shutdown(socket.SHUT_WR)
    except (OSError, IOError, socket.error):
        pass
    threads[0].join()  # what the server still sends, then its close
`

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
      : [...interpreterCommand(spec), '-u', ...(spec.dontWriteBytecode ? ['-B'] : []), '-c', BOOTSTRAP_LINE]
    const popen = spec.transport === 'popen'
    kwargs = { argv, cwd: popen ? spec.chdir ?? null : null, env: popen ? { ...workerDebugEnv(), ...spec.env } : {} }
    command = [`via=${via.id}:`, ...argv]
  }
  const relay = via.remoteExec(RELAY, kwargs, { call })
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
