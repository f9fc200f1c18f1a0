// One pool over every transport at once: popen, ssh (the test sshd), our
// socket server, and via= through another of the pool's gateways, on
// CPython 3.12 and 2.7. Every worker takes part, and a worker killed in the
// middle of a map is replaced over its own transport.
import t from 'tap'
import { Pool, type Gateway } from '../index.js'
import { cpython, require } from './helpers/interpreters.js'
import { specFor } from './helpers/targets.js'
import { startSshd } from './helpers/sshd.js'
import { startSocketServer } from './helpers/socketserver.js'

const sshd = await startSshd()
t.teardown(async () => { await sshd?.stop() })

t.test('a pool over popen, ssh, socket and via workers at once', async (t) => {
  const py312 = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  const py27 = require(t, cpython('2.7'), 'CPython 2.7 (pyenv)')
  const host = require(t, sshd, 'sshd (Debian openssh-server)')
  if (py312 === null || py27 === null || host === null) return
  const server = await startSocketServer(py312.argv[0] as string)
  t.teardown(async () => { await server.stop() })
  const ssh = { host: host.host, config: host.config }
  const specs = [
    specFor(py312),
    specFor(py27, 'ours', '', ssh),
    `socket=${server.address}`,
    `${specFor(py312)}//id=jump`,
    `popen//via=jump//python=${py27.argv[0] as string}`
  ]
  const pool = await Pool.start(specs, { gateway: { secret: server.secret } })
  t.teardown(async () => { await pool.close(5) })
  t.equal(pool.size, 5, 'one worker per spec')
  t.same(pool.gateways.map((g) => g.spec.text.split('//')[0]), ['popen', `ssh=${host.host}`, `socket=${server.address}`, 'popen', 'popen'])

  const where = pool.function('import os, sys, time\ndef where(x):\n    time.sleep(0.002)\n    return [os.getpid(), sys.version_info[0], x * 3]')
  const inputs = Array.from({ length: 1000 }, (_, i) => i)
  const results = await where.map(inputs) as Array<[number, number, number]>
  t.same(results.map((r) => r[2]), inputs.map((x) => x * 3), 'every result, in input order')
  const pids = new Set(results.map((r) => r[0]))
  const workerPids = await Promise.all(pool.gateways.map(async (g) => (await g.rinfo()).pid))
  t.same([...pids].sort(), [...workerPids].sort(), 'every worker took part')
  t.same(new Set(results.map((r) => r[1])), new Set([2, 3]), 'on both Pythons')

  // kill the ssh worker's Python (its pid is the remote one) in the middle of a map
  const victim = pool.gateways[1] as Gateway
  const victimPid = workerPids[1] as number
  const replaced = new Promise<Gateway>((resolve) => { pool.once('replaced', (lost, fresh) => { if (lost === victim) resolve(fresh) }) })
  setTimeout(() => { process.kill(victimPid, 'SIGKILL') }, 300)
  const many = Array.from({ length: 3000 }, (_, i) => i)
  const again = await where.map(many) as Array<[number, number, number]>
  t.same(again.map((r) => r[2]), many.map((x) => x * 3), 'a worker killed mid-map: every result present and correct')
  const fresh = await replaced
  t.match(fresh.spec.text, /^ssh=/, 'replaced over ssh, from its spec')
  t.equal(pool.size, 5)
  t.equal((await where(7) as [number, number, number])[2], 21)
})
