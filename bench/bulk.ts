// Bulk transfer, in one run: MB/s master -> worker and worker -> master in
// 64 KiB and 1 MiB chunks, numpy summing each chunk in the worker, and the
// peak RSS (VmHWM above the start) of master and worker; a slow consumer
// (5 ms per chunk) for the memory bound. Beside ours: the real execnet
// (Python master) and the raw limit (the same bytes between Node and a
// bare Python child on its stdin/stdout, readinto and numpy, no protocol).
// Each measurement is preceded by one uncounted run of the same (warm-up).
// Run with `npm run bench:bulk`; BENCH_PYTHON picks the interpreter (default:
// the test venv's, which has execnet and numpy); BULK_MIB the size per run.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { Gateway } from '../index.js'
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


async function ours (): Promise<Map<string, Result>> {
  const gw = await Gateway.start(`popen//python=${python}`)
  const results = new Map<string, Result>()
  for (const c of CASES) {
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
      if (r === 0) continue
      rates.push(count * chunk / (now() - t0))
      masterPeak = Math.max(masterPeak, peakRss() - start)
      workerPeak = Math.max(workerPeak, (ends[1] as number) - (ends[0] as number))
    }
    results.set(key(c), { rate: median(rates), masterPeak, workerPeak })
  }
  await gw.terminate(10)
  return results
}

function execnet (): { version: string, results: Map<string, Result> } {
  const out = execFileSync(python, [pythonSide, 'execnet', String(REPS), String(TOTAL), python, JSON.stringify(CASES)], { encoding: 'utf8', maxBuffer: 1 << 24 })
  const parsed = JSON.parse(out) as { version: string, rows: Record<string, Result> }
  return { version: parsed.version, results: new Map(Object.entries(parsed.rows)) }
}

/** The same bytes straight through a pipe, no protocol: the limit. */
async function raw (): Promise<Map<string, Result>> {
  const results = new Map<string, Result>()
  for (const c of CASES) {
    const [direction, chunk, sleep] = c
    if (sleep > 0) continue
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
    results.set(key(c), { rate: median(rates) })
  }
  return results
}

const mbs = (r?: Result): string => r === undefined ? '-' : `${Math.round(r.rate / 1e6)} MB/s`
const mib = (x?: number): string => x === undefined ? '-' : `+${(x / MiB).toFixed(1)} MiB`
const label = ([d, chunk, sleep]: Case): string =>
  `${d === 'to' ? 'master -> worker' : 'worker -> master'}, ${chunk >= MiB ? `${chunk / MiB} MiB` : `${chunk / 1024} KiB`} chunks${sleep > 0 ? `, consumer sleeping ${sleep * 1000} ms/chunk (${SLOW_TOTAL / MiB} MiB)` : ''}`

const version = execFileSync(python, ['-c', 'import sys, numpy; print(sys.version.split()[0], numpy.__version__)'], { encoding: 'utf8' }).trim().split(' ')
console.log(`# bench/bulk — ${new Date().toISOString().slice(0, 10)}, node ${process.version}, Python ${String(version[0])}, numpy ${String(version[1])} (${python})`)
console.log(`# ${cpus().length}x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; ${TOTAL / MiB} MiB per transfer, medians of ${REPS}; peak RSS = VmHWM above the start`)
const o = await ours()
const e = execnet()
const r = await raw()
console.log(`| transfer | ours | execnet ${e.version} | raw pipe | ours/raw | execnet/raw | ours peak RSS master, worker | execnet peak RSS master, worker |`)
console.log('|---|---|---|---|---|---|---|---|')
for (const c of CASES) {
  const k = key(c)
  const [oo, ee, rr] = [o.get(k), e.results.get(k), r.get(k)]
  const ratio = (x?: Result): string => x === undefined || rr === undefined ? '-' : `${Math.round(100 * x.rate / rr.rate)}%`
  console.log(`| ${label(c)} | ${mbs(oo)} | ${mbs(ee)} | ${mbs(rr)} | ${ratio(oo)} | ${ratio(ee)} | ${mib(oo?.masterPeak)}, ${mib(oo?.workerPeak)} | ${mib(ee?.masterPeak)}, ${mib(ee?.workerPeak)} |`)
}
