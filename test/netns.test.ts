// The fleet helper itself (test/helpers/netns.ts), which the fleet and SLURM
// tests stand on: every host is its own network namespace with its own
// address and sshd, a command runs inside it, its link goes down and up, and
// stop() leaves no namespace, link, process or file behind.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createConnection } from 'node:net'
import { dirname } from 'node:path'
import { require } from './helpers/interpreters.js'
import { fleetProblem, startFleet } from './helpers/netns.js'
import { gone } from './helpers/processes.js'

/** Whether the port accepts within ms; the socket destroyed, not ended (see listening() in helpers/sshd.ts). */
async function reachable (address: string, port: number, ms: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = createConnection({ host: address, port })
    const timer = setTimeout(() => { socket.destroy(); resolve(false) }, ms)
    socket.once('connect', () => { clearTimeout(timer); socket.destroy(); resolve(true) })
    socket.once('error', () => { clearTimeout(timer); resolve(false) })
  })
}

const problem = fleetProblem()

t.test('a fleet of 3 hosts: namespaces, addresses, sshd, link down and up, nothing left after stop', async (t) => {
  if (require(t, problem === null ? true : null, problem ?? '') === null) return
  const fleet = await startFleet({ hosts: 3, prefix: 'h' })
  if (fleet === null) throw new Error('fleetProblem said yes, startFleet no')
  t.teardown(fleet.stop)
  t.same(fleet.hosts.map((h) => h.name), ['h-0', 'h-1', 'h-2'])
  const inodes = new Set<string>()
  for (const host of fleet.hosts) {
    const r = await fleet.run(host, ['sh', '-c', 'readlink /proc/self/ns/net; ip -o -4 addr show dev eth0'])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, new RegExp(`inet ${host.address.replace(/\./g, '\\.')}/24`), `${host.name} has its address inside`)
    inodes.add(r.stdout.split('\n')[0] ?? '')
    const ssh = spawnSync('ssh', ['-F', fleet.config, '-o', 'BatchMode=yes', host.name, 'cat /proc/net/fib_trie | grep -c ' + host.address], { encoding: 'utf8', timeout: 20_000 })
    t.equal(ssh.status, 0, `ssh ${host.name}: ${ssh.stderr}`)
  }
  t.equal(inodes.size, 3, 'three network namespaces, none the root one')
  const root = spawnSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }).stdout.trim()
  t.notOk(inodes.has(root))

  const [first, second] = fleet.hosts
  if (first === undefined || second === undefined) throw new Error('unreachable')
  const hostToHost = await fleet.run(first, ['bash', '-c', `exec 3<>/dev/tcp/${second.address}/22 && echo open`], 10_000)
  t.equal(hostToHost.stdout.trim(), 'open', 'the hosts reach each other over the bridge')

  fleet.linkDown(first)
  t.notOk(await reachable(first.address, 22, 1000), 'link down: the host cannot be reached')
  t.ok(await reachable(second.address, 22, 5000), 'the others can')
  fleet.linkUp(first)
  t.ok(await reachable(first.address, 22, 5000), 'link up again: reachable')

  const sshdPids = spawnSync('ip', ['netns', 'pids', first.namespace], { encoding: 'utf8' }).stdout.split('\n').map(Number).filter((p) => p > 0)
  t.ok(sshdPids.length > 0, 'an sshd runs in the host')
  await fleet.stop()
  await fleet.stop()
  t.same(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => fleet.hosts.some((h) => l.startsWith(h.namespace + ' ') || l === h.namespace)), [], 'no namespace left')
  t.notOk(spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.split('\n').some((l) => fleet.hosts.some((h) => l.includes(` ${h.link}@`) || l.includes(` ${h.link}:`))), 'no link left')
  for (const pid of sshdPids) t.ok(await gone(pid, 5000), `no process left (pid ${pid})`)
  t.notOk(existsSync(dirname(fleet.config)), 'no files left')
})

t.test('a fleet of 0 hosts is a RangeError', async (t) => {
  if (require(t, problem === null ? true : null, problem ?? '') === null) return
  await t.rejects(startFleet({ hosts: 0 }), RangeError)
})
