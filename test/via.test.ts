// via= gateways: made through another gateway, their frames travelling in a
// channel of the first (popen via popen, ssh via popen), as execnet's
// `popen//via=master`.
import t from 'tap'
import { BootstrapError, Gateway, Group, OptionError } from '../index.js'
import { cpython, require, venvPython } from './helpers/interpreters.js'
import { startExecnetSocketServer, startSocketServer } from './helpers/socketserver.js'
import { startSshd } from './helpers/sshd.js'
import { gone } from './helpers/processes.js'

const sshd = await startSshd()
t.teardown(async () => { await sshd?.stop() })

t.test('popen via popen: CPython 3.12 starts and relays a 2.7 worker', async (t) => {
  const py312 = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  const py27 = require(t, cpython('2.7'), 'CPython 2.7 (pyenv)')
  if (py312 === null || py27 === null) return
  const group = new Group({ stderr: 'pipe' })
  t.teardown(() => group.terminate(5))
  const master = await group.makeGateway(`popen//id=master//python=${py312.argv[0] as string}`)
  const gw = await group.makeGateway(`popen//via=master//python=${py27.argv[0] as string}//env:VIA=yes`)
  const info = await gw.rinfo()
  t.equal(info.version_info.slice(0, 2).join('.'), '2.7')
  t.not(info.pid, (await master.rinfo()).pid, 'a process of its own')
  t.equal(await gw.remoteExec('import os; channel.send(os.environ["VIA"])').receive(), 'yes', 'env applies')
  const stderr: Buffer[] = []
  gw.stderr.on('data', (c: Buffer) => stderr.push(c))
  const echo = gw.remoteExec('import sys\nfor x in channel:\n    channel.send(x)\nsys.stderr.write("relayed-stderr\\n")')
  const values = [1, 'two', [3, 4], new Map([['five', 5]])]
  for (const v of values) {
    await echo.send(v)
    t.same(await echo.receive(), v)
  }
  echo.end()
  await echo.waitClose(10)
  const big = gw.remoteExec('n = 0\nfor c in channel:\n    n += len(c)\nchannel.send(n)')
  for (let i = 0; i < 64; i++) await big.send(Buffer.alloc(1 << 20, i))
  big.end()
  t.equal(await big.receive(), 64 << 20, '64 MiB through the relay')
  t.same(await gw.terminate(5), { exitCode: 0, signal: null })
  t.match(Buffer.concat(stderr).toString(), /relayed-stderr/, "the relayed worker's stderr reaches its gateway")
  t.ok(await gone(info.pid, 5000), 'the relayed worker is gone')

  const killed = await group.makeGateway(`popen//via=master//python=${py27.argv[0] as string}`)
  const pid = (await killed.rinfo()).pid
  killed.kill()
  t.ok(await gone(pid, 5000), 'kill() reaches the relayed worker')
})

t.test('ssh via popen', async (t) => {
  const py312 = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (py312 === null || require(t, sshd, 'sshd (Debian openssh-server)') === null || sshd === null) return
  const group = new Group({ stderr: 'pipe' })
  t.teardown(() => group.terminate(5))
  await group.makeGateway(`popen//id=jump//python=${py312.argv[0] as string}`)
  const gw = await group.makeGateway(`ssh=${sshd.host}//ssh_config=${sshd.config}//via=jump//python=${py312.argv[0] as string}`)
  t.equal((await gw.rinfo()).version_info[0], 3)
  const ch = gw.remoteExec('channel.send(channel.receive() * 3)')
  await ch.send(14)
  t.equal(await ch.receive(), 42)
  t.same(await gw.terminate(5), { exitCode: 0, signal: null })
})

