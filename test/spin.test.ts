// Our worker polls its input for a while before it sleeps in a read (the
// `spin` option): a ping-pong's messages are caught by the poll, a master
// that sends rarely costs few polls, an execution computing beside the
// receiver is not made to fight it for the GIL, and spin: 0 never polls.
import t from 'tap'
import { availableParallelism } from 'node:os'
import { type Channel, Gateway, OptionError } from '../index.js'
import { cpython, require } from './helpers/interpreters.js'
import { oursTargets, specFor } from './helpers/targets.js'

/** What the worker's polls did so far: [caught input, gave up]. */
async function spins (gw: Gateway): Promise<[number, number]> {
  return await gw.remoteExec('channel.send(list(channel.gateway.input.spinner.spins))').receive() as [number, number]
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

const ECHO = 'for x in channel:\n    channel.send(x)'

/** Send 0..count-1 one at a time, each after `pause` ms, and collect the answers. */
async function pingPong (echo: Channel, count: number, pause = 0): Promise<unknown[]> {
  const got: unknown[] = []
  for (let i = 0; i < count; i++) {
    if (pause > 0) await sleep(pause)
    await echo.send(i)
    got.push(await echo.receive())
  }
  return got
}

const upTo = (count: number): number[] => Array.from({ length: count }, (_, i) => i)

for (const target of oursTargets()) {
  t.test(`${target.label}: a ping-pong is caught by the worker's poll`, async (t) => {
    const interp = require(t, target.find(), target.what)
    if (interp === null) return
    // a poll long enough that a loaded machine's master still answers within it
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe', spin: 5000 })
    t.teardown(() => gw.terminate(5))
    // the mechanism under test, not this machine's load: other test files
    // running at once would make the worker see it crowded
    await gw.remoteExec('channel.gateway.input.spinner.runnable = lambda: 1\nchannel.send(1)').receive()
    const [polls, cpus] = await gw.remoteExec("channel.send((channel.gateway.input.spinner.poll is not None, channel.send.__func__.__globals__['usable_cpus']()))").receive() as [boolean, number]
    t.ok(cpus >= 1 && cpus <= availableParallelism(), `the worker may use ${cpus} CPUs`)
    // Jython's stdin has no descriptor to poll; one CPU would only slow the master
    t.equal(polls, target.label !== 'ours on Jython' && cpus > 1, 'the worker polls where it can and should')
    const echo = gw.remoteExec('for x in channel:\n    channel.send([x, x * 2])')
    t.same(await pingPong(echo, 300), upTo(300).map((i) => [i, i * 2]), 'every answer came, in order')
    echo.end()
    await echo.waitClose(10)
    const [caught] = await spins(gw)
    if (polls === true) t.ok(caught > 0, `the poll caught ${caught} of 300 messages`)
    else t.equal(caught, 0, 'no polls where the worker sleeps')
  })
}

const minor = '3.12'

t.test(`CPython ${minor}: polling`, async (t) => {
  const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
  if (interp === null) return

  t.test('a master that sends rarely costs few polls', async (t) => {
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe' })
    t.teardown(() => gw.terminate(5))
    const ch = gw.remoteExec(ECHO)
    const before = await spins(gw)
    t.same(await pingPong(ch, 40, 10), upTo(40))
    ch.end()
    await ch.waitClose(10)
    const [caught, gaveUp] = await spins(gw)
    t.equal(caught - before[0], 0, 'no message came within 50 µs of the last')
    // each give-up doubles the waits that sleep at once: 1, 2, 4, 8, 16
    t.ok(gaveUp - before[1] <= 7, `${gaveUp - before[1]} polls gave up, for 40 messages 10 ms apart`)
  })

  t.test('no polling while another execution computes', async (t) => {
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe', spin: 5000 })
    t.teardown(() => gw.terminate(5))
    await gw.remoteExec('channel.gateway.input.spinner.runnable = lambda: 1\nchannel.send(1)').receive()
    // an execution computing until its channel is closed (at most 60 s)
    const busy = gw.remoteExec('import time\nend = time.time() + 60\nwhile not channel.isclosed() and time.time() < end:\n    sum(range(1000))')
    const echo = gw.remoteExec(ECHO)
    await sleep(50)
    const before = await spins(gw)
    t.same(await pingPong(echo, 200), upTo(200))
    const during = await spins(gw)
    t.same(during, before, 'the receiver slept in its reads while the other execution computed')
    echo.end()
    await echo.waitClose(10)
    busy.close()
    await busy.waitClose(10)
  })

  t.test('no polling while an execution computes beside a thread of its own in a receive', async (t) => {
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe', spin: 5000 })
    t.teardown(() => gw.terminate(5))
    await gw.remoteExec('channel.gateway.input.spinner.runnable = lambda: 1\nchannel.send(1)').receive()
    // the execution computes; a thread it started waits in receive() meanwhile
    const busy = gw.remoteExec([
      'import threading, time',
      'def wait():',
      '    try:',
      '        channel.receive()',
      '    except Exception:',
      '        pass',
      'helper = threading.Thread(target=wait)',
      'helper.daemon = True',
      'helper.start()',
      'end = time.time() + 60',
      'while not channel.isclosed() and time.time() < end:',
      '    sum(range(1000))'
    ].join('\n'))
    const echo = gw.remoteExec(ECHO)
    await sleep(50)
    const before = await spins(gw)
    t.same(await pingPong(echo, 200), upTo(200))
    t.same(await spins(gw), before, 'the receiver slept in its reads: the helper waiting is not the execution waiting')
    echo.end()
    await echo.waitClose(10)
    busy.close()
    await busy.waitClose(10)
  })

  t.test('polling while other executions wait in a receive', async (t) => {
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe', spin: 5000 })
    t.teardown(() => gw.terminate(5))
    await gw.remoteExec('channel.gateway.input.spinner.runnable = lambda: 1\nchannel.send(1)').receive()
    // a pool worker's call server beside a function's line: idle, not computing
    const idle = gw.remoteExec('channel.receive()')
    const timed = gw.remoteExec('while True:\n    try:\n        channel.receive(0.5)\n        break\n    except channel.TimeoutError:\n        pass')
    const echo = gw.remoteExec(ECHO)
    await sleep(50)
    const running = await gw.remoteExec('channel.send(len(channel.gateway.execution.running))').receive()
    t.equal(running, 4, 'the two waiting executions, the echo and this probe run')
    const before = await spins(gw)
    t.same(await pingPong(echo, 200), upTo(200))
    const [caught] = await spins(gw)
    t.ok(caught > before[0], `the poll caught ${caught - before[0]} of 200 messages`)
    echo.end()
    await echo.waitClose(10)
    await idle.send(1)
    await timed.send(1)
    await idle.waitClose(10)
    await timed.waitClose(10)
  })

  t.test('no polling on a crowded machine', async (t) => {
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe', spin: 5000 })
    t.teardown(() => gw.terminate(5))
    // the worker's own look at the load (its probe, given to its Spinner),
    // made to see more tasks than CPUs, then not
    const crowd = async (runnable: string): Promise<void> => {
      await gw.remoteExec(`s = channel.gateway.input.spinner\ns.runnable = ${runnable}\ns.load_next = 0.0\nchannel.send(1)`).receive()
    }
    const echo = gw.remoteExec(ECHO)
    t.teardown(() => { echo.end() })
    t.ok(await gw.remoteExec('channel.send(channel.gateway.input.spinner.runnable())').receive() as number > 0, 'the worker reads the runnable tasks')
    await crowd('lambda: 1000')
    const before = await spins(gw)
    await pingPong(echo, 200)
    t.same(await spins(gw), before, 'no polls while more tasks are runnable than CPUs')
    await crowd('lambda: 1')
    await pingPong(echo, 200)
    t.ok((await spins(gw))[0] > before[0], 'polls again once the machine is not crowded')
  })

  t.test('spin: 0 never polls', async (t) => {
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe', spin: 0 })
    t.teardown(() => gw.terminate(5))
    t.equal(await gw.remoteExec('channel.send(channel.gateway.input.spinner.poll is None)').receive(), true)
    const echo = gw.remoteExec(ECHO)
    t.same(await pingPong(echo, 200), upTo(200))
    echo.end()
    await echo.waitClose(10)
    t.same(await spins(gw), [0, 0])
  })

  t.test("a container's CPU quota counts as fewer CPUs", async (t) => {
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe' })
    t.teardown(() => gw.terminate(5))
    // the worker's own usable_cpus(), reading made-up cgroup files
    const source = `
import io
g = channel.send.__func__.__globals__
files = channel.receive()
def fake(path, *args):
    if path not in files:
        raise IOError(path)
    return io.StringIO(files[path])
g['open'] = fake
try:
    channel.send(g['usable_cpus']())
finally:
    del g['open']
`
    const cases: Array<[Record<string, string>, number]> = [
      [{ '/sys/fs/cgroup/cpu.max': '50000 100000\n' }, 1],
      [{ '/sys/fs/cgroup/cpu.max': '150000 100000\n' }, 2],
      [{ '/sys/fs/cgroup/cpu.max': 'max 100000\n' }, availableParallelism()],
      [{ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '100000\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }, 1],
      [{ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }, availableParallelism()],
      [{}, availableParallelism()]
    ]
    for (const [files, cpus] of cases) {
      const ch = gw.remoteExec(source)
      await ch.send(new Map(Object.entries(files)))
      t.equal(await ch.receive(), Math.min(cpus, availableParallelism()), JSON.stringify(files))
    }
  })

  t.test('a bad spin is refused before anything starts', async (t) => {
    for (const bad of [-1, Number.NaN, Infinity, 1e6, '50' as unknown as number]) {
      await t.rejects(Gateway.start(specFor(interp), { spin: bad }), OptionError, `spin ${String(bad)}`)
    }
  })
})
