// One call after another, `await f(x)` with f = x * 2, in one run with
// contenders in turns: ours gw.function and a pool function (one worker),
// against our own channel ping-pong (the floor a call is built on),
// pythonia (JSPyBridge), node-calls-python's async call (CPython embedded
// in Node; its sync call, in process, for reference) and python-shell
// (JSON lines). Medians of the rounds, and the goals' ratios: a call
// <= 1.2x our ping-pong and <= 0.5x pythonia's.
// Run with `npm run bench:call`; the peers come from `bash
// bench/install-peers.sh` (BENCH_PEERS, default /tmp/execnet-bench-peers),
// and a missing one is named in the table, not silently left out.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { PythonShell } from 'python-shell'
import { makeGateway, Pool } from 'execnet'
import { median, now } from './measure.js'

const ROUNDS = Number(process.env.ROUNDS ?? 5)
const CALLS = Number(process.env.CALLS ?? 2000)
const python = process.env.BENCH_PYTHON ?? 'python3'
const peers = process.env.BENCH_PEERS ?? '/tmp/execnet-bench-peers'
const TWICE = 'def twice(x):\n    return x * 2'
const mods = mkdtempSync(join(tmpdir(), 'execnet-bench-call-'))
writeFileSync(join(mods, 'twice_mod.py'), TWICE + '\n')
writeFileSync(join(mods, 'shell.py'), 'import json, sys\nfor line in sys.stdin:\n    sys.stdout.write(json.dumps(json.loads(line) * 2) + "\\n")\n    sys.stdout.flush()\n')

interface Contender { name: string, call: (x: number) => Promise<unknown>, close: () => Promise<void> | void }
type Maker = () => Promise<Contender | string>

const peerRequire = createRequire(join(peers, 'package.json'))
function peer (name: string): unknown {
  if (!existsSync(join(peers, 'node_modules', name))) return null
  return peerRequire(name)
}

const makers: Array<[string, Maker]> = [
  ['ours, channel ping-pong', async () => {
    const gw = await makeGateway(`popen//python=${python}`)
    const echo = gw.remoteExec('for x in channel:\n    channel.send(x * 2)')
    return { name: '', call: async (x) => { await echo.send(x); return await echo.receive() }, close: async () => { echo.end(); await gw.terminate() } }
  }],
  ['ours, gw.function', async () => {
    const gw = await makeGateway(`popen//python=${python}`)
    const f = gw.function(TWICE)
    return { name: '', call: async (x) => await f(x), close: async () => { await gw.terminate() } }
  }],
  ['ours, pool.function (1 worker)', async () => {
    const pool = await Pool.start(`popen//python=${python}`, { size: 1 })
    const f = pool.function(TWICE)
    return { name: '', call: async (x) => await f(x), close: async () => { await pool.close() } }
  }],
  ['pythonia', async () => {
    const mod = peer('pythonia') as { python: ((m: string) => Promise<{ twice: (x: number) => Promise<number> }>) & { exit: () => void } } | null
    if (mod === null) return 'not installed (bash bench/install-peers.sh)'
    const m = await mod.python(join(mods, 'twice_mod.py'))
    return { name: '', call: async (x) => await m.twice(x), close: () => { mod.python.exit() } }
  }],
  ['node-calls-python, async', async () => {
    const mod = peer('node-calls-python') as { interpreter: { import: (p: string) => Promise<unknown>, call: (m: unknown, f: string, x: number) => Promise<unknown> } } | null
    if (mod === null) return 'not installed (bash bench/install-peers.sh)'
    const py = mod.interpreter
    const m = await py.import(join(mods, 'twice_mod.py'))
    return { name: '', call: async (x) => await py.call(m, 'twice', x), close: () => {} }
  }],
  ['node-calls-python, sync (in process)', async () => {
    const mod = peer('node-calls-python') as { interpreter: { importSync: (p: string) => unknown, callSync: (m: unknown, f: string, x: number) => unknown } } | null
    if (mod === null) return 'not installed (bash bench/install-peers.sh)'
    const py = mod.interpreter
    const m = py.importSync(join(mods, 'twice_mod.py'))
    return { name: '', call: async (x) => py.callSync(m, 'twice', x), close: () => {} }
  }],
  ['python-shell (JSON lines)', async () => {
    const shell = new PythonShell(join(mods, 'shell.py'), { pythonPath: python, mode: 'text' })
    let waiting: ((line: string) => void) | null = null
    shell.on('message', (line: string) => { const w = waiting; waiting = null; w?.(line) })
    return {
      name: '',
      call: async (x) => await new Promise((resolve) => { waiting = (line) => { resolve(JSON.parse(line)) }; shell.send(String(x)) }),
      close: async () => { await new Promise((resolve) => { shell.end(resolve) }) }
    }
  }]
]

const samples = new Map<string, number[]>()
const missing = new Map<string, string>()
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, make] of makers) {
    if (missing.has(name)) continue
    const c = await make()
    if (typeof c === 'string') { missing.set(name, c); continue }
    try {
      for (let i = 0; i < 50; i++) await c.call(i) // warm
      const t0 = now()
      for (let i = 0; i < CALLS; i++) {
        const y = await c.call(i)
        if (Number(y) !== i * 2) throw new Error(`${name}: twice(${i}) gave ${String(y)}`)
      }
      const us = (now() - t0) / CALLS * 1e6
      samples.set(name, [...(samples.get(name) ?? []), us])
      process.stderr.write(`round ${round + 1} ${name}: ${us.toFixed(1)} us\n`)
    } finally {
      await c.close()
    }
  }
}

rmSync(mods, { recursive: true, force: true })

const med = (name: string): number => median(samples.get(name) ?? [Number.NaN])
const ping = med('ours, channel ping-pong')
const pythonia = med('pythonia')
console.log(`bench/call: ${new Date().toISOString().slice(0, 16)}Z, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Node ${process.version}, ${python}; ${CALLS} calls one after another, medians of ${ROUNDS} rounds in turns\n`)
console.log('| contender | µs per call | vs our ping-pong | vs pythonia |')
console.log('|---|---|---|---|')
for (const [name] of makers) {
  if (missing.has(name)) { console.log(`| ${name} | ${missing.get(name) as string} | | |`); continue }
  const us = med(name)
  console.log(`| ${name} | ${us.toFixed(1)} | ${(us / ping).toFixed(2)}x | ${Number.isNaN(pythonia) ? '-' : (us / pythonia).toFixed(2) + 'x'} |`)
}
const call = med('ours, gw.function')
const pooled = med('ours, pool.function (1 worker)')
console.log(`\ngw.function / ping-pong: ${(call / ping).toFixed(2)}x (goal <= 1.2x); pool.function / ping-pong: ${(pooled / ping).toFixed(2)}x; gw.function / pythonia: ${(call / pythonia).toFixed(2)}x (goal <= 0.5x)`)
