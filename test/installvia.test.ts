// socket//installvia=ID, as execnet: our socket server is started through
// gateway ID for one connection (with a fresh secret sent along that
// gateway's channel), and the new gateway connects to it.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { Gateway, Group, OptionError, SpecError, parseSpec } from '../index.js'
import { cpython, require } from './helpers/interpreters.js'
import { specFor } from './helpers/targets.js'
import { gone } from './helpers/processes.js'

t.test('spec: socket without an address needs installvia=, which needs socket and neither via= nor server=', async (t) => {
  const spec = parseSpec('socket//installvia=gw0')
  t.equal(spec.transport, 'socket')
  t.equal(spec.installvia, 'gw0')
  t.equal(spec.socket, undefined)
  t.equal(parseSpec('socket=10.0.0.1:0//installvia=gw0').socket, '10.0.0.1:0', 'where it listens, when given')
  t.throws(() => parseSpec('socket'), { name: 'SpecError', message: /socket needs host:port, or installvia=ID/ })
  t.throws(() => parseSpec('popen//installvia=gw0'), { name: 'SpecError', message: /installvia= needs socket/ })
  t.throws(() => parseSpec('socket//installvia=gw0//via=gw1'), SpecError)
  t.throws(() => parseSpec('socket//installvia=gw0//server=execnet'), SpecError)
  await t.rejects(Gateway.start('socket//installvia=gw0'), OptionError, 'outside a group there is no gateway to start it through')
})

function parentOf (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
}

for (const minor of ['3.12', '2.7']) {
  t.test(`CPython ${minor}: a socket gateway through a server started by a popen gateway`, async (t) => {
    const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
    if (interp === null) return
    const group = new Group({ stderr: 'pipe' })
    t.teardown(async () => { await group.terminate(5) })
    // the socket gateway first in the list: it waits for the one it goes through
    const [gw, first] = await group.makeGateways(['socket//installvia=first', `${specFor(interp)}//id=first`]) as [Gateway, Gateway]
    const info = await gw.rinfo()
    t.equal(info.version_info.slice(0, 2).join('.'), minor, "the server runs first's interpreter, and so does its worker")
    t.not(info.pid, first.pid)
    // the worker is the child of the one-shot server, which runs inside first's worker
    t.equal(parentOf(info.pid), first.pid, "its worker is a child of first's worker")
    const echo = gw.remoteExec('for x in channel:\n    channel.send(x * 2)')
    for (let i = 0; i < 50; i++) await echo.send(i)
    const got: unknown[] = []
    for (let i = 0; i < 50; i++) got.push(await echo.receive({ timeout: 10 }))
    t.same(got, Array.from({ length: 50 }, (_, i) => i * 2))
    t.same(await gw.terminate(5), { exitCode: 0, signal: null })
    t.ok(await gone(info.pid, 5000), 'its worker is gone')
    t.equal(await first.remoteExec('channel.send(1)').receive({ timeout: 10 }), 1, 'the gateway it went through goes on')
    const again = await group.makeGateway('socket//installvia=first')
    t.equal(await again.remoteExec('channel.send(7)').receive({ timeout: 10 }), 7, 'a second one starts a second server')
  })
}

t.test('a server that cannot listen is a BootstrapError naming the address', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const group = new Group({ stderr: 'pipe' })
  t.teardown(async () => { await group.terminate(5) })
  await group.makeGateway(`${specFor(interp)}//id=first`)
  await t.rejects(group.makeGateway('socket=192.0.2.1:1//installvia=first'), { name: 'BootstrapError', message: /cannot listen on 192\.0\.2\.1:1/ })
})
