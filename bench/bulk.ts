// Bulk transfer, in one run: MB/s master -> worker and worker -> master in
// 64 KiB and 1 MiB chunks, numpy summing each chunk in the worker, and the
// peak RSS (VmHWM above the start) of master and worker; a slow consumer
// (5 ms per chunk) for the memory bound. Beside ours: the real execnet
// (Python master) and the raw limit (the same bytes between Node and a
// bare Python child on its stdin/stdout, readinto and numpy, no protocol).
// Ours and the raw pipe take turns transfer by transfer (the ratio of the
// two is the goal, and the shared machine's speed drifts between seconds),
// each in a Node process of its own that warms up with one uncounted
// transfer first; the ratio is the median of the turns' ratios.
// Run with `npm run bench:bulk`; BENCH_PYTHON picks the interpreter (default:
// the test venv's, which has execnet and numpy); BULK_MIB the size per run.
import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import type { Readable, Writable } from 'node:stream'
import { Gateway } from 'execnet'
import { repoRoot } from '../test/helpers/interpreters.js'
import { peakRss, resetPeak } from '../test/helpers/memory.js'
import { median, now } from './measure.js'

const MiB = 1024 * 1024
const REPS = Number(process.env.REPS ?? 5)
const TOTAL = Number(process.env.BULK_MIB ?? 512) * MiB
const SLOW_TOTAL = 256 * MiB
const python = process.env.BENCH_PYTHON ?? join(repoRoot, '.venv', 'bin', 'python')
if (!existsSync(python)) throw new Error(`no ${python}: make the venv as .ci/run does, or set BENCH_PYTHON`)
const pythonSide = join(repoRoot, 'bench', 'bulk-python.py')

type Direction = 'to' | 'from'
type Case = [Direction, number, number]
const CASES: Case[] = [['to', 64 * 1024, 0], ['to', MiB, 0], ['from', 64 * 1024, 0], ['from', MiB, 0], ['to', MiB, 0.005]]
const key = ([d, chunk, sleep]: Case): string => `${d}/${chunk}/${sleep}`
const countOf = ([, chunk, sleep]: Case): number => (sleep > 0 ? SLOW_TOTAL : TOTAL) / chunk

interface Result { rate: number, masterPeak?: number, workerPeak?: number }

/** One transfer through our gateway; the peaks are this transfer's growth. */
async function oursOnce (gw: Gateway, c: Case): Promise<Result> {
  const [direction, chunk, sleep] = c
  const count = countOf(c)
  resetPeak()
  const start = peakRss()
  let t0: number
  let ends: number[]
  if (direction === 'to') {
    const data = Buffer.alloc(chunk, 1)
    const ch = gw.remoteExec({ path: join(repoRoot, 'bench', 'bulk-consume.py') })
    await ch.send(sleep)
    t0 = now()
    for (let i = 0; i < count; i++) {
      if (!ch.write(data)) await once(ch, 'drain')
    }
    await ch.send(null)
    const [n, , wstart, wpeak] = await ch.receive() as number[]
    if (n !== count * chunk) throw new Error(`lost bytes: ${String(n)}`)
    ends = [wstart as number, wpeak as number]
  } else {
    const ch = gw.remoteExec({ path: join(repoRoot, 'bench', 'bulk-produce.py') })
    await ch.send([chunk, count])
    t0 = now()
    let n = 0
    for (let i = 0; i < count; i++) n += (await ch.receive() as Buffer).length
    if (n !== count * chunk) throw new Error(`lost bytes: ${n}`)
    ends = await ch.receive() as number[]
  }
  const elapsed = now() - t0
  return { rate: count * chunk / elapsed, masterPeak: peakRss() - start, workerPeak: (ends[1] as number) - (ends[0] as number) }
}

