// The slurm= transport on a real SLURM cluster (scripts/slurm-cluster.sh:
// munged, slurmctld, slurmd): a worker is a job step that connects back to
// the master over TCP (or talks on srun's stdio with data=stdio), the job is
// cancelled when the gateway is killed, SLURM's refusals are SlurmErrors
// with its message, a pending allocation is cancelled at startTimeout, and a
// connection that cannot prove the gateway's secret is refused.
import t, { type Test } from 'tap'
import { connect } from 'node:net'
import { cpus } from 'node:os'
import { Gateway, Group, Pool, SlurmError, SpecError, parseSpec } from '../index.js'
import { cpython, jython, pypy3, require, type Interpreter } from './helpers/interpreters.js'
import { slurmProblem, startCluster, type Cluster } from './helpers/slurm.js'
import { freePort } from './helpers/sshd.js'

t.test('slurm specs', async (t) => {
  t.equal(parseSpec('slurm=--partition=debug --time=10').transport, 'slurm')
  t.equal(parseSpec('slurm=--partition=debug --time=10').slurm, '--partition=debug --time=10')
  t.equal(parseSpec('slurm').slurm, '', 'a bare slurm: the cluster defaults')
  t.equal(parseSpec('slurm//listen=10.0.0.1:7000').listen, '10.0.0.1:7000')
  t.equal(parseSpec('slurm//data=stdio').data, 'stdio')
  t.throws(() => parseSpec('popen//listen=1.2.3.4'), { name: 'SpecError', part: 'listen=1.2.3.4' })
  t.throws(() => parseSpec('slurm//data=udp'), { name: 'SpecError', part: 'data=udp' })
  t.throws(() => parseSpec('slurm//listen=a b'), { name: 'SpecError', part: 'listen=a b' })
  t.throws(() => parseSpec('slurm//data=stdio//listen=h'), { name: 'SpecError', part: 'listen=h' })
  t.throws(() => parseSpec("slurm=--comment='x"), SpecError)
  t.throws(() => parseSpec('slurm=-p x//ssh=h'), /more than one transport/)
})

const problem = slurmProblem()
let cluster: Cluster | null = null
const withCluster = (name: string, fn: (t: Test, c: Cluster) => Promise<void>): void => {
  t.test(name, async (t) => {
    if (require(t, problem === null ? true : null, problem ?? '') === null) return
    cluster ??= await startCluster()
    if (cluster === null) throw new Error('slurmProblem said yes, startCluster no')
    await fn(t, cluster)
  })
}
t.teardown(async () => { await cluster?.stop() })

/** A spec on this cluster: its SLURM_CONF in srun's environment. */
const on = (c: Cluster, rest = ''): string => `slurm=--time=5//env:SLURM_CONF=${c.conf}${rest}`

async function gone (c: Cluster, name: string, ms = 15_000): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (!(await c.jobs()).some((j) => j.name === name)) return true
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return false
}

withCluster('a worker as a job step: connected back, its job known, env and chdir on the node, nothing left after exit', async (t, c) => {
  const gw = await Gateway.start(on(c, '//chdir=/tmp/execnet-slurm-wd//env:MARK=here'), {}, 'sl1')
  const job = gw.slurmJob
  if (job === undefined) throw new Error('no job')
  t.match(job.jobId, /^\d+$/)
  t.ok(c.nodes.includes(job.node), `node ${job.node} is one of ${c.nodes.join(',')}`)
  const [jobId, cwd, mark] = await gw.remoteExec('import os; channel.send((os.environ["SLURM_JOB_ID"], os.getcwd(), os.environ["MARK"]))').receive() as unknown[]
  t.same([jobId, cwd, mark], [job.jobId, '/tmp/execnet-slurm-wd', 'here'])
  t.ok((await c.jobs()).some((j) => j.id === job.jobId && j.state === 'R'), 'running in squeue')
  // bulk goes over the connection, not srun: 8 MiB each way
  const echo = gw.remoteExec('data = channel.receive()\nchannel.send(data[::-1])')
  const data = Buffer.alloc(8 << 20, 7)
  data[0] = 1
  await echo.send(data)
  const back = await echo.receive() as Buffer
  t.equal(back.length, data.length)
  t.equal(back[back.length - 1], 1)
  const exit = await gw.terminate(10)
  t.equal(exit.exitCode, 0, 'srun exits 0 with its step')
  t.ok(await gone(c, 'execnet-sl1'), 'no job left in squeue')
})

withCluster('kill() cancels the job: no step left in squeue', async (t, c) => {
  const gw = await Gateway.start(on(c), {}, 'sl2')
  const job = gw.slurmJob?.jobId
  // code that ignores the end of its channel
  gw.remoteExec('import time\nwhile 1: time.sleep(1)')
  await new Promise((resolve) => setTimeout(resolve, 200))
  const started = Date.now()
  gw.kill()
  await gw.waitExit()
  t.ok(Date.now() - started < 10_000, 'srun ended in bounded time')
  t.ok(await gone(c, 'execnet-sl2'), `job ${String(job)} cancelled`)
})

