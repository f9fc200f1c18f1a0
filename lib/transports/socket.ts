/**
 * The socket transport: a connection to our socket server
 * (lib/python/socketserver.py), which starts a worker with the connection as its
 * stdin and stdout once the client proved it holds the server's secret
 * (HMAC-SHA256 of the server's nonce). From then on the connection is
 * bootstrapped and used exactly as a pipe.
 *
 * With `server=execnet`, an explicit opt-in, the server is execnet's own
 * socketserver.py: no challenge (it runs whatever any client sends, in its
 * own process), and the bootstrap program runs our worker on its
 * `clientsock`.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { PassThrough, type Readable, type Writable } from 'node:stream'
import { BootstrapError, type ExitInfo } from '../errors.js'
import type { Spec } from '../spec.js'
import type { Channel } from '../channel.js'
import { Tuple } from '../serializer/types.js'
import { pythonSource } from '../bootstrap.js'
import type { Transport } from './index.js'

/** How long connecting and the challenge may take at most. */
const HANDSHAKE_MS = 10000

/** Milliseconds the connection and handshake may take: HANDSHAKE_MS, or less when startTimeout asks less. */
export function handshakeDeadline (startTimeout: number | undefined): number {
  return Math.min(HANDSHAKE_MS, startTimeout ?? HANDSHAKE_MS)
}

/**
 * A socket worker as a Transport: the connection is its stdin and stdout,
 * and it has ended when the connection has closed (by either side, cleanly
 * or not: a destroyed socket emits only 'close').
 */
function connectionTransport (socket: Socket, command: string[]): Transport {
  let killed = false
  const exited = new Promise<ExitInfo>((resolve) => {
    const done = (hadError: boolean): void => { resolve(killed ? { exitCode: null, signal: 'SIGKILL' } : { exitCode: hadError ? 1 : 0, signal: null }) }
    if (socket.closed) done(socket.errored !== null)
    else socket.once('close', done)
  })
  // the worker's stderr stays on the server's side
  const stderr = new PassThrough()
  stderr.end()
  return {
    input: socket,
    output: socket,
    stderr,
    command,
    pid: undefined,
    exited,
    spawnError: new Promise(() => {}),
    kill: () => {
      if (socket.closed) return
      // the server's worker sees the end of its input and exits
      killed = true
      socket.destroy()
    },
    setRef: (held) => { if (held) socket.ref(); else socket.unref() }
  }
}

/** One line (at most 256 bytes) from a connection, in latin1; what came after it is put back. Rejects at its end or error. */
export function readLine (socket: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk])
      const end = got.indexOf(0x0a)
      if (end === -1 && got.length < 256) return
      cleanup()
      if (end === -1) { reject(new Error('no line from the socket server')); return }
      if (end + 1 < got.length) socket.unshift(got.subarray(end + 1))
      resolve(got.subarray(0, end).toString('latin1'))
    }
    const onEnd = (): void => { cleanup(); reject(new Error('the socket server closed the connection')) }
    const onError = (err: Error): void => { cleanup(); reject(err) }
    const cleanup = (): void => {
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('error', onError)
      socket.pause()
    }
    socket.on('data', onData)
    socket.once('end', onEnd)
    socket.once('error', onError)
    socket.resume()
  })
}

/**
 * Connect, prove the secret, and hand the connection over as a worker's
 * stdio. With `server=execnet`, execnet's socketserver.py: no secret, it
 * runs the bootstrap program it is sent in itself.
 */
export async function socketTransport (spec: Spec, secret: string | undefined, startTimeout?: number, at?: { host: string, port: number }): Promise<Transport> {
  const deadline = handshakeDeadline(startTimeout)
  const { host, port, where } = at === undefined ? socketAddress(spec) : { ...at, where: `${at.host}:${at.port}` }
  const command = [`socket=${where}`]
  const key = socketSecret(spec, secret, where)
  const socket = connect({ host, port })
  // one deadline for connecting and the challenge: the read fails with it
  const timer = setTimeout(() => {
    socket.destroy(new Error(`no ${spec.server === 'execnet' ? 'connection' : 'challenge'} within ${deadline} ms` +
      (spec.server === 'execnet' ? '' : ": not our socket server? (execnet's own socketserver.py, which runs anything sent to it, needs //server=execnet)")))
  }, deadline)
  try {
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    if (key !== null) await authenticate(socket, socket, key)
  } catch (err) {
    socket.destroy()
    throw new BootstrapError(`cannot start a worker at ${where}: ${(err as Error).message}`, { stderr: '', received: '', exitCode: null, signal: null })
  } finally {
    clearTimeout(timer)
  }
  socket.setNoDelay(true)
  return connectionTransport(socket, command)
}

