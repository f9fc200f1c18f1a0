// Cold start: a fresh `node` process, from spawn to its first result from
// Python, as a CLI call, a test file or a serverless function pays it.
// Contenders, each a plain `node` on a small .mjs script (no tsx, whose own
// start-up would be measured), in turns round by round:
//   ours:         import the built package (dist/index.js), makeGateway('popen'),
//                 one remoteExec + receive of a value;
//   python-shell: spawn a Python script, send one JSON line, get one back;
//   raw pipe:     child_process.spawn of python3 echoing one line;
//   bare node:    `node -e 0`, subtracted from each contender in its round;
//   ours again with READABLE_STREAM=disable: what readable-stream costs.
// The goal is ours <= 1.0x python-shell, both net of bare node. Every
// contender uses the same interpreter. Run with `npm run bench:coldstart`;
// ROUNDS (default 15), BENCH_PYTHON (default: the test venv's python).
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { repoRoot } from '../test/helpers/interpreters.js'
import { median, now } from './measure.js'

const ROUNDS = Math.max(15, Number(process.env.ROUNDS ?? 15))
const python = process.env.BENCH_PYTHON ?? join(repoRoot, '.venv', 'bin', 'python')
if (!existsSync(python)) throw new Error(`no ${python}: make the venv as .ci/run does, or set BENCH_PYTHON`)
const distIndex = join(repoRoot, 'dist', 'index.js')
if (!existsSync(distIndex)) throw new Error('no dist/index.js: run `npm run build` first (npm run bench:coldstart does)')

const dir = mkdtempSync(join(tmpdir(), 'bench-coldstart-'))
const url = (path: string): string => pathToFileURL(path).href

