// Serializer throughput: our dumps/loads beside Node's JSON and the real
// execnet's dumps/loads (Python), on the same three data sets, in one run.
// Prints medians of REPS repetitions after WARMUP untimed ones, the three
// taking turns; run with `npm run bench:serializer`.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { existsSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { dumps, Encoder, loads, tuple } from 'execnet'
import { repoRoot } from '../test/helpers/interpreters.js'
import { xorshift32Bytes } from '../test/helpers/vectors.js'
import { median } from './measure.js'

const REPS = Number(process.env.REPS ?? 7)
const WARMUP = Number(process.env.WARMUP ?? 3)

function mixed (n: number): unknown[] {
  const out: unknown[] = []
  for (let i = 0; i < n; i++) {
    out.push(new Map<unknown, unknown>([
      ['id', i], ['name', `item-${i}`], ['score', i * 0.25 + 0.125], ['flag', i % 3 === 0], ['none', null],
      ['tags', ['alpha', 'beta', 'gamma']], ['pair', tuple(i, `p${i}`)], ['nested', new Map<unknown, unknown>([['k', [i, i + 1]], ['s', 'x'.repeat(10)]])]
    ]))
  }
  return out
}

/** The same data as plain JSON-able values (Maps as objects, tuples as arrays, bytes as base64). */
function jsonable (v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, jsonable(x)]))
  if (Buffer.isBuffer(v)) return v.toString('base64')
  if (Array.isArray(v)) return v.map(jsonable)
  return v
}

function count (v: unknown): number {
  if (v instanceof Map) { let n = 1; for (const [k, x] of v) n += count(k) + count(x); return n }
  if (Array.isArray(v)) { let n = 1; for (const x of v) n += count(x); return n }
  return 1
}


/** One timed run of something: its seconds. */
type Timer = () => Promise<number>

const local = (fn: () => unknown): Timer => async () => {
  const t0 = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - t0) / 1e9
}

/**
 * Medians of each timer's runs, the timers taking turns (a, b, c, a, b,
 * c, ...): the load of a shared machine drifts over seconds, and turns make
 * the drift hit ours, JSON and execnet alike instead of skewing their ratios.
 */
async function time (...timers: Array<Timer | null>): Promise<number[]> {
  // untimed runs first: V8 optimizes (and re-optimizes after early deopts)
  // over the first few calls, which JSON's native code never needs; timed
  // cold, our dumps of the mixed document measured 2x its steady state
  for (let i = 0; i < WARMUP; i++) for (const timer of timers) await timer?.()
  const times = timers.map((): number[] => [])
  for (let i = 0; i < REPS; i++) {
    for (const [k, timer] of timers.entries()) if (timer !== null) times[k]?.push(await timer())
  }
  return times.map((ts) => ts.length > 0 ? median(ts) : NaN)
}

interface PythonInfo { python: string, execnet: string, sets: Record<string, { bytes: number, values: number }> }