/**
 * What installedSocketTransport needs of the gateway it starts the server through.
 * @category Gateways
 */
export interface InstallHost {
  /** The gateway's id, for messages. */
  readonly id: string
  /** Run the one-shot socket server there. */
  remoteExec: (source: string, kwargs?: Record<string, unknown>, options?: { call?: string, filename?: string }) => Channel
}

/**
 * socket//installvia=ID, as execnet: our socket server is started through
 * gateway ID (serve_one in lib/python/socketserver.py: one connection, a
 * fresh secret sent along that channel), and this side connects to the
 * address it reports. The address must be reachable from here: by default
 * it listens on 127.0.0.1, right when ID's worker runs on this machine;
 * socket=HOST:PORT//installvia=ID says where else.
 */
export async function installedSocketTransport (spec: Spec, through: InstallHost, startTimeout?: number): Promise<Transport> {
  const { host, port } = spec.socket === undefined ? { host: '127.0.0.1', port: 0 } : socketAddress(spec)
  const secret = randomBytes(16).toString('hex')
  const deadline = handshakeDeadline(startTimeout)
  // Python 2 refuses a coding declaration in source compiled from a unicode string
  const source = pythonSource('socketserver.py').replace(/^# -\*- coding: ascii -\*-\n/, '')
  const server = through.remoteExec(source, { host, port, secret, timeout: deadline / 1000 }, { call: 'serve_one', filename: 'execnet-socketserver.py' })
  let first: unknown
  try {
    first = await server.receive({ timeout: deadline / 1000 })
  } catch (err) {
    server.close()
    throw new BootstrapError(`cannot start a socket server through gateway ${through.id}: ${(err as Error).message}`, { stderr: '', received: '', exitCode: null, signal: null })
  }
  const parts = first instanceof Tuple ? [...first] : []
  if (parts[0] !== 'listening') {
    server.close()
    throw new BootstrapError(`cannot start a socket server through gateway ${through.id}: ${String(parts[1] ?? first)}`, { stderr: '', received: '', exitCode: null, signal: null })
  }
  // a server listening on every address is reached on the loopback one, as execnet does
  const listening = String(parts[1])
  const at = { host: listening === '' || listening === '0.0.0.0' ? '127.0.0.1' : listening, port: Number(parts[2]) }
  // its channel ends when the worker does; its errors are the worker's to report
  server.on('error', () => {})
  server.resume()
  return await socketTransport({ ...spec, server: 'ours' }, secret, startTimeout, at)
}

/** Where a socket spec connects: an empty host is the loopback address. */
export function socketAddress (spec: Spec): { host: string, port: number, where: string } {
  const [host, portText] = (spec.socket ?? '').split(/:(?=\d+$)/) as [string, string]
  return { host: host === '' ? '127.0.0.1' : host, port: Number(portText), where: `${host}:${portText}` }
}

/** The secret for a socket spec (the option, else EXECNET_SECRET); null with server=execnet, which takes none. */
export function socketSecret (spec: Spec, secret: string | undefined, where: string): string | null {
  if (spec.server === 'execnet') return null
  const key = secret ?? process.env.EXECNET_SECRET
  if (key === undefined || key === '') {
    throw new BootstrapError(`no secret for the socket server at ${where}: pass GatewayOptions.secret or set EXECNET_SECRET`, { stderr: '', received: '', exitCode: null, signal: null })
  }
  return key
}

/** Answer our server's challenge (an HMAC of its nonce with the secret), on a connection or a relayed one. */
export async function authenticate (input: Readable, output: Writable, key: string): Promise<void> {
  const challenge = /^EXECNET-AUTH 1 ([0-9a-f]+)$/.exec(await readLine(input))
  if (challenge === null) throw new Error("not our socket server (no EXECNET-AUTH challenge); execnet's own socketserver.py, which runs anything sent to it, needs //server=execnet")
  output.write(createHmac('sha256', key).update(challenge[1] as string).digest('hex') + '\n')
  const verdict = await readLine(input)
  if (verdict !== 'OK') throw new Error('the socket server refused the secret')
}
