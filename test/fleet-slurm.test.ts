// SLURM across hosts: four fleet hosts (network namespaces, test/helpers/netns.ts)
// are four nodes of one cluster, slurmctld on this side of the bridge and a
// slurmd in each (test/helpers/slurm.ts). Workers started by slurm= land on
// the nodes, inside their namespaces, and connect back over the bridge to the
// address given by listen=; a Pool of them spreads a map over the four.
import t from 'tap'
import type { Test } from 'tap'
import { Group, Pool, type Gateway } from '../index.js'
import { cpython, require } from './helpers/interpreters.js'
import { fleetProblem, startFleet, type Fleet } from './helpers/netns.js'
import { slurmProblem, startFleetCluster, type Cluster } from './helpers/slurm.js'

const problem = fleetProblem() ?? slurmProblem()
const interp = cpython('3.12')
let fleet: Fleet | null = null
let cluster: Cluster | null = null
if (problem === null) {
  fleet = await startFleet({ hosts: 4, prefix: 'node' })
  if (fleet !== null) cluster = await startFleetCluster(fleet, 4)
}
t.teardown(async () => {
  await cluster?.stop()
  await fleet?.stop()
})

function ready (t: Test): { fleet: Fleet, cluster: Cluster, python: string } | null {
  if (require(t, problem === null ? true : null, problem ?? '') === null || fleet === null || cluster === null) return null
  const found = require(t, interp, 'CPython 3.12 (pyenv)')
  if (found === null) return null
  return { fleet, cluster, python: found.argv[0] as string }
}

/** The node's network namespace, its address, and the peer of the connection it serves on (the master's end). */
const WHERE = `import os, socket
peers = []
for fd in os.listdir('/proc/self/fd'):
    try:
        s = socket.fromfd(int(fd), socket.AF_INET, socket.SOCK_STREAM)
        peers.append(s.getpeername()[0])
    except (OSError, ValueError):
        pass
channel.send([os.readlink('/proc/self/ns/net'), os.environ['SLURMD_NODENAME'], peers])`

t.test('4*slurm=--exclusive over 4 nodes in 4 namespaces, connected back over the bridge', async (t) => {
  const f = ready(t)
  if (f === null) return
  const spec = `4*slurm=--exclusive --time=5//listen=${f.fleet.masterAddress}//python=${f.python}//env:SLURM_CONF=${f.cluster.conf}`
  const group = new Group({ stderr: 'pipe' })
  t.teardown(async () => { await group.terminate(10) })
  const gateways: Gateway[] = await group.makeGateways([spec])
  const nodes = gateways.map((g) => g.slurmJob?.node)
  t.same([...nodes].sort(), f.cluster.nodes.slice().sort(), 'one worker on each node')
  for (const gw of gateways) {
    const [inode, node, peers] = await gw.remoteExec(WHERE).receive() as [string, string, string[]]
    const host = f.fleet.hosts.find((h) => h.name === node)
    if (host === undefined) throw new Error(`no host ${node}`)
    t.equal(inode, (await f.fleet.run(host, ['readlink', '/proc/self/ns/net'])).stdout.trim(), `${node}'s worker runs in ${host.namespace}`)
    t.ok(peers.includes(f.fleet.masterAddress), `${node} connected back to ${f.fleet.masterAddress} (peers: ${peers.join(', ')})`)
  }
  await group.terminate(10)
  const left = await f.cluster.jobs()
  t.same(left.filter((j) => j.state !== 'CG'), [], 'no job left running')
})

t.test('a Pool of four slurm workers, one per node', async (t) => {
  const f = ready(t)
  if (f === null) return
  const pool = await Pool.start([`4*slurm=--exclusive --time=5//listen=${f.fleet.masterAddress}//python=${f.python}//env:SLURM_CONF=${f.cluster.conf}`])
  t.teardown(async () => { await pool.close() })
  const where = pool.function('def where(x):\n    import os, time\n    time.sleep(0.002)\n    return (x + 1, os.environ["SLURMD_NODENAME"])')
  const results = await where.map(Array.from({ length: 400 }, (_, i) => i)) as Array<[number, string]>
  t.same(results.map((r) => r[0]), Array.from({ length: 400 }, (_, i) => i + 1), 'every result, in input order')
  t.same([...new Set(results.map((r) => r[1]))].sort(), f.cluster.nodes.slice().sort(), 'the work spread over the four nodes')
})
