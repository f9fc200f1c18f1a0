/**
 * The slurm transport: the worker runs as a SLURM job step, started by
 * `srun` on a node the scheduler picks (`slurm=OPTIONS` are srun's options).
 *
 * The data path (data=tcp, the default) does not go through srun: srun's
 * stdio forwarding is slow (about 50 MB/s) and buffers unless told not to.
 * The master listens on an address the nodes reach (`listen=HOST[:PORT]`,
 * default every address, announced by this machine's hostname), and hands
 * the node, on srun's stdin (never on a command line, which `ps` and
 * `squeue` show), where to connect and a secret made for this gateway
 * alone. The node connects back, answers a challenge with an HMAC of that
 * secret, and only then is sent the worker, which runs on the connection.
 * A connection that does not answer is closed and the master goes on
 * listening. `data=stdio` keeps everything on srun's stdio instead, for
 * nodes that cannot reach the master.
 *
 * The job is the gateway's for its whole life: kill() cancels it (scancel
 * once its id is known, else srun's own cancel of a pending allocation), so
 * nothing is left in squeue; an allocation still pending when startTimeout
 * ends is cancelled the same way.
 */
import { spawn } from 'node:child_process'
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { hostname } from 'node:os'
import { PassThrough } from 'node:stream'
import { SlurmError, srunErrors } from '../errors.js'
import type { Spec } from '../spec.js'
import { splitCommand } from '../spec.js'
import { workerDebugEnv } from '../debug.js'
import { interpreterCommand, workerArgv } from './popen.js'
import { processTransport, type Transport } from './index.js'
import { readLine } from './socket.js'
import { describeExit } from '../lifecycle.js'

/**
 * A worker's job, as SLURM names it.
 * @category Gateways
 */
export interface SlurmJob {
  /** The job id (SLURM_JOB_ID), for squeue, scontrol, sacct. */
  readonly jobId: string
  /** The step id within it (SLURM_STEP_ID). */
  readonly stepId: string
  /** The node it runs on (SLURMD_NODENAME). */
  readonly node: string
}

/**
 * What the node runs (python -c): read where to connect and the secret from
 * stdin, connect, answer the challenge, then read the bootstrap program (the
 * line a popen worker reads after the bootstrap line) and run it with the
 * connection as `clientsock`. Reading up to the program's newline in big
 * chunks takes nothing that belongs to the worker: the master sends no frame
 * before the worker's ready byte. Python 2.7-3.13, PyPy and Jython.
 *
 * Every node of a job starts at once, often more of them than the master
 * has cores, so what this imports is start-up time: `socket` pulls in enum
 * and selectors, `hmac` and `hashlib` OpenSSL's libcrypto. So it connects
 * on `_socket`, and makes the HMAC itself from the interpreter's own
 * SHA-256 (`_sha256`, `_sha2` from 3.12; hashlib where neither is, as on
 * Jython, whose `_socket` is not CPython's either: it takes `socket`).
 * What the worker uses of a socket.socket beyond `_socket`'s is makefile:
 * `_Socket` has its own, the buffered files over recv_into and send that
 * socket.py's SocketIO is too.
 */
