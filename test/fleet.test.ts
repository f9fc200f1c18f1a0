// Gateways over a fleet of 8 ssh hosts on this machine, each a network
// namespace with its own sshd (test/helpers/netns.ts): all started at once,
// each worker on its own host, a tree synced to all, fan-out, a Pool; and
// the keep-alive: a host whose link goes down fails its gateway in bounded
// time while the other seven go on.
import t from 'tap'
import type { Test } from 'tap'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { GatewayClosedError, Group, MultiChannel, Pool, RSync, type Gateway, type RemoteSource } from '../index.js'
import { cpython, require } from './helpers/interpreters.js'
import { fleetProblem, startFleet, type Fleet } from './helpers/netns.js'
import { tempDir } from './helpers/tmp.js'

const problem = fleetProblem()
const interp = cpython('3.12')
let fleet: Fleet | null = null
if (problem === null) fleet = await startFleet({ hosts: 8 })
t.teardown(async () => { await fleet?.stop() })

/** The fleet and an interpreter, or null after a skip (or, under CI, a failure) naming what is missing. */
function ready (t: Test): { fleet: Fleet, python: string } | null {
  if (require(t, problem === null ? true : null, problem ?? '') === null || fleet === null) return null
  const found = require(t, interp, 'CPython 3.12 (pyenv)')
  if (found === null) return null
  return { fleet, python: found.argv[0] as string }
}

const WHERE = 'import os\nchannel.send([os.readlink("/proc/self/ns/net"), os.environ["SSH_CONNECTION"].split()[2]])'

/** remoteExec on each gateway, in the order given (a group's own order is the order they came up). */
function onEach (gateways: Gateway[], source: RemoteSource): MultiChannel {
  return new MultiChannel(gateways.map((g) => g.remoteExec(source)))
}

t.test('8 ssh hosts at once: each worker on its own host; RSync to all; MultiChannel fan-out', async (t) => {
  const f = ready(t)
  if (f === null) return
  const group = new Group({ stderr: 'pipe' })
  t.teardown(async () => { await group.terminate(5) })
  const gateways = await group.makeGateways(f.fleet.hosts.map((h) => h.spec(`//python=${f.python}`)))
  t.equal(gateways.length, 8)
  const mc = onEach(gateways, WHERE)
  const seen = await mc.receiveEach({ timeout: 30 }) as Array<[string, string]>
  for (const [i, host] of f.fleet.hosts.entries()) {
    const inode = (await f.fleet.run(host, ['readlink', '/proc/self/ns/net'])).stdout.trim()
    t.same(seen[i], [inode, host.address], `gateway ${i} runs in ${host.namespace}, reached at ${host.address}`)
  }

  const source = tempDir(t, 'fleet-src')
  mkdirSync(join(source, 'pkg'))
  writeFileSync(join(source, 'pkg', 'mod.py'), 'X = 42\n')
  writeFileSync(join(source, 'data.bin'), Buffer.alloc(300_000, 7))
  const dest = tempDir(t, 'fleet-dest')
  const rsync = new RSync(source)
  // one filesystem under every namespace: a directory per host, so each copy is its own
  for (const [i, gw] of gateways.entries()) rsync.addTarget(gw, join(dest, f.fleet.hosts[i]?.name ?? ''))
  const results = await rsync.send()
  t.equal(results.length, 8)
  const copies = onEach(gateways, 'import os, sys\nd = channel.receive()\nsys.path.insert(0, os.path.join(d, "pkg"))\nimport mod\nchannel.send([mod.X, os.path.getsize(os.path.join(d, "data.bin"))])')
  for (const [i, ch] of copies.channels.entries()) await ch.send(join(dest, f.fleet.hosts[i]?.name ?? ''))
  t.same(await copies.receiveEach({ timeout: 30 }), Array(8).fill([42, 300_000]), 'each host imports its own copy')
  t.equal(readFileSync(join(dest, 'fleet-7', 'pkg', 'mod.py'), 'utf8'), 'X = 42\n')

  const echo = onEach(gateways, 'for x in channel:\n    channel.send(x * 2)')
  await echo.sendEach(21)
  t.same(await echo.receiveEach({ timeout: 30 }), Array(8).fill(42), 'fan-out to 8 hosts and back')
  for (const ch of echo.channels) ch.end()
  await echo.waitClose(30)
})

t.test('a Pool over the 8 hosts runs a map on all of them', async (t) => {
  const f = ready(t)
  if (f === null) return
  const pool = await Pool.start(f.fleet.hosts.map((h) => h.spec(`//python=${f.python}`)), { gateway: { stderr: 'pipe' } })
  t.teardown(async () => { await pool.close() })
  const where = pool.function('def where(x):\n    import os, time\n    time.sleep(0.02)\n    return (x * x, os.environ["SSH_CONNECTION"].split()[2])')
  const out = await where.map(Array.from({ length: 200 }, (_, i) => i)) as Array<[number, string]>
  t.same(out.map((r) => r[0]), Array.from({ length: 200 }, (_, i) => i * i), 'every result, in order')
  t.equal(new Set(out.map((r) => r[1])).size, 8, 'all 8 hosts took part')
})

t.test('keep-alive: a host whose link goes down fails its gateway in bounded time; the other 7 go on', async (t) => {
  const f = ready(t)
  if (f === null) return
  const lost = f.fleet.hosts[3]
  if (lost === undefined) throw new Error('unreachable')
  const keepAlive = 1
  const group = new Group({ stderr: 'pipe', keepAlive })
  t.teardown(async () => {
    f.fleet.linkUp(lost)
    await group.terminate(5)
  })
  const gateways = await group.makeGateways(f.fleet.hosts.map((h) => h.spec(`//python=${f.python}`)))
  const lostGw = gateways[3] as Gateway
  // a channel streaming to the master, as a running map does, and one waiting on it
  const busy = lostGw.remoteExec('import time\nwhile True:\n    channel.send(1)\n    time.sleep(0.05)')
  await busy.receive({ timeout: 10 })
  const waiting = lostGw.remoteExec('channel.send(channel.receive())')
  const pending = waiting.receive()
  const started = Date.now()
  f.fleet.linkDown(lost)
  const error = await pending.catch((e: unknown) => e)
  const seconds = (Date.now() - started) / 1000
  t.type(error, GatewayClosedError, `the pending receive() rejects with a GatewayClosedError (${String(error)})`)
  // 3 probes 1 s apart after up to 1 s of silence: 3-4 s; the bound leaves room for a loaded machine
  t.ok(seconds < 4 * keepAlive + 6, `detected in ${seconds.toFixed(1)} s, within ${4 * keepAlive + 6} s`)
  t.ok(seconds >= 2 * keepAlive, `not before the probes could have failed (${seconds.toFixed(1)} s)`)
  t.equal(lostGw.phase === 'open', false, 'the gateway is no longer open')
  const others = gateways.filter((g) => g !== lostGw)
  const answers = await Promise.all(others.map(async (g) => await g.remoteExec('channel.send(7)').receive({ timeout: 10 })))
  t.same(answers, Array(7).fill(7), 'the other 7 gateways still answer')
  t.equal(group.size, 7, 'the group holds the 7')
})

t.test('keepAlive is checked: a whole number of seconds >= 0', async (t) => {
  const f = ready(t)
  if (f === null) return
  const host = f.fleet.hosts[0]
  if (host === undefined) throw new Error('unreachable')
  for (const bad of [-1, 0.5, Number.NaN]) {
    await t.rejects(new Group({ keepAlive: bad }).makeGateway(host.spec()), { name: 'OptionError' })
  }
})
