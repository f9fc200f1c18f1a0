// Serializer throughput: our dumps/loads beside Node's JSON and the real
// execnet's dumps/loads (Python), on the same three data sets, in one run.
// Prints medians of REPS repetitions after WARMUP untimed ones; run with
// `npm run bench:serializer`.
import { execFileSync } from 'node:child_process'
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


function time (fn: () => unknown): number {
  // untimed runs first: V8 optimizes (and re-optimizes after early deopts)
  // over the first few calls, which JSON's native code never needs; timed
  // cold, our dumps of the mixed document measured 2x its steady state
  for (let i = 0; i < WARMUP; i++) fn()
  const times: number[] = []
  for (let i = 0; i < REPS; i++) {
    const t0 = process.hrtime.bigint()
    fn()
    times.push(Number(process.hrtime.bigint() - t0) / 1e9)
  }
  return median(times)
}

const blob = xorshift32Bytes(1 << 20, 0x9E3779B9)
const sets: Record<string, unknown> = {
  mixed: mixed(50_000),
  bytes: new Array(16).fill(blob),
  ints: Array.from({ length: 1_000_000 }, (_, i) => i)
}

interface Row { bytes: number, values: number, dumps: number, loads: number }
const ours: Record<string, Row> = {}
const json: Record<string, Row> = {}
for (const [name, value] of Object.entries(sets)) {
  const data = dumps(value)
  ours[name] = { bytes: data.length, values: count(value), dumps: time(() => dumps(value)), loads: time(() => loads(data)) }
  const plain = jsonable(value)
  const text = JSON.stringify(plain)
  json[name] = { bytes: Buffer.byteLength(text), values: count(value), dumps: time(() => JSON.stringify(plain)), loads: time(() => JSON.parse(text)) }
}

// the path of encoder() and of channel sends: chunks for writev, large byte values uncopied
const chunked = new Encoder()
const chunkedBytes = time(() => chunked.encodeChunks(sets.bytes, 2))

let py: Record<string, Row | string> | null = null
const venvPy = join(repoRoot, '.venv', 'bin', 'python')
const python = process.env.EXECNET_PYTHON ?? (existsSync(venvPy) ? venvPy : 'python3')
try {
  py = JSON.parse(execFileSync(python, [join(repoRoot, 'bench', 'serializer-execnet.py'), String(Math.min(REPS, 5))], { encoding: 'utf8', maxBuffer: 1 << 20 })) as Record<string, Row | string>
} catch (err) {
  console.error(`real execnet not measured (${python}: ${(err as Error).message.split('\n')[0]})`)
}

const mbs = (r: Row, k: 'dumps' | 'loads'): string => (r.bytes / r[k] / 1e6).toFixed(0)
const vps = (r: Row, k: 'dumps' | 'loads'): string => (r.values / r[k] / 1e6).toFixed(2)
console.log(`# bench/serializer — ${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}` +
  (py !== null ? `, Python ${String(py.python)} execnet ${String(py.execnet)}` : '') + `; medians of ${REPS} after ${WARMUP} untimed runs`)
console.log('| data | size (ours) | values | ours dumps MB/s (Mvalues/s) | ours loads MB/s (Mvalues/s) | JSON stringify / parse Mvalues/s | execnet dumps / loads MB/s (Mvalues/s) | ours vs execnet, dumps / loads (values/s) | ours vs JSON, dumps / loads |')
console.log('|---|---|---|---|---|---|---|---|---|')
for (const name of Object.keys(sets)) {
  const o = ours[name] as Row
  const j = json[name] as Row
  const p = py?.[name] as Row | undefined
  const ratio = (a: number, b: number): string => `${(b / a).toFixed(1)}x`
  console.log(`| ${name} | ${(o.bytes / 1e6).toFixed(1)} MB | ${o.values} | ${mbs(o, 'dumps')} (${vps(o, 'dumps')}) | ${mbs(o, 'loads')} (${vps(o, 'loads')}) | ${vps(j, 'dumps')} / ${vps(j, 'loads')} | ` +
    (p !== undefined ? `${mbs(p, 'dumps')} / ${mbs(p, 'loads')} (${vps(p, 'dumps')} / ${vps(p, 'loads')}) | ${ratio(o.dumps, p.dumps)} / ${ratio(o.loads, p.loads)}` : 'n/a | n/a') +
    ` | ${(j.dumps / o.dumps).toFixed(2)}x / ${(j.loads / o.loads).toFixed(2)}x |`)
}
console.log('Byte values of 64 KiB and more load as views into the input (no copy); dumps() copies them once into its single result Buffer, while encoder() and frames write them without a copy: ' +
  `bytes through Encoder.encodeChunks (their path) ${((ours.bytes as Row).bytes / chunkedBytes / 1e6).toFixed(0)} MB/s` +
  (py !== null ? `, ${((py.bytes as Row).dumps / chunkedBytes).toFixed(1)}x execnet's dumps.` : '.'))
console.log('values: every scalar and container counts as one; JSON carries bytes as base64 text; ratios > 1x mean ours is faster.')
