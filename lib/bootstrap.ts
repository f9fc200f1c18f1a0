/**
 * Starting the remote side, as execnet does: the interpreter runs a one-line
 * program that reads one more line from stdin, a Python string literal
 * holding the source to run; that source takes the pipe and answers with the
 * ready byte '1'. Nothing has to be installed remotely.
 */
import { readFileSync } from 'node:fs'
import type { Readable } from 'node:stream'
import type { Spec } from './spec.js'

/** execnet's popen_bootstrapline, byte for byte. */
export const BOOTSTRAP_LINE = 'import sys;exec(eval(sys.stdin.readline()))'

const pythonFiles = new Map<string, string>()

/** A Python file of lib/python/ (shipped in dist/lib/python/ too), read once. */
export function pythonSource (name: 'worker.py' | 'loader.py' | 'rsync.py' | 'relay.py' | 'socketserver.py' | 'callserver.py'): string {
  let text = pythonFiles.get(name)
  if (text === undefined) {
    text = readFileSync(new URL(`./python/${name}`, import.meta.url), 'utf8')
    pythonFiles.set(name, text)
  }
  return text
}

/** Our worker's source (lib/python/worker.py). */
export function workerSource (): string {
  return pythonSource('worker.py')
}

/** The worker's source as the bootstrap sends it, and the key that names its version. */
export interface WorkerPack {
  /** Names the worker's version in the remote code cache (lib/python/loader.py): a hash of its source. */
  key: string
  /**
   * The source deflated and in base64 (a quarter of its size): the
   * bootstrap line stays far below Jython's limit for the one line eval()
   * reads (99,997 characters; the source alone is near it), costs less to
   * send and to parse, and is inflated only where no compiled copy is cached.
   */
  packed: string
}

/** The build's copy of packWorker() (scripts/pack-worker.mjs), beside the built worker.py. */
export const WORKER_PACK_FILE = 'worker.pack.json'

/** The worker's pack, made from its source; `level` is deflate's. */
export function packWorker (level = 9): WorkerPack {
  const source = workerSource()
  // node:crypto and node:zlib load when this runs, not at import
  const key = process.getBuiltinModule('node:crypto').createHash('sha256').update(source).digest('hex').slice(0, 20)
  const packed = process.getBuiltinModule('node:zlib').deflateSync(Buffer.from(source, 'latin1'), { level }).toString('base64')
  return { key, packed }
}

let workerPack: WorkerPack | undefined

/**
 * The worker's pack: the build's (dist/lib/python/worker.pack.json), else
 * made here (running from the sources). Hashing and deflating 88 KB took
 * 5-15 ms of a cold start, on its way to the first result; level 4 where it
 * is made here is as fast as level 1 on this source and 10% smaller.
 */
function builtWorkerPack (): WorkerPack {
  if (workerPack === undefined) {
    try {
      workerPack = JSON.parse(readFileSync(new URL(`./python/${WORKER_PACK_FILE}`, import.meta.url), 'utf8')) as WorkerPack
    } catch {
      workerPack = packWorker(4)
    }
  }
  return workerPack
}

/** Names the worker's version in the remote code cache (lib/python/loader.py). */
export function workerSourceKey (): string {
  return builtWorkerPack().key
}

const workerBodies = new Map<boolean, string>()

/**
 * Our worker as a program but for its last line, the call of main(), already
 * escaped for the bootstrap literal: lib/python/loader.py gets the worker's code
 * object (from the remote cache, or compiled from the source sent along) and
 * runs it. The same for every gateway of the process, so it is made once:
 * escaping the source twice over (a literal inside the literal) took 2-3 ms
 * of every start-up.
 */
function escapedWorkerBody (store: boolean): string {
  let body = workerBodies.get(store)
  if (body === undefined) {
    const loader = pythonSource('loader.py')
    // the loader's functions leave the worker's namespace once it has run
    const defined = [...loader.matchAll(/^def (\w+)/gm)].map((m) => m[1] as string)
    body = escaped([
      loader,
      `exec(_worker_code('${builtWorkerPack().packed}', '${builtWorkerPack().key}', ${store ? 'True' : 'False'}))`,
      `del ${defined.join(', ')}`,
      ''
    ].join('\n'))
    workerBodies.set(store, body)
  }
  return body
}

/**
 * A Python string literal of `text` that Python 2 and 3 both evaluate to the
 * same text: ASCII only, everything else escaped.
 */
export function pythonLiteral (text: string): string {
  // one pass of one regular expression: the program's 30 KB went through a
  // loop of string appends on every process's first start-up
  if (NOT_LATIN1.test(text)) throw new Error('bootstrap source must be Latin-1')
  return "'" + text.replace(ESCAPED, escapeChar) + "'"
}

