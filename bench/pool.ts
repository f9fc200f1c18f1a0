// Pools, in one run: items per second of a tiny function (x * 2 over
// 200,000 ints) and a bulk one (the sum of a 1 MiB float64 numpy array,
// 2,000 arrays), 2 workers each: ours f.imap (ordered) and f.map,
// multiprocessing.Pool.imap(chunksize=1) and Pool.map (its automatic
// chunks), concurrent.futures.ProcessPoolExecutor.map, and python-shell with
// one JSON-lines process per worker. Contenders take turns, round by round,
// so a shared machine's drift hits all alike; medians of the rounds, and
// ratios to Pool.map. The slowest contenders run fewer items (the rate is
// what is compared; the table says how many). Ours is timed after a
// warm-up map of the same size (the JIT's, see ours()).
// Run with `npm run bench:pool`; BENCH_PYTHON picks the interpreter
// (default: the test venv's, with numpy); ROUNDS the turns (default 3).
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { PythonShell } from 'python-shell'
import { Pool, toNumpy } from 'execnet'
import { repoRoot } from '../test/helpers/interpreters.js'
import { median, now } from './measure.js'

const ROUNDS = Number(process.env.ROUNDS ?? 3)
const python = process.env.BENCH_PYTHON ?? join(repoRoot, '.venv', 'bin', 'python')
if (!existsSync(python)) throw new Error(`no ${python}: make the venv as .ci/run does, or set BENCH_PYTHON`)
const WORKERS = 2
const ARRAY = new Float64Array(131072).fill(1)

type Case = 'tiny' | 'bulk'
interface Contender { name: string, count: Record<Case, number>, run: (c: Case, count: number) => Promise<number> }

const TWICE = 'def twice(x):\n    return x * 2'
const TOTAL = 'import numpy\ndef total(a):\n    dtype, data, shape = a\n    return numpy.frombuffer(data, dtype).sum()'

function * inputs (c: Case, count: number): Generator<unknown> {
  for (let i = 0; i < count; i++) yield c === 'tiny' ? i : toNumpy(ARRAY, [ARRAY.length])
}

function check (c: Case, got: number, count: number): void {
  if (got !== count) throw new Error(`${c}: ${got} results for ${count} inputs`)
}

async function ours (mode: 'imap' | 'map', c: Case, count: number): Promise<number> {
  const pool = await Pool.start(`popen//python=${python}`, { size: WORKERS })
  try {
    const f = pool.function(c === 'tiny' ? TWICE : TOTAL)
    // the workers are up and the function defined; and, as in a long-lived
    // process, V8 has optimized the pool's code (a first map of a fresh
    // Node process runs it cold: about half the rate, bench/HISTORY.md)
    await f.map(inputs(c, c === 'tiny' ? count : 20))
    const t0 = now()
    let n = 0
    if (mode === 'map') n = (await f.map(inputs(c, count))).length
    else for await (const y of f.imap(inputs(c, count))) { if (c === 'tiny' && y !== n * 2) throw new Error('out of order'); n++ }
    const elapsed = now() - t0
    check(c, n, count)
    return count / elapsed
  } finally {
    await pool.close()
  }
}

function pythonPool (contender: string, c: Case, count: number): number {
  return Number(execFileSync(python, [join(repoRoot, 'bench', 'pool-python.py'), contender, c, String(count)], { encoding: 'utf8' }).trim())
}

async function pythonShell (c: Case, count: number): Promise<number> {
  const shells = Array.from({ length: WORKERS }, () => new PythonShell(join(repoRoot, 'bench', 'pool-shell.py'), { pythonPath: python, mode: 'text' }))
  const bulk = Buffer.from(ARRAY.buffer).toString('base64')
  const message = (i: number): string => JSON.stringify(c === 'tiny' ? i : bulk)
  // a bounded number in flight per process, as our pool holds: unbounded,
  // 2,000 base64 arrays would sit in Node's memory
  const window = c === 'tiny' ? 1000 : 2
  let sent = 0
  let received = 0
  const t0 = now()
  await new Promise<void>((resolve, reject) => {
    shells.forEach((shell) => {
      const send = (): void => { if (sent < count) { sent++; shell.send(message(sent - 1)) } }
      shell.on('message', () => {
        received++
        if (received === count) resolve()
        send()
      })
      shell.on('error', reject)
      for (let i = 0; i < window; i++) send()
    })
  })
  const elapsed = now() - t0
  await Promise.all(shells.map(async (s) => await new Promise((resolve) => { s.end(resolve) })))
  return count / elapsed
}