// Each script prints one line once it has its first result: JSON with the
// moments (ms since the process's time origin) of its steps, where it has any.
const scripts: Record<string, string> = {
  'ours.mjs': `
const t0 = performance.now()
const { makeGateway } = await import(${JSON.stringify(url(distIndex))})
const t1 = performance.now()
const gw = await makeGateway(${JSON.stringify(`popen//python=${python}`)})
const t2 = performance.now()
const value = await gw.remoteExec('channel.send(1)').receive()
const t3 = performance.now()
if (value !== 1) throw new Error('wrong value ' + value)
process.stdout.write(JSON.stringify({ start: t0, imported: t1, gateway: t2, value: t3 }) + '\\n')
await gw.terminate()
`,
  'shell.mjs': `
const t0 = performance.now()
const { PythonShell } = await import(${JSON.stringify(url(join(repoRoot, 'node_modules', 'python-shell', 'index.js')))})
const t1 = performance.now()
const shell = new PythonShell(${JSON.stringify(join(dir, 'echo.py'))}, { mode: 'json', pythonPath: ${JSON.stringify(python)} })
shell.once('message', (value) => {
  const t3 = performance.now()
  if (value !== 1) throw new Error('wrong value ' + value)
  process.stdout.write(JSON.stringify({ start: t0, imported: t1, value: t3 }) + '\\n')
  shell.end(() => {})
})
shell.send(1)
`,
  'raw.mjs': `
import { spawn } from 'node:child_process'
const t0 = performance.now()
const child = spawn(${JSON.stringify(python)}, ['-u', '-c', 'import sys\\nsys.stdout.write(sys.stdin.readline())'], { stdio: ['pipe', 'pipe', 'inherit'] })
child.stdout.once('data', (line) => {
  const t3 = performance.now()
  if (String(line) !== '1\\n') throw new Error('wrong value ' + line)
  process.stdout.write(JSON.stringify({ start: t0, value: t3 }) + '\\n')
})
child.stdin.end('1\\n')
`,
  'echo.py': 'import sys, json\nfor line in sys.stdin:\n    print(json.dumps(json.loads(line)))\n    sys.stdout.flush()\n'
}
for (const [name, text] of Object.entries(scripts)) writeFileSync(join(dir, name), text)

interface Sample { first: number, exit: number, steps: Record<string, number> }

/** Spawn `node args`; ms from spawn to its first stdout line (or its exit, when it prints none) and to its exit. */
async function run (args: string[], env: Record<string, string> = {}): Promise<Sample> {
  return await new Promise((resolve, reject) => {
    const t0 = now()
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } })
    let first: number | undefined
    let text = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      if (first === undefined && chunk.includes('\n')) first = (now() - t0) * 1000
      text += chunk
    })
    child.on('error', reject)
    child.on('close', (code) => {
      const exit = (now() - t0) * 1000
      if (code !== 0) { reject(new Error(`node ${args.join(' ')} exited with ${String(code)}`)); return }
      const line = text.split('\n')[0] ?? ''
      resolve({ first: first ?? exit, exit, steps: line === '' ? {} : JSON.parse(line) as Record<string, number> })
    })
  })
}

const contenders: Array<[string, string[], Record<string, string>?]> = [
  ['bare node (`node -e 0`)', ['-e', '0']],
  ['ours (import, makeGateway, one value)', [join(dir, 'ours.mjs')]],
  ['python-shell (spawn, one JSON line each way)', [join(dir, 'shell.mjs')]],
  ['raw pipe (child_process to python3, one line)', [join(dir, 'raw.mjs')]],
  // readable-stream's own switch: its index hands out node:stream's classes,
  // so this row is what readable-stream costs the cold start
  ['ours, READABLE_STREAM=disable (node:stream\'s classes)', [join(dir, 'ours.mjs')], { READABLE_STREAM: 'disable' }]
]

const samples = contenders.map((): Sample[] => [])
try {
  // one untimed round first: the disk cache, our worker's code cache
  for (let r = 0; r <= ROUNDS; r++) {
    // contenders in turns, the order rotated each round so none always follows another
    for (let j = 0; j < contenders.length; j++) {
      const i = (j + r) % contenders.length
      const [, args, env] = contenders[i] as [string, string[], Record<string, string>?]
      const sample = await run(args, env)
      if (r > 0) (samples[i] as Sample[]).push(sample)
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}

const bare = samples[0] as Sample[]
/** A contender's samples net of bare node's in the same round, median. */
const net = (i: number, key: 'first' | 'exit'): number => median((samples[i] as Sample[]).map((s, r) => s[key] - (bare[r] as Sample).exit))
const fmt = (x: number): string => `${x.toFixed(1)} ms`
const version = execFileSync(python, ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).trim()
console.log(`# bench/coldstart — ${new Date().toISOString().slice(0, 10)}, node ${process.version}, Python ${version} (${python})`)
console.log(`# ${cpus().length}x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}; medians of ${ROUNDS} rounds, contenders in turns`)
console.log('| | spawn to first result | net of bare node | spawn to exit | net of bare node |')
console.log('|---|---|---|---|---|')
for (const [i, [name]] of contenders.entries()) {
  const s = samples[i] as Sample[]
  const first = median(s.map((x) => x.first))
  const exit = median(s.map((x) => x.exit))
  console.log(i === 0
    ? `| ${name} | - | - | ${fmt(exit)} | - |`
    : `| ${name} | ${fmt(first)} | ${fmt(net(i, 'first'))} | ${fmt(exit)} | ${fmt(net(i, 'exit'))} |`)
}
const ours = samples[1] as Sample[]
const step = (a: string, b: string): number => median(ours.map((s) => (s.steps[b] ?? 0) - (s.steps[a] ?? 0)))
console.log(`\nours, inside the process (medians): node's own start-up to the script ${fmt(median(ours.map((s) => s.steps.start ?? 0)))}, ` +
  `import ${fmt(step('start', 'imported'))}, makeGateway ${fmt(step('imported', 'gateway'))}, first value ${fmt(step('gateway', 'value'))}`)
const shellImport = median((samples[2] as Sample[]).map((s) => (s.steps.imported ?? 0) - (s.steps.start ?? 0)))
console.log(`python-shell's import ${fmt(shellImport)}`)
const oursOff = samples[4] as Sample[]
console.log(`ours with READABLE_STREAM=disable: import ${fmt(median(oursOff.map((s) => (s.steps.imported ?? 0) - (s.steps.start ?? 0))))}, makeGateway ${fmt(median(oursOff.map((s) => (s.steps.gateway ?? 0) - (s.steps.imported ?? 0))))}, first value ${fmt(median(oursOff.map((s) => (s.steps.value ?? 0) - (s.steps.gateway ?? 0))))}`)
console.log(`ratio (net of bare node, first result): ours/python-shell ${(net(1, 'first') / net(2, 'first')).toFixed(2)} (goal <= 1.00), ours/raw pipe ${(net(1, 'first') / net(3, 'first')).toFixed(2)}, ` +
  `ours with READABLE_STREAM=disable/python-shell ${(net(4, 'first') / net(2, 'first')).toFixed(2)}`)