const NOT_LATIN1 = /[^\x00-\xff]/
const ESCAPED = /[^\x20-\x7e]|['\\]/g

function escapeChar (ch: string): string {
  if (ch === '\\' || ch === "'") return '\\' + ch
  if (ch === '\n') return '\\n'
  if (ch === '\t') return '\\t'
  return '\\x' + ch.charCodeAt(0).toString(16).padStart(2, '0')
}

/** pythonLiteral(text) without its quotes: pieces escaped apart join into the literal of the whole. */
function escaped (text: string): string {
  return pythonLiteral(text).slice(1, -1)
}

/**
 * The line sent after the bootstrap line: the program the worker runs.
 * `window` (bytes per channel and direction) turns on our flow control in
 * our worker; null leaves it off, as it always is with execnet's. `spin`
 * (microseconds) is how long our worker polls for input before it sleeps.
 */
export function bootstrapProgram (spec: Spec, id: string, window: number | null = null, spin = 0): string {
  return prepareBootstrap(spec, id, window, spin)()
}

/**
 * bootstrapProgram in two steps: what can fail (a name that is not
 * Latin-1) fails now, before any worker exists; the returned function makes
 * the program, whose bulk (the worker's packed source, 2-3 ms on a process's
 * first start-up) is then made while the interpreter starts.
 */
export function prepareBootstrap (spec: Spec, id: string, window: number | null = null, spin = 0): () => string {
  const workerId = pythonLiteral(`${id}-worker`)
  const execmodel = pythonLiteral(spec.execmodel ?? 'thread')
  // execnet's socketserver.py runs the program in itself, with the
  // connection as `clientsock`; everywhere else the program has stdio
  const hosted = spec.transport === 'socket' && spec.server === 'execnet'
  // a SLURM node that connected back: the connection, in a process of its own
  const connected = spec.transport === 'slurm' && spec.data !== 'stdio'
  // here, before the worker starts any thread: Linux keeps a niceness per
  // thread, and threads inherit it when created, so only the main thread
  // renicing itself first reaches every thread that runs remote code
  const nice = spec.nice !== undefined && spec.nice !== 0 ? `import os\nif hasattr(os, 'nice'):\n    os.nice(${spec.nice})\n` : ''
  if (spec.worker !== 'execnet') {
    const call = `main(${workerId}, ${execmodel}, ${window === null ? 'None' : String(window)}${hosted || connected ? ', clientsock' : ''}${spin > 0 ? `, spin=${String(spin / 1e6)}` : ''}${connected ? ', hosted=False' : ''})\n`
    const head = `'${escaped(nice)}`
    const tail = `${escaped(call)}'\n`
    const store = !spec.dontWriteBytecode
    return () => head + escapedWorkerBody(store) + tail
  }
  // execnet's bootstrap_import (bootstrap_socket's, hosted), for an execnet installed remotely
  const source = hosted || connected
    ? [
        'from execnet.gateway_base import serve, get_execmodel',
        'from execnet.gateway_socket import SocketIO',
        `io = SocketIO(clientsock, get_execmodel(${execmodel}))`,
        "io.write('1'.encode('ascii'))",
        `serve(io, id=${workerId})`
      ].join('\n')
    : [
        'import sys',
        'from execnet.gateway_base import serve, init_popen_io, get_execmodel',
        "sys.stdout.write('1')",
        'sys.stdout.flush()',
        `execmodel = get_execmodel(${execmodel})`,
        `serve(init_popen_io(execmodel), id=${workerId})`
      ].join('\n')
  const program = pythonLiteral(nice + source) + '\n'
  return () => program
}

/** How long to keep reading after a wrong first byte, to show what came. */
const GARBAGE_GRACE_MS = 100
const GARBAGE_SHOWN = 200

export type ReadyResult =
  | { ok: true, rest: Buffer }
  | { ok: false, received: Buffer }

/**
 * Wait for the ready byte on stdout. Resolves with the bytes after it (the
 * first frames may come in the same chunk), or with what came instead of it.
 * Resolves with an empty `received` on end of stream.
 */
export function awaitReady (stdout: Readable): Promise<ReadyResult> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0)
    let timer: NodeJS.Timeout | undefined
    const finish = (result: ReadyResult): void => {
      stdout.off('data', onData)
      stdout.off('end', onEnd)
      stdout.off('close', onEnd)
      if (timer !== undefined) clearTimeout(timer)
      stdout.pause()
      resolve(result)
    }
    const onEnd = (): void => { finish({ ok: false, received }) }
    const onData = (chunk: Buffer): void => {
      if (received.length === 0 && chunk[0] === 0x31) {
        finish({ ok: true, rest: chunk.subarray(1) })
        return
      }
      // not the ready byte: collect a little more so the error shows it
      received = Buffer.concat([received, chunk]).subarray(0, GARBAGE_SHOWN)
      timer ??= setTimeout(() => { finish({ ok: false, received }) }, GARBAGE_GRACE_MS)
    }
    stdout.on('data', onData)
    stdout.once('end', onEnd)
    stdout.once('close', onEnd)
    stdout.resume() // a socket paused after its handshake
  })
}

/** Bytes shown as text a person can read: printable ASCII kept, the rest escaped. */
export function printable (bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) {
    if (b === 0x0a) out += '\\n'
    else if (b === 0x5c) out += '\\\\'
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b)
    else out += '\\x' + b.toString(16).padStart(2, '0')
  }
  return out
}
