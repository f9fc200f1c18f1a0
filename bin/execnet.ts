#!/usr/bin/env node
/**
 * The command line: `execnet decode|encode|exec|info|rsync|socketserver ...`. Bad usage is exit
 * code 2 and one line on stderr; bad input is exit code 1 and the error.
 */
import { createReadStream, fstatSync, statSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream/promises'
import { Readable, Writable } from 'node:stream'
import { decoder } from '../transforms/decoder.js'
import { encoder } from '../transforms/encoder.js'
import { toJson, fromJson } from '../lib/cli/json.js'
import { pyRepr } from '../lib/cli/repr.js'
import { Group } from '../lib/group.js'
import { RSync } from '../lib/rsync.js'
import { Gateway } from '../lib/gateway.js'
import { ProgressBar, wantProgress } from '../lib/cli/progress.js'
import { packageVersion } from '../lib/cli/version.js'
import { ExecnetError, SpecError } from '../lib/errors.js'
import { parseSpec, withId, type Spec } from '../lib/spec.js'
import { None } from '../lib/serializer/types.js'

const HELP: Record<string, string> = {
  main: `usage: execnet <command> [options]
       execnet --version

commands:
  decode [FILE|-]     execnet dumps (a .py23 file, one or many values) to JSON lines
  encode [FILE|-]     JSON lines to execnet dumps
  exec SCRIPT.py      run a Python file in a gateway: what it sends to stdout, stdin to it
  info SPEC...        interpreter, version, platform and pid of each gateway
  rsync SRC DEST SPEC...  send a directory tree to DEST on each gateway, only what changed
  socketserver        serve workers on a socket, only to clients holding its secret

'execnet <command> --help' tells more.`,
  decode: `usage: execnet decode [FILE|-] [--repr] [--py2str-as-py3str] [--py3str-as-py2str] [--lossless] [--unversioned] [--progress|--no-progress]

Reads execnet dumps from FILE (or stdin) and writes one line per value: JSON
with tags for what JSON lacks ({"$bytes": base64}, {"$tuple": [...]},
{"$set": [...]}, {"$frozenset": [...]}, {"$dict": [[k, v]...]}, {"$int": "..."},
{"$float": ...}, {"$complex": [re, im]}), or Python's repr with --repr.
A progress bar goes to stderr when it is a terminal (or with --progress).`,
  encode: `usage: execnet encode [FILE|-] [--version 1|2] [--progress|--no-progress]

Reads JSON lines (with the tags 'execnet decode' writes) from FILE (or stdin)
and writes one execnet dump per line to stdout (format version 2 unless told).
A progress bar goes to stderr when it is a terminal (or with --progress).`,
  exec: `usage: execnet exec SCRIPT.py [--spec SPEC] [--json-input] [--repr] [--progress|--no-progress]

Starts a gateway (SPEC, default popen: the python3 on PATH) and runs SCRIPT.py
there with a 'channel' global, as remote_exec does. Each line of stdin is sent
to it as a str (with --json-input: as the value of a JSON line, with the tags
'execnet decode' writes); the end of stdin ends its 'for line in channel'
loop. What it sends is written to stdout as JSON lines (--repr: Python's
repr). What it prints goes to stderr. Exit code 1, with the remote traceback,
when the script raises. A progress bar goes to stderr when it is a terminal
(or with --progress): with stdin a file (< FILE), the share of it sent to
the script (flow control keeps that within a few MiB of what the script
has read), else the bytes moved; what the script prints is written above
the bar, a line at a time.`,
  socketserver: `usage: execnet socketserver --secret-file FILE [--host 127.0.0.1] [--port 8888] [--python PYTHON]

Runs lib/python/socketserver.py with PYTHON (default python3): it listens on HOST:PORT
(127.0.0.1 unless told otherwise; port 0 picks a free one and prints it) and
starts a worker for each client that proves it holds the secret (the file's
content, or EXECNET_SECRET). Connect with the spec socket=HOST:PORT and
GatewayOptions.secret (or EXECNET_SECRET). Unlike execnet's socketserver.py,
it executes nothing for a client without the secret.`,
  rsync: `usage: execnet rsync SOURCE DEST SPEC... [--delete] [--quiet]

Starts a gateway per spec (e.g. popen, 'ssh=host', 'socket=host:port' with
EXECNET_SECRET) and sends the directory SOURCE to the directory DEST there
(created if missing; relative to the worker's working directory), all at
once: files whose size or mtime differ (checked by SHA-256 when only the
mtime does), directories, symlinks and modes. --delete removes what SOURCE
lacks. Prints 'ID <= PATH' per file sent (not with --quiet) and a summary
line per gateway.`,
  info: `usage: execnet info SPEC... 

Starts a gateway per spec (e.g. popen, 'popen//python=python2.7') and prints
a table of their interpreters, versions, platforms and pids. A spec that is
bad or does not start gets a row 'ID  error: ...' (the whole error on
stderr) and the others are still reported; the exit code is then 2 for a
bad spec, else 1.`
}

class UsageError extends Error {}

interface Parsed { positional: string[], flags: Set<string>, values: Map<string, string> }

function parse (args: string[], flags: string[], valued: string[]): Parsed {
  const out: Parsed = { positional: [], flags: new Set(), values: new Map() }
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    if (a === '--help' || a === '-h') out.flags.add('help')
    else if (valued.includes(a)) {
      const v = args[++i]
      if (v === undefined) throw new UsageError(`${a} needs a value`)
      out.values.set(a, v)
    } else if (flags.includes(a)) out.flags.add(a)
    else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`)
    else out.positional.push(a)
  }
  return out
}

function input (p: Parsed, label: string): { source: Readable, bar: ProgressBar | null } {
  if (p.positional.length > 1) throw new UsageError('one input file at most')
  const file = p.positional[0] ?? '-'
  const source = file === '-' ? process.stdin : createReadStream(file)
  if (wantProgress(p.flags)) {
    let total: number | undefined
    try {
      total = file === '-' ? undefined : statSync(file).size
    } catch {
      // the read itself reports a missing file
    }
    const bar = new ProgressBar({ label, total })
    let done = 0
    source.on('data', (chunk: Buffer) => { done += chunk.length; bar.update(done) })
    source.on('end', () => { bar.finish() })
    return { source, bar }
  }
  return { source, bar: null }
}

/** Values to stdout, a line each; `bar`, when stdout shares its terminal, is cleared for each line and drawn again. */
function lines (show: (value: unknown) => string, bar: ProgressBar | null = null): Writable {
  return new Writable({
    objectMode: true,
    write (value: unknown, _enc, cb) {
      bar?.pause()
      const more = process.stdout.write(show(value) + '\n')
      bar?.resume()
      if (more) cb()
      else process.stdout.once('drain', () => { cb() })
    }
  })
}

async function decode (args: string[]): Promise<void> {
  const p = parse(args, ['--repr', '--py2str-as-py3str', '--py3str-as-py2str', '--lossless', '--unversioned', '--progress', '--no-progress'], [])
  if (p.flags.has('help')) { console.log(HELP.decode); return }
  const { source, bar } = input(p, 'decode')
  const show = p.flags.has('--repr') ? pyRepr : (v: unknown) => JSON.stringify(toJson(v))
  await pipeline(
    source,
    decoder({
      py2strAsPy3str: p.flags.has('--py2str-as-py3str'),
      py3strAsPy2str: p.flags.has('--py3str-as-py2str'),
      lossless: p.flags.has('--lossless'),
      unversioned: p.flags.has('--unversioned')
    }),
    lines(show, process.stdout.isTTY && process.stderr.isTTY ? bar : null)
  )
}

async function encode (args: string[]): Promise<void> {
  const p = parse(args, ['--progress', '--no-progress'], ['--version'])
  if (p.flags.has('help')) { console.log(HELP.encode); return }
  const version = Number(p.values.get('--version') ?? 2)
  if (version !== 1 && version !== 2) throw new UsageError('--version must be 1 or 2')
  const { source } = input(p, 'encode')
  let n = 0
  async function * values (): AsyncGenerator<unknown> {
    for await (const line of createInterface({ input: source, crlfDelay: Infinity })) {
      n++
      if (line.trim() === '') continue
      let json: unknown
      try {
        json = JSON.parse(line)
      } catch (err) {
        throw new ExecnetError(`line ${n}: not JSON: ${(err as Error).message}`)
      }
      const value = fromJson(json, `line ${n}`)
      // an object-mode stream ends at null: Python's None travels as None
      yield value === null ? None : value
    }
  }
  await pipeline(Readable.from(values()), encoder({ version }), process.stdout)
}

/** The size of stdin when it is a regular file (`< file`), for a bar with a percentage; else undefined. */
function stdinSize (): number | undefined {
  try {
    const stat = fstatSync(0)
    return stat.isFile() && stat.size > 0 ? stat.size : undefined
  } catch {
    return undefined
  }
}

async function exec (args: string[]): Promise<void> {
  const p = parse(args, ['--repr', '--json-input', '--progress', '--no-progress'], ['--spec'])
  if (p.flags.has('help')) { console.log(HELP.exec); return }
  if (p.positional.length !== 1) throw new UsageError('exec needs one script file')
  const script = p.positional[0] as string
  statSync(script) // a missing script fails here, before anything starts
  const total = stdinSize()
  const bar = wantProgress(p.flags) ? new ProgressBar({ label: 'exec', total }) : null
  // with a bar, what the script prints goes through it, a line at a time
  const gateway = await Gateway.start(p.values.get('--spec') ?? 'popen', { stderr: bar === null ? 'inherit' : 'pipe' })
  const printed = new Promise<void>((resolve) => {
    if (bar === null) return resolve()
    gateway.stderr.on('data', (chunk: Buffer) => { bar.print(chunk) })
    gateway.stderr.once('end', resolve)
    gateway.stderr.once('close', resolve)
  })
  const show = p.flags.has('--repr') ? pyRepr : (v: unknown) => JSON.stringify(toJson(v))
  const json = p.flags.has('--json-input')
  const lineReader = createInterface({ input: process.stdin, crlfDelay: Infinity })
  try {
    const channel = gateway.remoteExec({ path: script })
    // of a file, the bar shows how much of it was sent; else the bytes moved
    if (bar !== null && total === undefined) channel.on('progress', () => { bar.update(channel.bytesSent + channel.bytesReceived) })
    let read = 0
    // stdin feeds the script while its output is written; a script that
    // stops reading early just leaves the rest of stdin unread
    const feeding = (async () => {
      let n = 0
      for await (const line of lineReader) {
        n++
        read += Buffer.byteLength(line) + 1
        let value: unknown = line
        if (json) {
          if (line.trim() === '') continue
          try {
            value = fromJson(JSON.parse(line), `stdin line ${n}`)
          } catch (err) {
            channel.close(`bad input on stdin line ${n}`)
            throw new ExecnetError(`stdin line ${n}: ${(err as Error).message}`)
          }
        }
        if (channel.isClosed) return
        await channel.send(value)
        if (total !== undefined) bar?.update(Math.min(read, total))
      }
      if (total !== undefined) bar?.update(total)
      if (!channel.isClosed) channel.end()
    })()
    feeding.catch(() => {}) // its error is reported below, after the output
    // both on one terminal: a line of output must not land in the bar's line
    const out = lines(show, bar !== null && process.stdout.isTTY && process.stderr.isTTY ? bar : null)
    await pipeline(channel, out)
    lineReader.close()
    process.stdin.destroy()
    await Promise.race([feeding, Promise.resolve()])
  } finally {
    lineReader.close()
    await gateway.terminate(5)
    if (bar !== null) {
      // the script's last prints, before the bar's last state (bounded: a
      // grandchild may hold the pipe open)
      let timer: NodeJS.Timeout | undefined
      await Promise.race([printed, new Promise((resolve) => { timer = setTimeout(resolve, 1000) })])
      clearTimeout(timer)
      bar.finish()
    }
  }
}

async function socketserver (args: string[]): Promise<void> {
  const p = parse(args, [], ['--secret-file', '--host', '--port', '--python'])
  if (p.flags.has('help')) { console.log(HELP.socketserver); return }
  if (p.positional.length > 0) throw new UsageError(`unexpected ${p.positional[0] as string}`)
  const python = p.values.get('--python') ?? 'python3'
  const forward: string[] = []
  for (const key of ['--secret-file', '--host', '--port']) {
    const value = p.values.get(key)
    if (value !== undefined) forward.push(key, value)
  }
  const script = fileURLToPath(new URL('../lib/python/socketserver.py', import.meta.url))
  const server = spawn(python, [script, ...forward, '--python', python], { stdio: 'inherit' })
  const stop = (): void => { server.kill('SIGTERM') }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const code = await new Promise<number | null>((resolve, reject) => {
    server.once('error', reject)
    server.once('exit', resolve)
  })
  if (code === 2) throw new UsageError('the socket server refused its options (see its message above)')
  if (code !== 0 && code !== null) throw new ExecnetError(`the socket server exited with code ${code}`)
}

async function info (args: string[]): Promise<number> {
  const p = parse(args, [], [])
  if (p.flags.has('help')) { console.log(HELP.info); return 0 }
  if (p.positional.length === 0) throw new UsageError('info needs at least one spec')
  const group = new Group({ stderr: 'pipe' })
  try {
    // ids are given here, as the group would give them (gw0, gw1... for
    // specs without id=), so that a spec that fails still has its row
    let next = 0
    const rows = await Promise.all(p.positional.map(async (text): Promise<{ id: string, cells: string[] } | { id: string, error: Error }> => {
      let id: string
      let spec: Spec
      try {
        spec = parseSpec(text)
        id = spec.id ?? `gw${next++}`
      } catch (err) {
        return { id: `gw${next++}`, error: err as Error }
      }
      try {
        const gw = await group.makeGateway(withId(spec, id).text)
        const r = await gw.rinfo()
        return { id, cells: [r.executable, r.version_info.slice(0, 3).join('.'), r.platform, String(r.pid)] }
      } catch (err) {
        return { id, error: err instanceof Error ? err : new Error(String(err)) }
      }
    }))
    const table = [['id', 'executable', 'version', 'platform', 'pid'], ...rows.flatMap((r) => 'cells' in r ? [[r.id, ...r.cells]] : [])]
    const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => (r[i] as string).length), ...(i === 0 ? rows.map((r) => r.id.length) : [])))
    const line = (row: string[]): string => row.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()
    console.log(line(table[0]!))
    let code = 0
    for (const row of rows) {
      if ('cells' in row) {
        console.log(line([row.id, ...row.cells]))
        continue
      }
      // the table says which failed; stderr has the whole story
      const message = row.error.message
      console.log(line([row.id, `error: ${message.split('\n')[0] as string}`]))
      const usage = row.error instanceof UsageError || row.error instanceof SpecError
      process.stderr.write(`execnet info: ${row.id}: ${message}${usage ? ' (see execnet info --help)' : ''}\n`)
      // a bad spec is bad usage (2), as for the other commands; one that does not start, 1
      code = Math.max(code, usage ? 2 : 1)
    }
    return code
  } finally {
    await group.terminate(5)
  }
}

async function rsync (args: string[]): Promise<void> {
  const p = parse(args, ['--delete', '--quiet'], [])
  if (p.flags.has('help')) { console.log(HELP.rsync); return }
  const [source, dest, ...specs] = p.positional
  if (source === undefined || dest === undefined || specs.length === 0) throw new UsageError('rsync needs SOURCE, DEST and at least one spec')
  const group = new Group({ stderr: 'pipe' })
  try {
    const gateways = await group.makeGateways(specs)
    const sync = new RSync(source, {
      callback: (e) => { if (e.type === 'file' && e.sent && !p.flags.has('--quiet')) console.log(`${e.gateway.id} <= ${e.path}`) }
    })
    for (const gw of gateways) sync.addTarget(gw, dest, { delete: p.flags.has('--delete') })
    for (const r of await sync.send()) {
      console.log(`${r.gateway.id}: ${r.sent.length} sent (${r.bytes} bytes), ${r.kept.length} only touched, ${r.deleted} deleted`)
    }
  } finally {
    await group.terminate(5)
  }
}

/** A command resolves with its exit code when it is not 0 (info reports failed specs beside the others). */
const commands: Record<string, (args: string[]) => Promise<number | undefined | void>> = { decode, encode, exec, info, rsync, socketserver }

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(HELP.main)
    return command === undefined ? 2 : 0
  }
  if (command === '--version' || command === '-V') {
    console.log(packageVersion())
    return 0
  }
  const run = commands[command]
  if (run === undefined) {
    process.stderr.write(`execnet: unknown command ${JSON.stringify(command)} (decode, encode, exec, info, rsync, socketserver; see --help)\n`)
    return 2
  }
  try {
    return (await run(rest)) ?? 0
  } catch (err) {
    // a bad spec is bad usage too: the command line named it
    if (err instanceof UsageError || err instanceof SpecError) {
      process.stderr.write(`execnet ${command}: ${err.message} (see execnet ${command} --help)\n`)
      return 2
    }
    const e = err as NodeJS.ErrnoException
    process.stderr.write(`execnet ${command}: ${e instanceof ExecnetError || e.code !== undefined ? e.message : String(e.stack ?? e)}\n`)
    return 1
  }
}

// no top-level await: the build makes this a CommonJS bundle (scripts/bundle.mjs);
// a rejection still ends the process as an uncaught error does
void main(process.argv.slice(2)).then((code) => { process.exitCode = code })
