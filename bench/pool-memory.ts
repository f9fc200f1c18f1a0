// The pool's memory over a long input: 10 million ints from a generator
// through f.imap (x * 2, 2 workers), results consumed as they come. Prints
// the resident memory of the master and of each worker at the start and
// at its peak (sampled every 50 ms; the workers' peak also from VmHWM),
// against the goal of < 64 MiB above the start for each.
// Run with `npm run bench:pool-memory`; COUNT sets the inputs.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Pool } from 'execnet'
import { repoRoot } from '../test/helpers/interpreters.js'

const COUNT = Number(process.env.COUNT ?? 10_000_000)
const python = process.env.BENCH_PYTHON ?? join(repoRoot, '.venv', 'bin', 'python')
const MiB = 2 ** 20

function status (pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m?.[1] ?? Number.NaN) * 1024
}

function * inputs (): Generator<number> {
  for (let i = 0; i < COUNT; i++) yield i
}

const pool = await Pool.start(`popen//python=${python}`, { size: 2 })
const f = pool.function('def twice(x):\n    return x * 2')
await f.map(Array.from({ length: 100000 }, (_, i) => i)) // warm: the start is measured after the first batches
global.gc?.()
const pids = pool.gateways.map((g) => g.pid as number)
const start = { master: process.memoryUsage().rss, workers: pids.map((p) => status(p, 'VmRSS')) }
const peak = { master: start.master, workers: [...start.workers] }
const sampler = setInterval(() => {
  peak.master = Math.max(peak.master, process.memoryUsage().rss)
  pids.forEach((p, i) => { peak.workers[i] = Math.max(peak.workers[i] as number, status(p, 'VmRSS')) })
}, 50)
const t0 = performance.now()
let n = 0
let sum = 0
for await (const y of f.imap(inputs())) { sum += y as number; n++ }
const seconds = (performance.now() - t0) / 1000
clearInterval(sampler)
pids.forEach((p, i) => { peak.workers[i] = Math.max(peak.workers[i] as number, status(p, 'VmHWM')) })
if (n !== COUNT || sum !== COUNT * (COUNT - 1)) throw new Error(`${n} results, sum ${sum}`)
await pool.close()

const row = (name: string, a: number, b: number): string => `| ${name} | ${(a / MiB).toFixed(1)} | ${(b / MiB).toFixed(1)} | ${((b - a) / MiB).toFixed(1)} | ${b - a < 64 * MiB ? 'yes' : 'NO'} |`
console.log(`bench/pool-memory: ${new Date().toISOString().slice(0, 16)}Z, Node ${process.version}; f.imap of x * 2 over ${COUNT.toLocaleString('en')} ints from a generator, 2 workers, ${(COUNT / seconds / 1e6).toFixed(2)}M items/s\n`)
console.log('| process | RSS at start (MiB) | peak (MiB) | above start (MiB) | < 64 MiB |')
console.log('|---|---|---|---|---|')
console.log(row('master (Node)', start.master, peak.master))
start.workers.forEach((s, i) => { console.log(row(`worker ${i + 1} (Python)`, s, peak.workers[i] as number)) })