const CONNECT_PROGRAM = [
  'import sys, os',
  'host, port, key = sys.stdin.readline().split()',
  "java = sys.platform.startswith('java')",
  'if java:',
  '    import socket',
  '    clientsock = socket.create_connection((host, int(port)))',
  'else:',
  '    import _socket',
  // getaddrinfo encodes a str name with the idna codec, whose import
  // (re, stringprep, unicodedata) would cost more than the rest together
  '    try:',
  "        name = host.encode('ascii')",
  '    except UnicodeError:',
  '        name = host',
  '    import io',
  '    class _SocketIO(io.RawIOBase):',
  '        def __init__(self, sock):',
  '            io.RawIOBase.__init__(self)',
  '            self._sock = sock',
  '        def readable(self): return True',
  '        def writable(self): return True',
  '        def fileno(self): return self._sock.fileno()',
  '        def readinto(self, b): return self._sock.recv_into(b)',
  '        def write(self, b): return self._sock.send(b)',
  '    class _Socket(_socket.socket):',
  '        def makefile(self, mode, size):',
  "            return (io.BufferedReader if 'r' in mode else io.BufferedWriter)(_SocketIO(self), size)",
  '    clientsock = error = None',
  '    for af, kind, proto, _, address in _socket.getaddrinfo(name, int(port), 0, _socket.SOCK_STREAM):',
  '        clientsock = _Socket(af, kind, proto)',
  '        try:',
  '            clientsock.connect(address)',
  '            break',
  '        except _socket.error:',
  '            error = sys.exc_info()[1]',
  '            clientsock.close()',
  '            clientsock = None',
  '    if clientsock is None:',
  "        raise error or SystemExit('no address for %s' % host)",
  'try:',
  '    from _sha256 import sha256',
  'except ImportError:',
  '    try:',
  '        from _sha2 import sha256',
  '    except ImportError:',
  '        from hashlib import sha256',
  'def _line(size):',
  "    got = b''",
  "    while not got.endswith(b'\\n'):",
  '        c = clientsock.recv(size)',
  '        if not c: raise SystemExit(1)',
  '        got += c',
  '    return got.strip()',
  'nonce = _line(4096)',
  // HMAC-SHA256 (RFC 2104): a key longer than the 64-byte block is hashed first
  "key = key.encode('ascii')",
  'if len(key) > 64: key = sha256(key).digest()',
  'key = bytearray(key) + bytearray(64 - len(key))',
  'inner = sha256(bytes(bytearray(b ^ 0x36 for b in key)) + nonce).digest()',
  'proof = sha256(bytes(bytearray(b ^ 0x5c for b in key)) + inner).hexdigest()',
  'env = os.environ.get',
  "answer = ' '.join([proof, env('SLURM_JOB_ID', '-'), env('SLURM_STEP_ID', '-'), env('SLURMD_NODENAME', '-')])",
  "clientsock.sendall((answer + '\\n').encode('ascii'))",
  // Python 2 (Jython too) evaluates the literal from a str, as a popen
  // worker's stdin gives it: from unicode it refuses the coding line
  'program = _line(65536)',
  "exec(eval(program if str is bytes else program.decode('latin-1')))"
].join('\n')

/** How long the worker's last frames may take to arrive once its step has ended. */
const STEP_END_GRACE_MS = 1000

/** How long srun has to end after SIGTERM (it waits up to KillWait for the step) before SIGKILL. */
const CANCEL_GRACE_MS = 5000

/** The first words of every srun this transport starts: one task, unbuffered, srun's own chatter off. */
function srunArgs (spec: Spec, name: string): string[] {
  const user = spec.slurm === undefined || spec.slurm === '' ? [] : splitCommand(spec.slurm, spec.text, `slurm=${spec.slurm}`)
  // ours after the user's, so a gateway is one task whatever they wrote;
  // the job name before, so theirs wins
  return ['srun', `--job-name=${name}`, ...user, '--ntasks=1', '--unbuffered', '--quiet']
}

/** Where the master listens for the node, and the address the node is told. */
function listenAddress (spec: Spec): { host: string | undefined, port: number, announce: string } {
  if (spec.listen === undefined) return { host: undefined, port: 0, announce: hostname() }
  const [host, port] = spec.listen.split(/:(?=\d+$)/) as [string, string | undefined]
  return { host, port: port === undefined ? 0 : Number(port), announce: host }
}

/** Start a worker as a SLURM job step: connected back over TCP, or on srun's stdio (data=stdio). */
export async function slurmTransport (spec: Spec, gatewayId: string, startTimeoutMs: number): Promise<Transport> {
  const name = `execnet-${gatewayId}`
  const env = { ...process.env, ...workerDebugEnv(), ...spec.env }
  if (spec.data === 'stdio') {
    const srun = processTransport([...srunArgs(spec, name), ...workerArgv(spec)], { env })
    return { ...srun, kill: cancelJob(srun, () => undefined) }
  }
  const where = listenAddress(spec)
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: where.host, port: where.port }, () => { server.off('error', reject); resolve() })
  }).catch((err: Error) => {
    throw new SlurmError(`cannot listen on ${spec.listen ?? 'every address'} for the node to connect back: ${err.message}`, '')
  })
  const port = (server.address() as AddressInfo).port
  const secret = randomBytes(32).toString('hex')
  const argv = [...srunArgs(spec, name), ...interpreterCommand(spec), '-u', '-c', CONNECT_PROGRAM]
  const srun = processTransport(argv, { env })
  const stderr = new PassThrough()
  let stderrText = ''
  srun.stderr.on('data', (chunk: Buffer) => { if (stderrText.length < 65536) stderrText += chunk.toString('utf8') })
  srun.stderr.pipe(stderr)
  srun.input.on('error', () => {}) // srun gone: reported by its exit below
  srun.input.write(`${where.announce} ${port} ${secret}\n`)

  let job: SlurmJob | undefined
  const cancel = cancelJob(srun, () => job)
  let timer: NodeJS.Timeout | undefined
  try {
    const connected = await Promise.race([
      acceptNode(server, secret),
      srun.exited.then((exit) => new Promise<never>((resolve, reject) => {
        // stderr's last words come after the exit
        setImmediate(() => { reject(new SlurmError(`srun ended before the node connected back (it ${describeExit(exit)})`, stderrText, exit)) })
      })),
      srun.spawnError.then((err) => { throw new SlurmError(`cannot start srun: ${err.message}`, '') }),
      new Promise<never>((resolve, reject) => {
        timer = setTimeout(() => {
          reject(new SlurmError(`the job did not start within ${startTimeoutMs / 1000} seconds (cancelled): pending for resources, or the node cannot reach this machine at ${where.announce}:${port} (set listen=, or data=stdio)`, stderrText))
        }, startTimeoutMs)
      })
    ])
    job = connected.job
    connected.socket.setNoDelay(true)
    return connectedTransport(srun, connected.socket, stderr, cancel, job, () => srunErrors(stderrText))
  } catch (err) {
    cancel()
    throw err
  } finally {
    clearTimeout(timer)
    server.close()
  }
}

