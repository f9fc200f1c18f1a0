// Starting a worker fails clearly and in bounded time: a missing
// interpreter, one that dies at start, one that is not Python, and garbage
// printed on stdout before the worker takes the pipe.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Gateway, BootstrapError, SpecError, dedent } from '../index.js'
import { pythonLiteral, bootstrapProgram } from '../lib/bootstrap.js'
import { parseSpec } from '../lib/spec.js'
import { cpython, require } from './helpers/interpreters.js'
import { tempDir } from './helpers/tmp.js'

async function startError (spec: string): Promise<{ err: unknown, ms: number }> {
  const t0 = Date.now()
  const err = await Gateway.start(spec, { stderr: 'pipe', startTimeout: 20 }).then(async (gw) => { await gw.terminate(1); return null }, (e: unknown) => e)
  return { err, ms: Date.now() - t0 }
}

t.test('a missing interpreter', async (t) => {
  const { err, ms } = await startError('popen//python=/nonexistent/python9')
  t.type(err, BootstrapError)
  t.match((err as Error).message, /cannot start \/nonexistent\/python9.*ENOENT/)
  t.ok(ms < 5000, `${ms} ms`)
})

t.test('an interpreter that dies at start, with its stderr', async (t) => {
  const { err } = await startError('popen//python=python3 -X nosuchoption=1 -c "import sys; sys.stderr.write(\'dying now\\n\'); sys.exit(3)"')
  t.type(err, BootstrapError)
  t.match((err as BootstrapError).message, /exited before it was ready \(exited with code 3\)/)
  t.match((err as BootstrapError).stderr, /dying now/)
  t.equal((err as BootstrapError).exitCode, 3)
})

t.test('not a Python interpreter: what it wrote is named', async (t) => {
  const { err } = await startError('popen//python=/bin/echo')
  t.type(err, BootstrapError)
  t.match((err as BootstrapError).message, /wrote "-u -c import sys;exec\(eval\(sys\.stdin\.readline\(\)\)\).*" instead of execnet's ready byte/)
  t.equal((err as BootstrapError).received, '-u -c import sys;exec(eval(sys.stdin.readline()))\\n')
})

for (const minor of ['3.12', '2.7']) t.test(`CPython ${minor}: a sitecustomize printing at start-up`, async (t) => {
  const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
  if (interp === null) return
  const dir = tempDir(t, 'site')
  writeFileSync(join(dir, 'sitecustomize.py'), 'print("hello from sitecustomize")\n')
  const { err, ms } = await startError(`popen//python=${interp.argv[0] as string}//env:PYTHONPATH=${dir}`)
  t.type(err, BootstrapError)
  t.match((err as BootstrapError).received, /hello from sitecustomize/)
  t.ok(ms < 10000, `${ms} ms`)
})

t.test('a silent hang at start times out', async (t) => {
  const t0 = Date.now()
  const err = await Gateway.start('popen//python=python3 -c "import time; time.sleep(60)"', { stderr: 'pipe', startTimeout: 0.5 }).then(() => null, (e: unknown) => e)
  t.type(err, BootstrapError)
  t.match((err as Error).message, /did not answer within 0\.5 seconds/)
  const took = Date.now() - t0
  t.ok(took >= 450 && took < 5000, `startTimeout is in seconds, as every duration: took ${took} ms`)
})

t.test('a startTimeout that is not a number of seconds is an OptionError', async (t) => {
  for (const bad of [0, -1, Number.NaN, Infinity, '5' as unknown as number]) {
    await t.rejects(Gateway.start('popen', { startTimeout: bad }), { name: 'OptionError', message: /startTimeout must be a number of seconds/ }, String(bad))
  }
})

t.test('bad specs are refused before anything starts', async (t) => {
  await t.rejects(Gateway.start('popen//pyton=x'), SpecError)
  await t.rejects(Gateway.start('popen//via=gw0'), /via=gw0 needs the group that has gateway gw0/)
})

t.test('the bootstrap literal is ASCII Python that evaluates back', async (t) => {
  const text = "a'b\\c\n\t\u00e9\x01"
  const lit = pythonLiteral(text)
  t.match(lit, /^'[\x20-\x7e]*'$/)
  const program = bootstrapProgram(parseSpec('popen'), 'gw9')
  t.ok(program.endsWith("'\n"))
  t.notOk(program.slice(0, -1).includes('\n'), 'one line')
  t.ok(program.includes("main(\\'gw9-worker\\', \\'thread\\', None)"), 'calls main with the id and execmodel, flow control off')
  t.ok(bootstrapProgram(parseSpec('popen'), 'gw9', 65536).includes("main(\\'gw9-worker\\', \\'thread\\', 65536)"), 'and with a window')
  t.ok(bootstrapProgram(parseSpec('popen'), 'gw9', 65536, 50).includes("main(\\'gw9-worker\\', \\'thread\\', 65536, spin=0.00005)"), 'and with the worker polling 50 µs')
  t.match(bootstrapProgram(parseSpec('popen//worker=execnet'), 'gw1'), /from execnet.gateway_base import serve/)
})

t.test("the bootstrap line fits Jython's parser", async (t) => {
  // Jython's eval() of a one-line source marks its stream to look for a
  // coding declaration and cannot reset past 99,997 characters: a longer
  // line (the worker grows it by about 1.1 characters per byte of its
  // source) fails with "Resetting to invalid mark" before anything runs
  const LIMIT = 99_997
  const longest = bootstrapProgram(parseSpec('popen//nice=19//execmodel=main_thread_only'), 'gw-with-a-long-id-0123456789', 1 << 30, 999_999)
  const line = longest.length - 1
  t.ok(line <= LIMIT, `the line is ${line} characters, ${LIMIT - line} below the limit`)
})

t.test('dedent works as textwrap.dedent', async (t) => {
  t.equal(dedent('\n    a\n      b\n\n    c\n'), '\na\n  b\n\nc\n')
  t.equal(dedent('a\n  b'), 'a\n  b')
  t.equal(dedent('\tx\n\ty'), 'x\ny')
})