t.test('socket via popen: our server (secret answered through the relay) and execnet\'s', async (t) => {
  const py312 = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  const venv = require(t, venvPython(), 'the venv with execnet 2.x (.ci/run makes it)')
  if (py312 === null || venv === null) return
  const server = await startSocketServer(py312.argv[0] as string)
  t.teardown(() => server.stop())
  const group = new Group({ stderr: 'pipe' })
  t.teardown(() => group.terminate(5))
  await group.makeGateway(`popen//id=jump//python=${py312.argv[0] as string}`)
  const gw = await group.makeGateway(`socket=${server.address}//via=jump`, { secret: server.secret })
  t.equal(gw.pid, undefined, 'a relayed connection has no process of its own')
  const echo = gw.remoteExec('for x in channel:\n    channel.send(x)')
  for (const v of [1, 'two', [3, 4]]) {
    await echo.send(v)
    t.same(await echo.receive(), v)
  }
  echo.end()
  const big = gw.remoteExec('n = 0\nfor c in channel:\n    n += len(c)\nchannel.send(n)')
  for (let i = 0; i < 32; i++) await big.send(Buffer.alloc(1 << 20, i))
  big.end()
  t.equal(await big.receive(), 32 << 20, '32 MiB through the relayed connection')
  t.same(await gw.terminate(5), { exitCode: 0, signal: null })

  const refused = await group.makeGateway(`socket=${server.address}//via=jump`, { secret: 'wrong' }).catch((e: unknown) => e)
  t.type(refused, BootstrapError)
  t.match((refused as Error).message, /refused the secret/)
  const nobody = await group.makeGateway('socket=127.0.0.1:1//via=jump', { secret: 'x' }).catch((e: unknown) => e)
  t.type(nobody, BootstrapError)
  t.match((nobody as Error).message, /through gateway jump: cannot connect to 127\.0\.0\.1:1/)

  const killed = await group.makeGateway(`socket=${server.address}//via=jump`, { secret: server.secret })
  const pid = (await killed.rinfo()).pid
  killed.kill()
  t.same(await killed.waitExit(), { exitCode: null, signal: 'SIGKILL' })
  t.ok(await gone(pid, 5000), "kill() closes the relayed connection: the server's worker ends")

  const execnetServer = await startExecnetSocketServer(venv.argv[0] as string, venv.env)
  t.teardown(() => execnetServer.stop())
  const compat = await group.makeGateway(`socket=${execnetServer.address}//server=execnet//via=jump`)
  t.equal((await compat.rinfo()).pid, execnetServer.pid, "execnet's socketserver.py through the relay")
  t.same(await compat.terminate(5), { exitCode: 0, signal: null })
})

t.test('via= errors', async (t) => {
  const py312 = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (py312 === null) return
  await t.rejects(Gateway.start('popen//via=master'), OptionError, 'outside a group')
  const group = new Group({ stderr: 'pipe' })
  t.teardown(() => group.terminate(5))
  await t.rejects(group.makeGateway('popen//via=nobody'), /no gateway "nobody" in the group/)
  await group.makeGateway(`popen//id=master//python=${py312.argv[0] as string}`)
  const missing = await group.makeGateway('popen//via=master//python=/no/such/python').catch((e: unknown) => e)
  t.type(missing, BootstrapError)
  t.match((missing as Error).message, /through gateway master: cannot start \/no\/such\/python/)
})

t.test('via: a signal reaches the master by name; a grandchild holding the pipes does not hold the end; the group ends the relayed gateway before its host', async (t) => {
  const py = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (py === null) return
  const group = new Group({ stderr: 'pipe' })
  t.teardown(async () => { await group.terminate(5) })
  await group.makeGateway(`popen//id=host//python=${py.argv[0] as string}`)
  const spec = `popen//via=host//python=${py.argv[0] as string}`

  const signalled = await group.makeGateway(spec)
  process.kill((await signalled.rinfo()).pid, 'SIGTERM')
  t.same(await signalled.waitExit(), { exitCode: null, signal: 'SIGTERM' }, 'SIGTERM, not SIGKILL: the relay passes the number on')

  const parent = await group.makeGateway(spec)
  const sleeper = await parent.remoteExec('import subprocess\np = subprocess.Popen(["sleep", "30"])\nchannel.send(p.pid)').receive() as number
  t.teardown(() => { try { process.kill(sleeper, 'SIGKILL') } catch {} })
  const t0 = Date.now()
  const info = await parent.terminate(5)
  t.ok(Date.now() - t0 < 8000, `terminate() resolved in ${Date.now() - t0} ms though a grandchild holds the relayed pipes`)
  t.same(info, { exitCode: 0, signal: null })

  const relayed = await group.makeGateway(spec)
  const results = await group.terminate(5)
  t.equal(results.length, 2, 'the host and the relayed one')
  t.equal(relayed.phase, 'closed', `the relayed gateway closed cleanly, not cut short by its host's end: ${String(relayed.failure)}`)
})
