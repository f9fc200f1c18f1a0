// Gateways end cleanly: terminate() kills what does not stop in time, a
// killed worker fails its channels with GatewayClosedError, and a Node
// program that forgets its gateways still exits, leaving no worker behind.
import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { Channel, Gateway, GatewayClosedError, Group, None, RemoteError } from '../index.js'
import { cpython, pypy3, repoRoot, require, type Interpreter } from './helpers/interpreters.js'
import { specFor } from './helpers/targets.js'
import { alive, gone } from './helpers/processes.js'

function runFixture (args: string[]): Promise<{ code: number | null, stdout: string, ms: number }> {
  const t0 = Date.now()
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/fixtures/leave-gateway-open.ts'), ...args], { timeout: 60000, cwd: repoRoot }, (err, stdout) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, ms: Date.now() - t0 })
    })
  })
}

for (const minor of ['3.12', '2.7']) {
  t.test(`CPython ${minor}`, async (t) => {
    const interp: Interpreter | null = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
    if (interp === null) return
    const spec = specFor(interp)

    t.test('terminate(timeout) kills code that never returns, on time', async (t) => {
      const gw = await Gateway.start(spec, { stderr: 'pipe' })
      const ch = gw.remoteExec('import time\nwhile True: time.sleep(0.01)')
      const t0 = Date.now()
      const info = await gw.terminate(1)
      const ms = Date.now() - t0
      t.ok(ms < 2000, `terminate took ${ms} ms`)
      t.ok(info.signal === 'SIGKILL' || info.exitCode !== null)
      t.ok(!alive(gw.pid as number))
      await t.rejects(ch.receive(), Error)
    })

    t.test('a clean exit: terminate of an idle gateway exits with 0', async (t) => {
      const gw = await Gateway.start(spec, { stderr: 'pipe' })
      const info = await gw.terminate(5)
      t.same(info, { exitCode: 0, signal: null })
    })

    t.test('a killed worker fails its channels with GatewayClosedError naming the signal', async (t) => {
      const gw = await Gateway.start(spec, { stderr: 'pipe' })
      const ch = gw.remoteExec('channel.receive()')
      const pending = ch.receive()
      const streamed = (async () => { for await (const _ of gw.remoteExec('channel.receive()')) void _ })()
      process.kill(gw.pid as number, 'SIGKILL')
      const err = await pending.then(() => null, (e: unknown) => e)
      t.type(err, GatewayClosedError)
      t.match((err as Error).message, /killed by SIGKILL/)
      t.equal((err as GatewayClosedError).signal, 'SIGKILL')
      await t.rejects(streamed, GatewayClosedError)
      await t.rejects(ch.waitClose(), GatewayClosedError)
      t.throws(() => gw.remoteExec('1'), GatewayClosedError)
      const info = await gw.terminate(1)
      t.equal(info.signal, 'SIGKILL')
    })

    for (const how of ['kill', 'exit', 'terminate']) {
      t.test(`${how === 'terminate' ? 'await terminate()' : `${how}(); await waitExit()`} at the top level of a program keeps Node alive until the end`, async (t) => {
        const result = await new Promise<{ code: number | null, stdout: string }>((resolve) => {
          execFile(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/fixtures/await-exit.ts'), interp.argv[0] as string, how], { timeout: 30000, cwd: repoRoot }, (err, stdout) => {
            resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout })
          })
        })
        t.equal(result.code, 0, 'the program ran to its end')
        const info = JSON.parse(result.stdout.trim() || 'null') as { exitCode: number | null, signal: string | null } | null
        t.same(info, how === 'exit' ? { exitCode: 0, signal: null } : { exitCode: null, signal: 'SIGKILL' }, `and printed how the worker ended: ${result.stdout.trim()}`)
      })
    }

    for (const mode of ['idle', 'open-channel', 'stuck', 'throw', 'via']) {
      t.test(`a program that ends with its gateway open (${mode}) exits, and so does its worker`, async (t) => {
        const { stdout, ms, code } = await runFixture([interp.argv[0] as string, mode])
        const pid = Number(stdout.trim())
        t.ok(pid > 0, `worker pid ${stdout}`)
        t.equal(code, mode === 'throw' ? 1 : 0)
        t.ok(ms < 20000, `the program took ${ms} ms`)
        // the worker sees end of input; code that ignores it is interrupted after 5 s
        t.ok(await gone(pid, 15000), `worker ${pid} is gone`)
      })
    }
  })
}

