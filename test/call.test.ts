// gw.call() and gw.function(): a Python function's return value comes back,
// its exception rejects, a timeout or abort fails that call and the gateway
// goes on; on every interpreter the call server must run on.
import t from 'tap'
import { DumpError, Gateway, OptionError, RemoteError, TimeoutError } from '../index.js'
import { cpython, jython, pypy3, require, venvPython, type Interpreter } from './helpers/interpreters.js'
import { specFor } from './helpers/targets.js'

const targets: Array<[string, () => Interpreter | null]> = [
  ['CPython 3.12 (pyenv)', () => cpython('3.12')],
  ['CPython 2.7 (pyenv)', () => cpython('2.7')],
  ['pypy3 (Debian package)', pypy3],
  ['jython (Debian package)', jython]
]

for (const [what, find] of targets) {
  t.test(`calls on ${what}`, async (t) => {
    const interp = require(t, find(), what)
    if (interp === null) return
    const gw = await Gateway.start(specFor(interp))
    t.teardown(async () => { await gw.terminate(5) })

    t.equal(await gw.call('operator:add', 40, 2), 42, "an importable module's function")
    t.equal(await gw.call('os.path:join', 'a', 'b'), 'a/b', 'a dotted module')

    const twice = gw.function(`
        import math
        def twice(x, scale=1):
            return x * 2 * scale
    `)
    t.equal(twice.name, 'twice')
    t.equal(await twice(21), 42, "the source's one top-level def")
    t.equal(await twice.invoke([21], { scale: 10 }), 420, 'keyword arguments through invoke()')
    const many = await Promise.all(Array.from({ length: 200 }, async (_, i) => await twice(i)))
    t.same(many, Array.from({ length: 200 }, (_, i) => i * 2), 'calls of one tick, batched, each get their own result')

    t.equal(await gw.function('def nothing():\n    pass')(), null, 'None returns null')
    t.same(await gw.function('def count(n):\n    for i in range(n):\n        yield i * i')(4), [0, 1, 4, 9], 'a generator is drained into an array')
    t.same(await gw.function('def pair():\n    return (1, [2, None])')(), [1, [2, null]], 'a tuple comes back as a Tuple (an array)')

    const error = await gw.function('def bad(x):\n    return 1 // x')(0).catch((e: unknown) => e)
    t.ok(error instanceof RemoteError, 'an exception rejects with RemoteError')
    t.match((error as RemoteError).formatted, /ZeroDivisionError/, 'with the traceback')
    t.match((error as RemoteError).formatted, /line 2, in bad/, "pointing into the user's function, not the call server")

    const failing = await gw.function('def f(:\n    pass').call(null).catch((e: unknown) => e)
    t.match(String((failing as RemoteError).formatted), /SyntaxError/, "a source that does not compile rejects each call with Python's SyntaxError")
    await t.rejects(gw.call('no_such_module_xyz:f'), RemoteError, 'an import that fails rejects')

    await t.rejects(async () => await twice(() => 1), DumpError, 'an argument without a Python equivalent: DumpError')
    const dump = await twice(() => 1).catch((e: unknown) => e)
    t.equal((dump as DumpError).path, 'args[0]', 'naming the argument')
    const deep = await twice(1, [2, () => 1]).catch((e: unknown) => e)
    t.equal((deep as DumpError).path, 'args[1][1]', 'and where in it')
    t.equal(await twice(3), 6, 'and the gateway goes on')

    const unsendable = await gw.function('def obj():\n    return object()')().catch((e: unknown) => e)
    t.ok(unsendable instanceof RemoteError, 'a return value without an encoding rejects')
    t.match((unsendable as RemoteError).formatted, /cannot be sent/)

    t.throws(() => gw.function('def a():\n    pass\ndef b():\n    pass'), OptionError, 'two top-level defs need options.name')
    t.equal(await gw.function('def a():\n    return 1\ndef b():\n    return 2', { name: 'b' })(), 2, 'options.name picks one')

    const slow = gw.function('import time\ndef slow(s):\n    time.sleep(s)\n    return s')
    const started = Date.now()
    const timedOut = slow.invoke([3], null, { timeout: 0.3 })
    const alongside = twice(100) // sent in the same batch, behind the slow call
    await t.rejects(timedOut, TimeoutError, 'a call past its timeout rejects with TimeoutError')
    t.ok(Date.now() - started < 2500, 'at its timeout, not when the function returns')
    t.equal(await alongside, 200, 'a call queued behind it is answered by a fresh call server')
    t.equal(await twice(4), 8, 'the gateway stays usable')

    const controller = new AbortController()
    const aborted = slow.invoke([3], null, { signal: controller.signal })
    setTimeout(() => { controller.abort() }, 100)
    const reason = await aborted.catch((e: unknown) => e)
    t.equal((reason as Error).name, 'AbortError', 'an aborted call rejects with AbortError')
    t.equal(await twice(5), 10, 'and the gateway goes on')
    await t.rejects(slow.invoke([0], null, { signal: AbortSignal.abort() }), { name: 'AbortError' }, 'an already aborted signal rejects at once')
  })
}

t.test('numpy scalars come back as numbers', async (t) => {
  const venv = require(t, venvPython(), 'the test venv with numpy')
  if (venv === null) return
  const gw = await Gateway.start(specFor(venv))
  t.teardown(async () => { await gw.terminate(5) })
  const total = gw.function('import numpy\ndef total(n):\n    return numpy.arange(n).sum()')
  t.equal(await total(10), 45, 'numpy.int64 is sent as its Python int')
})

t.test('the gateway gone: pending calls reject with its error', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const gw = await Gateway.start(specFor(interp))
  const slow = gw.function('import time\ndef slow():\n    time.sleep(30)')
  const pending = slow()
  setTimeout(() => { gw.kill() }, 200)
  await t.rejects(pending, { name: 'GatewayClosedError' })
  await gw.waitExit()
})

t.test('direct lines: calls sent behind one that raised run once each, on a fresh line; main_thread_only uses the call server', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const gw = await Gateway.start(specFor(interp))
  t.teardown(async () => { await gw.terminate(5) })
  // every run recorded where both functions see it, to count them
  const record = gw.function('import builtins\ndef record(x):\n    builtins.__dict__.setdefault("runs", []).append(x)\n    if x == 3:\n        raise ValueError("three")\n    return x * 10')
  const runs = gw.function('import builtins\ndef runs(_):\n    return sorted(builtins.__dict__.get("runs", []))')
  // one call per tick: each goes alone, on the direct line, pipelined
  const pending: Array<Promise<unknown>> = []
  for (let x = 1; x <= 6; x++) {
    pending.push(record(x).catch((e: unknown) => e))
    await new Promise((resolve) => setImmediate(resolve))
  }
  const results = await Promise.all(pending)
  t.same(results.filter((r) => !(r instanceof Error)), [10, 20, 40, 50, 60], 'the calls after the failed one are answered')
  t.equal((results[2] as RemoteError).type, 'ValueError', 'the one that raised rejects with its error')
  t.match((results[2] as RemoteError).formatted, /line 5, in record/, "its traceback in the function")
  t.same(await runs(0), [1, 2, 3, 4, 5, 6], 'each ran exactly once')

  const single = await Gateway.start(specFor(interp) + '//execmodel=main_thread_only')
  t.teardown(async () => { await single.terminate(5) })
  const twice = single.function('def twice(x):\n    return x * 2')
  t.equal(await twice(21), 42, 'main_thread_only: through the call server')
  t.equal(await twice(4), 8)
})