/** One case by the real execnet: its own Python master process. */
function execnet (c: Case): { version: string, result: Result } {
  const out = execFileSync(python, [pythonSide, 'execnet', String(REPS), String(TOTAL), python, JSON.stringify([c])], { encoding: 'utf8', maxBuffer: 1 << 24 })
  const parsed = JSON.parse(out) as { version: string, rows: Record<string, Result> }
  const result = parsed.rows[key(c)]
  if (result === undefined) throw new Error(`execnet side gave no row for ${key(c)}: ${out}`)
  return { version: parsed.version, result }
}

/** One transfer of the same bytes straight through a pipe, no protocol: the limit. */
async function rawOnce (c: Case): Promise<Result> {
  const [direction, chunk] = c
  const count = countOf(c)
  if (direction === 'to') {
    const child = spawn(python, [pythonSide, 'raw-in', String(chunk)], { stdio: ['pipe', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (b: Buffer) => { out += b.toString() })
    const data = Buffer.alloc(chunk, 1)
    await new Promise((resolve) => setTimeout(resolve, 300)) // let it import numpy first
    const t0 = now()
    for (let i = 0; i < count; i++) {
      if (!child.stdin.write(data)) await once(child.stdin, 'drain')
    }
    child.stdin.end()
    await once(child, 'exit')
    const elapsed = now() - t0
    if (Number(out.split(' ')[0]) !== count * chunk) throw new Error(`raw lost bytes: ${out}`)
    return { rate: count * chunk / elapsed }
  }
  const child = spawn(python, [pythonSide, 'raw-out', String(chunk), String(count)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let n = 0
  let t0 = 0
  child.stdout.on('data', (b: Buffer) => { if (n === 0) t0 = now(); n += b.length })
  await once(child.stdout, 'end')
  // timed from the first byte, so numpy's import is not counted
  const elapsed = now() - t0
  if (n !== count * chunk) throw new Error(`raw lost bytes: ${n}`)
  return { rate: n / elapsed }
}

/**
 * `one SIDE CASE`: this script as a session of one side for one case: one
 * uncounted transfer, then one transfer per line on stdin, each answered
 * with a JSON line. A process per side and case: what one case leaves in
 * the V8 heap must not slow the next (it did: after the master -> worker
 * cases, worker -> master in 64 KiB chunks ran at half its speed in a fresh
 * process), and the order of the cases is not what a user's process has.
 */
async function session (side: 'ours' | 'raw', c: Case): Promise<void> {
  const gw = side === 'ours' ? await Gateway.start(`popen//python=${python}`) : null
  const transfer = async (): Promise<Result> => gw === null ? await rawOnce(c) : await oursOnce(gw, c)
  // the warm-up's growth counts too: a process that grows in its first
  // transfer and keeps the memory would show none in the next
  let { masterPeak, workerPeak } = await transfer()
  process.stdout.write('ready\n')
  for await (const _ of createInterface({ input: process.stdin })) {
    const r = await transfer()
    if (r.masterPeak !== undefined) masterPeak = Math.max(masterPeak ?? 0, r.masterPeak)
    if (r.workerPeak !== undefined) workerPeak = Math.max(workerPeak ?? 0, r.workerPeak)
    process.stdout.write(JSON.stringify({ rate: r.rate, masterPeak, workerPeak }) + '\n')
  }
  await gw?.terminate(10)
}

/** A session child, driven a transfer at a time. */
class Session {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>
  private readonly lines: AsyncIterator<string>

  constructor (side: 'ours' | 'raw', c: Case) {
    this.child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'one', side, key(c)], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]()
  }

  private async line (): Promise<string> {
    const r = await this.lines.next()
    if (r.done === true) throw new Error(`a bench session ended early (exit code ${String(this.child.exitCode)})`)
    return r.value
  }

  /** Resolves once the warm-up transfer is done. */
  async ready (): Promise<void> {
    const line = await this.line()
    if (line !== 'ready') throw new Error(`a bench session said ${line}`)
  }

  async transfer (): Promise<Result> {
    this.child.stdin.write('go\n')
    return JSON.parse(await this.line()) as Result
  }

  async close (): Promise<void> {
    this.child.stdin.end()
    if (this.child.exitCode === null) await once(this.child, 'exit')
  }
}

if (process.argv[2] === 'one') {
  const c = CASES.find((x) => key(x) === process.argv[4])
  if (c === undefined) throw new Error(`no case ${String(process.argv[4])}`)
  await session(process.argv[3] === 'raw' ? 'raw' : 'ours', c)
  process.exit(0)
}

interface Row { c: Case, o: Result, e: Result, version: string, r?: Result, ratio?: number }

/** Ours and the raw pipe for one case, in turns (who goes first alternates). */
async function inTurns (c: Case): Promise<{ o: Result, r?: Result, ratio?: number }> {
  const ours = new Session('ours', c)
  await ours.ready()
  if (c[2] > 0) {
    const o = await ours.transfer()
    await ours.close()
    return { o }
  }
  const raw = new Session('raw', c)
  await raw.ready()
  const os: Result[] = []
  const rs: Result[] = []
  for (let i = 0; i < REPS; i++) {
    if (i % 2 === 0) {
      os.push(await ours.transfer())
      rs.push(await raw.transfer())
    } else {
      rs.push(await raw.transfer())
      os.push(await ours.transfer())
    }
  }
  await Promise.all([ours.close(), raw.close()])
  const last = os[os.length - 1] as Result
  return {
    o: { rate: median(os.map((x) => x.rate)), masterPeak: last.masterPeak, workerPeak: last.workerPeak },
    r: { rate: median(rs.map((x) => x.rate)) },
    ratio: median(os.map((x, i) => x.rate / (rs[i] as Result).rate))
  }
}

const mbs = (r?: Result): string => r === undefined ? '-' : `${Math.round(r.rate / 1e6)} MB/s`
const mib = (x?: number): string => x === undefined ? '-' : `+${(x / MiB).toFixed(1)} MiB`
const pct = (x?: number): string => x === undefined ? '-' : `${Math.round(100 * x)}%`
const label = ([d, chunk, sleep]: Case): string =>
  `${d === 'to' ? 'master -> worker' : 'worker -> master'}, ${chunk >= MiB ? `${chunk / MiB} MiB` : `${chunk / 1024} KiB`} chunks${sleep > 0 ? `, consumer sleeping ${sleep * 1000} ms/chunk (${SLOW_TOTAL / MiB} MiB)` : ''}`

const version = execFileSync(python, ['-c', 'import sys, numpy; print(sys.version.split()[0], numpy.__version__)'], { encoding: 'utf8' }).trim().split(' ')
console.log(`# bench/bulk — ${new Date().toISOString().slice(0, 10)}, node ${process.version}, Python ${String(version[0])}, numpy ${String(version[1])} (${python})`)
console.log(`# ${cpus().length}x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; ${TOTAL / MiB} MiB per transfer; ours and raw in ${REPS} turns, medians (ours/raw: the median of the turns' ratios); execnet medians of ${REPS}; peak RSS = VmHWM above the start`)
const rows: Row[] = []
for (const c of CASES) {
  const e = execnet(c)
  rows.push({ c, e: e.result, version: e.version, ...await inTurns(c) })
}
const execnetVersion = rows[0]?.version ?? '?'
console.log(`| transfer | ours | execnet ${execnetVersion} | raw pipe | ours/raw | execnet/raw | ours peak RSS master, worker | execnet peak RSS master, worker |`)
console.log('|---|---|---|---|---|---|---|---|')
for (const { c, o, e, r, ratio } of rows) {
  console.log(`| ${label(c)} | ${mbs(o)} | ${mbs(e)} | ${mbs(r)} | ${pct(ratio)} | ${pct(r === undefined ? undefined : e.rate / r.rate)} | ${mib(o.masterPeak)}, ${mib(o.workerPeak)} | ${mib(e.masterPeak)}, ${mib(e.workerPeak)} |`)
}