/** The real execnet in a child that times one dumps or loads per request (bench/serializer-execnet.py). */
async function startPython (python: string): Promise<{ info: PythonInfo, timer: (set: string, op: 'dumps' | 'loads') => Timer, close: () => void } | null> {
  const child = spawn(python, [join(repoRoot, 'bench', 'serializer-execnet.py')], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async (): Promise<string> => {
    const r = await lines.next()
    if (r.done === true) throw new Error(`${python} bench/serializer-execnet.py ended: ${stderr.trim().split('\n').pop() ?? ''}`)
    return r.value
  }
  try {
    const info = JSON.parse(await next()) as PythonInfo
    return {
      info,
      timer: (set, op) => async () => {
        child.stdin.write(`${set} ${op}\n`)
        return Number(await next())
      },
      close: () => { child.stdin.end() }
    }
  } catch (err) {
    child.kill()
    console.error(`real execnet not measured (${python}: ${(err as Error).message.split('\n')[0] ?? ''})`)
    return null
  }
}

const blob = xorshift32Bytes(1 << 20, 0x9E3779B9)
const sets: Record<string, unknown> = {
  mixed: mixed(50_000),
  bytes: new Array(16).fill(blob),
  ints: Array.from({ length: 1_000_000 }, (_, i) => i)
}

interface Row { bytes: number, values: number, dumps: number, loads: number }
const venvPy = join(repoRoot, '.venv', 'bin', 'python')
const python = process.env.EXECNET_PYTHON ?? (existsSync(venvPy) ? venvPy : 'python3')
const execnet = await startPython(python)
const ours: Record<string, Row> = {}
const json: Record<string, Row> = {}
const py: Record<string, Row> = {}
for (const [name, value] of Object.entries(sets)) {
  const data = dumps(value)
  const plain = jsonable(value)
  const text = JSON.stringify(plain)
  const [dumpsOurs, dumpsJson, dumpsPy] = await time(local(() => dumps(value)), local(() => JSON.stringify(plain)), execnet?.timer(name, 'dumps') ?? null) as [number, number, number]
  const [loadsOurs, loadsJson, loadsPy] = await time(local(() => loads(data)), local(() => JSON.parse(text)), execnet?.timer(name, 'loads') ?? null) as [number, number, number]
  const values = count(value)
  ours[name] = { bytes: data.length, values, dumps: dumpsOurs, loads: loadsOurs }
  json[name] = { bytes: Buffer.byteLength(text), values, dumps: dumpsJson, loads: loadsJson }
  const pySet = execnet?.info.sets[name]
  if (pySet !== undefined) py[name] = { ...pySet, dumps: dumpsPy, loads: loadsPy }
}
execnet?.close()

// JSON.parse builds plain objects, loads() builds Maps (a Python dict's keys
// may be of any type): the same load with { dict: 'object' }, in turns with
// JSON.parse, tells the cost of the Maps apart from the cost of the parse
const mixedData = dumps(sets.mixed)
const mixedText = JSON.stringify(jsonable(sets.mixed))
const [loadsRecords, parseRecords] = await time(local(() => loads(mixedData, { dict: 'object' })), local(() => JSON.parse(mixedText))) as [number, number]

// the path of encoder() and of channel sends: chunks for writev, large byte values uncopied
const chunked = new Encoder()
const [chunkedBytes] = await time(local(() => chunked.encodeChunks(sets.bytes, 2))) as [number]

const mbs = (r: Row, k: 'dumps' | 'loads'): string => (r.bytes / r[k] / 1e6).toFixed(0)
const vps = (r: Row, k: 'dumps' | 'loads'): string => (r.values / r[k] / 1e6).toFixed(2)
console.log(`# bench/serializer — ${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}` +
  (execnet !== null ? `, Python ${execnet.info.python} execnet ${execnet.info.execnet}` : '') + `; medians of ${REPS} after ${WARMUP} untimed runs`)
console.log('| data | size (ours) | values | ours dumps MB/s (Mvalues/s) | ours loads MB/s (Mvalues/s) | JSON stringify / parse Mvalues/s | execnet dumps / loads MB/s (Mvalues/s) | ours vs execnet, dumps / loads (values/s) | ours vs JSON, dumps / loads |')
console.log('|---|---|---|---|---|---|---|---|---|')
for (const name of Object.keys(sets)) {
  const o = ours[name] as Row
  const j = json[name] as Row
  const p = py[name]
  const ratio = (a: number, b: number): string => `${(b / a).toFixed(1)}x`
  console.log(`| ${name} | ${(o.bytes / 1e6).toFixed(1)} MB | ${o.values} | ${mbs(o, 'dumps')} (${vps(o, 'dumps')}) | ${mbs(o, 'loads')} (${vps(o, 'loads')}) | ${vps(j, 'dumps')} / ${vps(j, 'loads')} | ` +
    (p !== undefined ? `${mbs(p, 'dumps')} / ${mbs(p, 'loads')} (${vps(p, 'dumps')} / ${vps(p, 'loads')}) | ${ratio(o.dumps, p.dumps)} / ${ratio(o.loads, p.loads)}` : 'n/a | n/a') +
    ` | ${(j.dumps / o.dumps).toFixed(2)}x / ${(j.loads / o.loads).toFixed(2)}x |`)
}
console.log('Byte values of 64 KiB and more load as views into the input (no copy); dumps() copies them once into its single result Buffer, while encoder() and frames write them without a copy: ' +
  `bytes through Encoder.encodeChunks (their path) ${((ours.bytes as Row).bytes / chunkedBytes / 1e6).toFixed(0)} MB/s` +
  (py.bytes !== undefined ? `, ${(py.bytes.dumps / chunkedBytes).toFixed(1)}x execnet's dumps.` : '.'))
console.log(`mixed loads with { dict: 'object' } (plain objects, as JSON.parse builds; Maps are the default): ${((ours.mixed as Row).values / loadsRecords / 1e6).toFixed(2)} Mvalues/s, ` +
  `JSON.parse ${((ours.mixed as Row).values / parseRecords / 1e6).toFixed(2)} in turns with it: ${(parseRecords / loadsRecords).toFixed(2)}x JSON.parse.`)
console.log('values: every scalar and container counts as one; JSON carries bytes as base64 text; ratios > 1x mean ours is faster.')