// A finalizer runs wherever the garbage collector does: on PyPy between any
// two bytecodes (the channel suite hung there about once in 50 runs), on
// CPython 3 at any allocation for a channel in a reference cycle (Python 2
// never finalizes such a cycle). Here the collection is forced inside the
// worker's send, with its send lock held.
const DROPPED_IN_A_SEND = `
import gc
gc.disable()
gw = channel.gateway
dropped = gw.newchannel()
channel.send(dropped)
dropped.cycle = dropped
del dropped
pipe = gw._pipe
def write(data, flush=True):
    del pipe.write
    gc.collect()
    return pipe.write(data, flush)
pipe.write = write
channel.send('sent, with a collection inside')
gc.enable()
`

// the plain case: the last reference goes while the worker is idle, so the
// close waits for the sleeping flusher (at most half a second); PyPy has no
// reference counts, so there the collection is asked for
const DROPPED_WHILE_IDLE = 'import gc, time\ndropped = channel.gateway.newchannel()\nchannel.send(dropped)\ntime.sleep(0.5)\ndel dropped\ngc.collect()\nchannel.receive()'

for (const [label, find] of [['CPython 3.12', () => cpython('3.12')], ['CPython 2.7', () => cpython('2.7')], ['PyPy3', pypy3]] as const) {
  t.test(`${label}: a channel dropped while open closes on the master`, async (t) => {
    const interp = require(t, find(), label === 'PyPy3' ? 'pypy3 (Debian package)' : `${label} (pyenv)`)
    if (interp === null) return
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe' })
    t.teardown(async () => { await gw.terminate(5) })

    const idle = gw.remoteExec(DROPPED_WHILE_IDLE)
    const dropped = await idle.receive({ timeout: 10 })
    t.type(dropped, Channel)
    const t0 = Date.now()
    await (dropped as Channel).waitClose(10)
    t.ok(Date.now() - t0 < 3000, `dropped while idle: the close came ${Date.now() - t0} ms later`)
    await idle.send(None)
    await idle.waitClose(10)

    if (interp.major === 2) return
    const ch = gw.remoteExec(DROPPED_IN_A_SEND)
    const cyclic = await ch.receive({ timeout: 10 })
    t.type(cyclic, Channel)
    t.equal(await ch.receive({ timeout: 10 }), 'sent, with a collection inside', 'the worker did not deadlock on its own send lock')
    const t1 = Date.now()
    await (cyclic as Channel).waitClose(10)
    t.ok(Date.now() - t1 < 2000, `collected inside a send: the close came ${Date.now() - t1} ms later`)
    await ch.waitClose(10)
    t.equal(await gw.remoteExec('channel.send(1)').receive({ timeout: 10 }), 1, 'the gateway still serves')
  })
}

t.test('Group.makeGateways starts a fleet at once; MultiChannel.items() yields results as they arrive', async (t) => {
  const group = new Group({ stderr: 'pipe' })
  t.teardown(() => group.terminate(5))
  const gws = await group.makeGateways(['popen', 'popen', 'popen//id=third', 'popen'])
  t.same(gws.map((g) => g.id), ['gw0', 'gw1', 'third', 'gw2'], 'ids in spec order')
  t.equal(group.size, 4)
  // each host answers after a delay of its own: the slowest first in channel order
  const delays: Record<string, number> = { gw0: 0.6, gw1: 0.4, third: 0.2, gw2: 0 }
  const mc = group.remoteExec('import time\nd = channel.receive()\ntime.sleep(d)\nchannel.send(d)\nchannel.send([d, "last"])')
  await Promise.all(mc.channels.map(async (c) => { await c.send(delays[c.gateway.id]) }))
  const seen: Array<[string, unknown]> = []
  for await (const [channel, item] of mc.items()) seen.push([channel.gateway.id, item])
  t.same(seen.filter(([, item]) => typeof item === 'number').map(([id]) => id), ['gw2', 'third', 'gw1', 'gw0'], 'in the order the hosts finished')
  t.equal(seen.length, 8, 'every item of every channel, until all ended')
  for (const [id, d] of Object.entries(delays)) t.same(seen.filter(([g]) => g === id).map(([, v]) => v), [d, [d, 'last']], `${id}: its items in its order`)
  const failing = group.remoteExec('channel.send(1)\nraise ValueError("from one host")')
  await t.rejects((async () => { for await (const _ of failing.items()) { void _ } })(), RemoteError, 'a remote error ends the loop with it')

  const chained = await group.makeGateways(['popen//via=jump2', 'popen//id=jump2'])
  t.equal(chained.length, 2, 'a via= spec waits for its gateway in the same list')
  t.equal(await chained[0]?.remoteExec('channel.send(6 * 7)').receive(), 42)
  await t.rejects(group.makeGateways(['popen', 'popen//bogus']), /unknown key "bogus"/, 'a bad spec fails before anything starts')
  await t.rejects(group.makeGateways(['popen//id=a//via=b', 'popen//id=b//via=a']), /via= goes round in a circle/)
  const before = group.size
  const err = await group.makeGateways(['popen', 'popen//python=/no/such/python']).catch((e: unknown) => e)
  t.match(String(err), /\/no\/such\/python/, 'the failure is thrown')
  t.equal(group.size, before, 'all or nothing: the one that started is terminated')
})