withCluster("SLURM's refusals are SlurmErrors carrying its message", async (t, c) => {
  const noPartition = await Gateway.start(`slurm=--partition=nowhere//env:SLURM_CONF=${c.conf}`).catch((e: unknown) => e)
  t.type(noPartition, SlurmError)
  t.match((noPartition as SlurmError).slurmMessage, /invalid partition/i)
  t.equal((noPartition as SlurmError).exitCode, 1, "srun's exit status")
  const tooBig = await Gateway.start(`slurm=--cpus-per-task=${cpus().length * 64}//env:SLURM_CONF=${c.conf}`).catch((e: unknown) => e)
  t.type(tooBig, SlurmError)
  t.match((tooBig as SlurmError).slurmMessage, /not available|more processors|Unable to allocate/i)
  const noPython = await Gateway.start(on(c, '//python=/nonexistent/python')).catch((e: unknown) => e)
  t.type(noPython, SlurmError, 'a node that cannot start the interpreter')
})

withCluster('an allocation pending at startTimeout is cancelled; a connection without the secret is refused', async (t, c) => {
  // every CPU of the cluster taken, so the next job waits for resources
  const blocker = await c.command(['sbatch', '--job-name=blocker', '--output=/dev/null', `--cpus-per-task=${cpus().length}`, '--wrap=sleep 120'])
  t.equal(blocker.code, 0, blocker.stderr)
  const until = Date.now() + 15_000
  while (!(await c.jobs()).some((j) => j.name === 'blocker' && j.state === 'R') && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 200))
  const started = Date.now()
  const err = await Gateway.start(on(c), { startTimeout: 2 }, 'pending').catch((e: unknown) => e)
  t.type(err, SlurmError)
  t.match((err as Error).message, /did not start within 2 seconds \(cancelled\)/)
  t.ok(Date.now() - started < 10_000, 'in bounded time')
  t.ok(await gone(c, 'execnet-pending'), 'the pending allocation left squeue')

  // while the next one waits, someone connects to its port without the secret
  const port = await freePort()
  const starting = Gateway.start(on(c, `//listen=127.0.0.1:${port}`), { startTimeout: 60 }, 'guarded')
  await new Promise((resolve) => setTimeout(resolve, 500))
  const intruder = await new Promise<string>((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    let got = ''
    s.on('data', (d: Buffer) => {
      got += d.toString()
      if (got.includes('\n')) s.write('0'.repeat(64) + ' 1 0 evil\n')
    })
    s.on('close', () => { resolve(got) })
    s.on('error', () => { resolve(got) })
  })
  t.match(intruder, /^[0-9a-f]{32}\n$/, 'the intruder got a challenge, then the connection was closed')
  await c.command(['scancel', '--name=blocker'])
  const gw = await starting
  t.equal(await gw.remoteExec('channel.send(6 * 7)').receive(), 42, 'the real node still connects and runs')
  await gw.terminate(10)
})

withCluster("data=stdio: the protocol on srun's own stdio", async (t, c) => {
  const gw = await Gateway.start(on(c, '//data=stdio'), {}, 'stdio')
  t.equal(gw.slurmJob, undefined)
  t.match(await gw.remoteExec('import os; channel.send(os.environ["SLURM_JOB_ID"])').receive(), /^\d+$/)
  await gw.terminate(10)
  t.ok(await gone(c, 'execnet-stdio'))
})

const interpreters: Array<[string, () => Interpreter | null]> = [
  ['2.7', () => cpython('2.7')], ['3.6', () => cpython('3.6')], ['3.13', () => cpython('3.13')], ['pypy3', pypy3], ['jython', jython]
]
for (const [name, find] of interpreters) {
  withCluster(`the connect-back program and the worker on ${name}`, async (t, c) => {
    const interp = require(t, find(), name)
    if (interp === null) return
    const gw = await Gateway.start(on(c, `//python=${interp.argv.join(' ')}`), {}, `py-${name}`)
    const [major, jobId, loaded] = await gw.remoteExec('import sys, os; channel.send((sys.version_info[0], os.environ["SLURM_JOB_ID"], [m for m in ("hmac", "_hashlib", "encodings.idna") if m in sys.modules]))').receive() as [number, string, string[]]
    t.same([major, jobId], [interp.major, gw.slurmJob?.jobId])
    // start-up time on every node: CPython has SHA-256 and sockets without them
    if (!['pypy3', 'jython'].includes(name)) t.same(loaded, [], 'neither hmac, OpenSSL nor the idna codec imported')
    await gw.terminate(10)
  })
}

withCluster('4*slurm in Group.makeGateways, and a Pool of slurm workers', async (t, c) => {
  const group = new Group()
  const gws = await group.makeGateways([`2*${on(c)}`, 'popen'])
  t.equal(gws.length, 3)
  t.equal(new Set(gws.slice(0, 2).map((g) => g.slurmJob?.jobId)).size, 2, 'two jobs')
  await t.rejects(group.makeGateways(['2*popen//id=x']), SpecError)
  await group.terminate(10)
  const pool = await Pool.start([`2*${on(c)}`])
  t.equal(pool.gateways.length, 2)
  const f = pool.function('def f(x):\n    import os\n    return (x * x, os.environ["SLURM_JOB_ID"])')
  const results = await f.map(Array.from({ length: 200 }, (_, i) => i)) as Array<[number, string]>
  t.same(results.map((r) => r[0]), Array.from({ length: 200 }, (_, i) => i * i))
  t.ok(results.every((r) => /^\d+$/.test(r[1])))
  await pool.close()
})