/** The first connection that proves the secret; the others are closed. */
function acceptNode (server: Server, secret: string): Promise<{ socket: Socket, job: SlurmJob }> {
  return new Promise((resolve) => {
    server.on('connection', (socket) => {
      socket.on('error', () => {})
      const nonce = randomBytes(16).toString('hex')
      const expected = createHmac('sha256', secret).update(nonce).digest()
      socket.write(nonce + '\n')
      const refuse = setTimeout(() => { socket.destroy() }, 10_000)
      readLine(socket).then((line) => {
        clearTimeout(refuse)
        const [proof = '', jobId = '-', stepId = '-', node = '-'] = line.split(' ')
        const answer = Buffer.from(proof, 'hex')
        if (answer.length !== expected.length || !timingSafeEqual(answer, expected)) socket.destroy()
        else resolve({ socket, job: { jobId, stepId, node } })
      }, () => {
        clearTimeout(refuse)
        socket.destroy()
      })
    })
  })
}

/** The connection as the worker's stdin and stdout, srun's stderr as its stderr. */
function connectedTransport (srun: Transport, socket: Socket, stderr: PassThrough, cancel: () => void, job: SlurmJob, said: () => string): Transport {
  const exited = srun.exited.then(async (exit) => {
    // the step is over, so is the worker: a connection still open leads to
    // a node that is gone (no FIN will come), and would hold the gateway
    const timer = setTimeout(() => { socket.destroy() }, STEP_END_GRACE_MS)
    timer.unref()
    socket.once('close', () => { clearTimeout(timer) })
    // srun's last words come after its exit
    await new Promise((resolve) => setImmediate(resolve))
    const detail = said()
    return detail === '' ? exit : { ...exit, detail: `srun: ${detail}` }
  })
  return {
    input: socket,
    output: socket,
    stderr,
    command: srun.command,
    pid: srun.pid,
    exited,
    spawnError: new Promise(() => {}),
    kill: () => {
      socket.destroy()
      cancel()
    },
    setRef: (held) => {
      srun.setRef(held)
      if (held) socket.ref()
      else socket.unref()
    },
    job
  }
}

/**
 * Cancel the job: scancel by id once the node has said it, and SIGTERM to
 * srun, which cancels a pending allocation or ends the running step (one
 * SIGINT would only make it print the tasks' states); SIGKILL if srun has
 * not ended a few seconds later. Idempotent.
 */
function cancelJob (srun: Transport, job: () => SlurmJob | undefined): () => void {
  let done = false
  // an ended srun's pid may belong to another process by now
  void srun.exited.then(() => { done = true })
  return () => {
    if (done) return
    done = true
    const id = job()?.jobId
    if (id !== undefined && id !== '-') {
      const scancel = spawn('scancel', ['--quiet', id], { stdio: 'ignore' })
      scancel.on('error', () => {})
      scancel.unref()
    }
    if (srun.pid !== undefined) {
      try { process.kill(srun.pid, 'SIGTERM') } catch { /* already gone */ }
    }
    const hard = setTimeout(() => { srun.kill() }, CANCEL_GRACE_MS)
    hard.unref()
    void srun.exited.then(() => { clearTimeout(hard) })
  }
}
