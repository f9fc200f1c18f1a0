// Pool faults that must cost only the input at fault: a crashing input
// batched with good ones, an aborted call beside others on its worker, a
// waiting call while its worker is replaced, and the bookkeeping of single
// calls. Each assertion here failed before its fix.
import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { ItemError, OptionError, Pool, makeGateway } from '../index.js'
import { cpython, require } from './helpers/interpreters.js'
import { specFor } from './helpers/targets.js'

const repoRoot = join(import.meta.dirname, '..')

t.test('an input that crashes its worker spends only its own retries, not those of the inputs batched with it', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const pool = await Pool.start(specFor(interp), { size: 2, retries: 1 })
  t.teardown(async () => { await pool.close(5) })
  const crashOn13 = pool.function('import os\ndef crash_on_13(x):\n    if x == 13:\n        os._exit(3)\n    return x + 1')
  const inputs = Array.from({ length: 200 }, (_, i) => i)
  const results = await crashOn13.map(inputs, { errors: 'yield' })
  const failed = results.map((r, i) => r instanceof ItemError ? i : -1).filter((i) => i >= 0)
  t.same(failed, [13], 'only input 13 fails')
  t.match((results[13] as ItemError).message, /input #13: .*lost 2 times, the retry limit is 1/s, 'after its own two losses')
  t.same(results.filter((_, i) => i !== 13), inputs.filter((i) => i !== 13).map((x) => x + 1), 'every other input has its result')
  // the map can end before the last replacement is up
  while (pool.size < 2) await new Promise((resolve) => { pool.once('replaced', resolve) })
  t.equal(pool.size, 2, 'the crashed workers were replaced')
})

t.test("an aborted call kills its worker, but the calls beside it there go again without spending a retry", async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const pool = await Pool.start(specFor(interp), { size: 1, retries: 0 })
  t.teardown(async () => { await pool.close(5) })
  const nap = pool.function('import time\ndef nap(s):\n    time.sleep(s)\n    return s')
  t.equal(await nap(0), 0, 'warm')
  const controller = new AbortController()
  // one tick: one batch on the one worker
  const calls = [nap(0.3), nap.invoke([0.3], null, { signal: controller.signal }), nap(0.3)]
  setTimeout(() => { controller.abort() }, 100)
  const outcomes = await Promise.allSettled(calls)
  t.same(outcomes[0], { status: 'fulfilled', value: 0.3 }, 'the call before it answered')
  t.equal(outcomes[1]?.status === 'rejected' && (outcomes[1].reason as Error).name, 'AbortError', 'the aborted call rejected')
  t.same(outcomes[2], { status: 'fulfilled', value: 0.3 }, 'the call after it answered, with retries: 0')
})

t.test('single calls leave nothing behind in the pool once answered', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const pool = await Pool.start(specFor(interp), { size: 1 })
  t.teardown(async () => { await pool.close(5) })
  // white-box: the pool's list of runs it schedules from
  const runs = (): number => (pool as unknown as { runs: unknown[] }).runs.length
  for (let i = 0; i < 50; i++) t.equal(await pool.function(`def f${i}(x):\n    return x + ${i}`)(1), 1 + i)
  t.equal(runs(), 0, 'a function made per request is not kept once its calls are answered')
  const f = pool.function('def g(x):\n    return x')
  t.same(await Promise.all([f(1), f(2)]), [1, 2])
  t.equal(await f(3), 3, 'and a function used again after that still works')
  t.equal(runs(), 0)
})

t.test('a call timeout is a number of seconds > 0, for gw.function and pool functions alike', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const gw = await makeGateway(specFor(interp))
  const pool = await Pool.start(specFor(interp), { size: 1 })
  t.teardown(async () => { await pool.close(5); await gw.terminate(5) })
  const one = gw.function('def one():\n    return 1')
  const pooled = pool.function('def one():\n    return 1')
  for (const bad of [0, -1, Infinity, Number.NaN, 1e10]) {
    await t.rejects(one.invoke([], null, { timeout: bad }), OptionError, `gw.function refuses ${bad}`)
    await t.rejects(pooled.invoke([], null, { timeout: bad }), OptionError, `a pool function refuses ${bad}`)
    t.throws(() => pooled.imap([1], { timeout: bad }), OptionError, `imap refuses ${bad}`)
  }
  t.equal(await one.invoke([], null, { timeout: 0.5 }), 1)
  t.equal(await pooled.invoke([], null, { timeout: 0.5 }), 1)
})

t.test('a call waiting while its only worker is replaced keeps Node alive', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const result = await new Promise<{ code: number | null, stdout: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/fixtures/pool-replace-wait.ts'), interp.argv[0] as string], { timeout: 30000, cwd: repoRoot }, (err, stdout) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout })
    })
  })
  t.equal(result.code, 0, 'the program ran to its end')
  t.equal(result.stdout.trim(), '0.5', 'and printed the call\'s value from the replacement')
})
