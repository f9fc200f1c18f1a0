// Bulk transfer, in one run: MB/s master -> worker and worker -> master in
// 64 KiB and 1 MiB chunks, numpy summing each chunk in the worker, and the
// peak RSS (VmHWM above the start) of master and worker; a slow consumer
// (5 ms per chunk) for the memory bound. Beside ours: the real execnet
// (Python master) and the raw limit (the same bytes between Node and a
// bare Python child on its stdin/stdout, readinto and numpy, no protocol).
// Each measurement is preceded by one uncounted run of the same (warm-up).
// Every case of every side runs in a process of its own, the three sides of
// a case one after the other (so they meet the same load on the machine).
// Run with `npm run bench:bulk`; BENCH_PYTHON picks the interpreter (default:
// the test venv's, which has execnet and numpy); BULK_MIB the size per run.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import { Gateway } from 'execnet'
import { repoRoot } from '../test/helpers/interpreters.js'
import { peakRss, resetPeak } from '../test/helpers/memory.js'
import { median, now } from './measure.js'

const MiB = 1024 * 1024
const REPS = Number(process.env.REPS ?? 3)
const TOTAL = Number(process.env.BULK_MIB ?? 512) * MiB
const SLOW_TOTAL = 256 * MiB
const python = process.env.BENCH_PYTHON ?? join(repoRoot, '.venv', 'bin', 'python')
if (!existsSync(python)) throw new Error(`no ${python}: make the venv as .ci/run does, or set BENCH_PYTHON`)
const pythonSide = join(repoRoot, 'bench', 'bulk-python.py')

type Direction = 'to' | 'from'
type Case = [Direction, number, number]
const CASES: Case[] = [['to', 64 * 1024, 0], ['to', MiB, 0], ['from', 64 * 1024, 0], ['from', MiB, 0], ['to', MiB, 0.005]]
const key = ([d, chunk, sleep]: Case): string => `${d}/${chunk}/${sleep}`

interface Result { rate: number, masterPeak?: number, workerPeak?: number }


/** One case through our gateway (a new one, in this process). */
async function ours (c: Case): Promise<Result> {
  const gw = await Gateway.start(`popen//python=${python}`)
  const [direction, chunk, sleep] = c
  const count = (sleep > 0 ? SLOW_TOTAL : TOTAL) / chunk
  const rates: number[] = []
  let masterPeak = 0
  let workerPeak = 0
  // one more than REPS: the first warms up the JIT and is not counted
  for (let r = 0; r <= (sleep > 0 ? 1 : REPS); r++) {
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
    // memory counts the warm-up too: a process that grows in its first
    // transfer and keeps the memory would show no growth in the next
    masterPeak = Math.max(masterPeak, peakRss() - start)
    workerPeak = Math.max(workerPeak, (ends[1] as number) - (ends[0] as number))
    if (r > 0) rates.push(count * chunk / elapsed)
  }
  await gw.terminate(10)
  return { rate: median(rates), masterPeak, workerPeak }
}

/** One case by the real execnet: its own Python master process. */
function execnet (c: Case): { version: string, result: Result } {
  const out = execFileSync(python, [pythonSide, 'execnet', String(REPS), String(TOTAL), python, JSON.stringify([c])], { encoding: 'utf8', maxBuffer: 1 << 24 })
  const parsed = JSON.parse(out) as { version: string, rows: Record<string, Result> }
  const result = parsed.rows[key(c)]
  if (result === undefined) throw new Error(`execnet side gave no row for ${key(c)}: ${out}`)
  return { version: parsed.version, result }
}

/** One case as the same bytes straight through a pipe, no protocol: the limit. */
async function raw (c: Case): Promise<Result> {
  const [direction, chunk] = c
  const count = TOTAL / chunk
  const rates: number[] = []
  for (let r = 0; r <= REPS; r++) {
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
      if (r > 0) rates.push(count * chunk / (now() - t0))
      if (Number(out.split(' ')[0]) !== count * chunk) throw new Error(`raw lost bytes: ${out}`)
    } else {
      const child = spawn(python, [pythonSide, 'raw-out', String(chunk), String(count)], { stdio: ['ignore', 'pipe', 'inherit'] })
      let n = 0
      let t0 = 0
      child.stdout.on('data', (b: Buffer) => { if (n === 0) t0 = now(); n += b.length })
      await once(child.stdout, 'end')
      // timed from the first byte, so numpy's import is not counted
      if (r > 0) rates.push(n / (now() - t0))
      if (n !== count * chunk) throw new Error(`raw lost bytes: ${n}`)
    }
  }
  return { rate: median(rates) }
}

/**
 * Each case of each side runs in a Node process of its own (this script,
 * started again with `one SIDE CASE`): what one case leaves in the V8 heap
 * must not slow the next. It did: after the master -> worker cases, worker
 * -> master in 64 KiB chunks ran at half its speed in a fresh process (see
 * the README); and the order of the cases is not what a user's process has.
 */
function isolated (side: 'ours' | 'raw', c: Case): Result {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'one', side, key(c)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  return JSON.parse(out) as Result
}

if (process.argv[2] === 'one') {
  const c = CASES.find((x) => key(x) === process.argv[4])
  if (c === undefined) throw new Error(`no case ${String(process.argv[4])}`)
  const result = process.argv[3] === 'ours' ? await ours(c) : await raw(c)
  process.stdout.write(JSON.stringify(result))
  process.exit(0)
}

const mbs = (r?: Result): string => r === undefined ? '-' : `${Math.round(r.rate / 1e6)} MB/s`
const mib = (x?: number): string => x === undefined ? '-' : `+${(x / MiB).toFixed(1)} MiB`
const label = ([d, chunk, sleep]: Case): string =>
  `${d === 'to' ? 'master -> worker' : 'worker -> master'}, ${chunk >= MiB ? `${chunk / MiB} MiB` : `${chunk / 1024} KiB`} chunks${sleep > 0 ? `, consumer sleeping ${sleep * 1000} ms/chunk (${SLOW_TOTAL / MiB} MiB)` : ''}`

const version = execFileSync(python, ['-c', 'import sys, numpy; print(sys.version.split()[0], numpy.__version__)'], { encoding: 'utf8' }).trim().split(' ')
console.log(`# bench/bulk — ${new Date().toISOString().slice(0, 10)}, node ${process.version}, Python ${String(version[0])}, numpy ${String(version[1])} (${python})`)
console.log(`# ${cpus().length}x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; ${TOTAL / MiB} MiB per transfer, medians of ${REPS}; peak RSS = VmHWM above the start`)
const rows = CASES.map((c) => {
  const e = execnet(c)
  return { c, o: isolated('ours', c), e: e.result, version: e.version, r: c[2] > 0 ? undefined : isolated('raw', c) }
})
const execnetVersion = rows[0]?.version ?? '?'
console.log(`| transfer | ours | execnet ${execnetVersion} | raw pipe | ours/raw | execnet/raw | ours peak RSS master, worker | execnet peak RSS master, worker |`)
console.log('|---|---|---|---|---|---|---|---|')
for (const { c, o: oo, e: ee, r: rr } of rows) {
  const ratio = (x?: Result): string => x === undefined || rr === undefined ? '-' : `${Math.round(100 * x.rate / rr.rate)}%`
  console.log(`| ${label(c)} | ${mbs(oo)} | ${mbs(ee)} | ${mbs(rr)} | ${ratio(oo)} | ${ratio(ee)} | ${mib(oo.masterPeak)}, ${mib(oo.workerPeak)} | ${mib(ee.masterPeak)}, ${mib(ee.workerPeak)} |`)
}