t.test('Group: ids, MultiChannel, receive queue, terminate', async (t) => {
  const group = new Group({ stderr: 'pipe' })
  const [a, b] = await Promise.all([group.makeGateway(), group.makeGateway('popen//id=special')])
  const c = await group.makeGateway()
  t.same([...group].map((g) => g.id).sort(), ['gw0', 'gw1', 'special'])
  t.equal(group.get('special'), b)
  t.equal(group.get('gw0'), a)
  t.equal(group.get(2), c, 'by position: the order they came up')
  await t.rejects(group.makeGateway('popen//id=special'), /already has a gateway/)
  const mc = group.remoteExec('import os\nchannel.send(os.getpid())\nchannel.send(channel.receive() * 2)')
  t.equal(mc.length, 3)
  const pids = await mc.receiveEach()
  t.same(pids.sort(), [a.pid, b.pid, c.pid].sort())
  await mc.sendEach(21)
  const queue = mc.makeReceiveQueue({ endMarker: 'END' })
  const items: unknown[] = []
  for (let i = 0; i < 6; i++) items.push((await queue.get(10))[1])
  t.same(items.sort(), [42, 42, 42, 'END', 'END', 'END'].sort())
  await mc.waitClose(10)
  const failing = group.remoteExec('raise RuntimeError("x")')
  await t.rejects(failing.waitClose(10), RemoteError)
  const results = await group.terminate(5)
  t.equal(results.length, 3)
  t.equal(group.size, 0)
})

t.test('Group: a gateway leaves its group in exit(), as in execnet; terminate() still waits for it', async (t) => {
  const group = new Group({ stderr: 'pipe' })
  const a = await group.makeGateway('popen//id=a')
  const b = await group.makeGateway('popen//id=b')
  a.remoteExec('import time\ntime.sleep(1)') // a's worker takes its time to exit
  a.exit()
  t.equal(group.size, 1, 'a left at once, before its worker is gone')
  t.notOk(group.has('a'))
  t.notOk(a.gone)
  const mc = group.remoteExec('channel.send(channel.gateway.id)')
  t.same(await mc.receiveEach(), ['b-worker'], "the group's remoteExec goes to the gateways still in it")
  const again = await group.makeGateway('popen//id=a')
  t.not(again, a, 'the id is free again')
  t.equal(group.size, 2)
  b.kill()
  await b.waitExit()
  t.notOk(group.has('b'), 'a gateway whose worker died leaves too')
  await group.terminate(5)
  t.ok(a.gone, "terminate() waited for the gateway that had left but was not gone")
  t.equal(group.size, 0)
})

t.test('a for await left by break closes the channel cleanly: the remote side sees a close, not an error', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const gw = await Gateway.start(specFor(interp), { stderr: 'pipe' })
  t.teardown(async () => { await gw.terminate(5) })
  const side = gw.newChannel()
  // the master may close before the last sends, which then raise (as in
  // execnet): what counts is how waitclose() finds the channel closed
  const ch = gw.remoteExec('side = channel.receive()\ntry:\n    for i in range(3):\n        channel.send(i)\nexcept IOError:\n    pass\ntry:\n    channel.waitclose(10)\n    side.send("clean")\nexcept Exception as e:\n    side.send(repr(e))')
  await ch.send(side)
  for await (const item of ch) if (item === 0) break
  t.equal(await side.receive({ timeout: 10 }), 'clean')
})