const contenders: Contender[] = [
  { name: 'ours f.imap (ordered)', count: { tiny: 200_000, bulk: 2000 }, run: async (c, n) => await ours('imap', c, n) },
  { name: 'ours f.map', count: { tiny: 200_000, bulk: 2000 }, run: async (c, n) => await ours('map', c, n) },
  { name: 'multiprocessing Pool.imap(chunksize=1)', count: { tiny: 50_000, bulk: 2000 }, run: async (c, n) => pythonPool('mp-imap', c, n) },
  { name: 'multiprocessing Pool.map', count: { tiny: 200_000, bulk: 2000 }, run: async (c, n) => pythonPool('mp-map', c, n) },
  { name: 'ProcessPoolExecutor.map', count: { tiny: 20_000, bulk: 2000 }, run: async (c, n) => pythonPool('ppe', c, n) },
  { name: 'python-shell, 1 process per worker', count: { tiny: 200_000, bulk: 2000 }, run: async (c, n) => await pythonShell(c, n) }
]

const rates = new Map<string, number[]>()
for (let round = 0; round < ROUNDS; round++) {
  for (const c of ['tiny', 'bulk'] as const) {
    for (const contender of contenders) {
      const key = `${contender.name}/${c}`
      const rate = await contender.run(c, contender.count[c])
      rates.set(key, [...(rates.get(key) ?? []), rate])
      process.stderr.write(`round ${round + 1} ${key}: ${rate.toFixed(0)}/s\n`)
    }
  }
}

const med = (name: string, c: Case): number => median(rates.get(`${name}/${c}`) ?? [NaN])
const fmt = (rate: number): string => rate >= 1e6 ? `${(rate / 1e6).toFixed(2)}M` : rate >= 1e3 ? `${(rate / 1e3).toFixed(1)}k` : rate.toFixed(0)
const versions = execFileSync(python, ['-c', 'import sys, numpy; print("Python %s, numpy %s" % (sys.version.split()[0], numpy.__version__))'], { encoding: 'utf8' }).trim()
console.log(`bench/pool: ${new Date().toISOString().slice(0, 16)}Z, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, ${versions}; ${WORKERS} workers each, medians of ${ROUNDS} rounds in turns\n`)
console.log('| contender | tiny: x * 2 (items/s) | vs Pool.map | bulk: sum of 1 MiB array (arrays/s) | vs Pool.map |')
console.log('|---|---|---|---|---|')
const base = { tiny: med('multiprocessing Pool.map', 'tiny'), bulk: med('multiprocessing Pool.map', 'bulk') }
for (const contender of contenders) {
  const tiny = med(contender.name, 'tiny')
  const bulk = med(contender.name, 'bulk')
  const items = contender.count.tiny === 200_000 ? '' : ` (${contender.count.tiny / 1000}k items)`
  console.log(`| ${contender.name} | ${fmt(tiny)}${items} | ${(tiny / base.tiny).toFixed(2)}x | ${fmt(bulk)} | ${(bulk / base.bulk).toFixed(2)}x |`)
}
const imapVsChunk1 = med('ours f.imap (ordered)', 'tiny') / med('multiprocessing Pool.imap(chunksize=1)', 'tiny')
console.log(`\nours f.imap / Pool.imap(chunksize=1), tiny: ${imapVsChunk1.toFixed(1)}x (goal >= 10x); ours f.map / Pool.map, tiny: ${(med('ours f.map', 'tiny') / base.tiny).toFixed(2)}x (goal >= 1.0x); ours f.map / Pool.map, bulk: ${(med('ours f.map', 'bulk') / base.bulk).toFixed(2)}x (goal >= 1.0x)`)
