// Beyond one machine (issue 26), in one run and one table: a fleet of 8 ssh
// hosts, each a network namespace with its own sshd (test/helpers/netns.ts).
// Fleet start-up: ours (Group.makeGateways, all at once) against the real
// execnet's Group (makegateway one after another), goal <= 0.5x. Bulk
// master -> worker across a namespace link: through an ssh gateway against a
// raw TCP copy over the same link to a Python sink in the namespace. The
// keep-alive: how long a cut link takes to fail its gateway. The contenders
// of each row take turns, round by round (ours, theirs, theirs, ours...), so
// a change in the machine's speed hits both alike; medians are printed.
//
// SLURM: hosts 0-3 are also the four nodes of one cluster
// (test/helpers/slurm.ts). Start-up of 4 slurm= workers, to a value back
// from each, against 4 bare `srun python -c 'print(1)'` at once, to their
// 4 values (the same four allocations, nothing of ours), goal <= 1.2x; and
// against 4 bare `srun python -c pass` to their exit, the former reference,
// which also counts the bare steps' end. Bulk through the connect-back path
// against the raw TCP copy over the same link, goal >= 0.8x; and through
// srun's own stdio (data=stdio) for what that path would cost.
// Run with `npm run bench:cluster` (as root: it makes namespaces);
// BENCH_PYTHON picks the interpreter (default: the test venv's, which has
// execnet), ROUNDS the turns, BULK_MIB the bulk size, ROWS (a word of the
// rows' names, e.g. SLURM) only the rows that have it, to iterate on them;
// the whole table is the default.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { Group, type Gateway } from 'execnet'
import { repoRoot } from '../test/helpers/interpreters.js'
import { fleetProblem, startFleet, type Fleet } from '../test/helpers/netns.js'
import { slurmProblem, startFleetCluster, type Cluster } from '../test/helpers/slurm.js'
import { median, now } from './measure.js'

const ROUNDS = Number(process.env.ROUNDS ?? 5)
const BULK_MIB = Number(process.env.BULK_MIB ?? 128)
const KEEPALIVE = 1
const python = process.env.BENCH_PYTHON ?? join(repoRoot, '.venv', 'bin', 'python')
if (!existsSync(python)) throw new Error(`no ${python}: make the venv as .ci/run does, or set BENCH_PYTHON`)
const problem = fleetProblem() ?? slurmProblem()
if (problem !== null) throw new Error(`bench/cluster needs ${problem}`)

/** One contender of a row: a sample is one measurement in the row's unit. */
interface Contender { label: string, sample: () => Promise<number> }

/**
 * One line of the table: the first contender is ours, the second the
 * reference; `goal` reads the ratio ours/reference (or, with one contender,
 * ours against a bound).
 */
interface Row {
  name: string
  unit: 's' | 'MB/s'
  contenders: [Contender] | [Contender, Contender]
  goal: string
  /** Whether the goal holds, for the printed verdict. */
  met: (ours: number, reference: number | undefined) => boolean
}

const fleet: Fleet = await startFleet({ hosts: 8 }) ?? (() => { throw new Error('no fleet') })()
const cluster: Cluster = await startFleetCluster(fleet, 4) ?? (() => { throw new Error('no SLURM cluster') })()
const slurmEnv = { ...process.env, SLURM_CONF: cluster.conf }
const slurmSpec = (srun: string, extra = ''): string => `slurm=${srun}//python=${python}//env:SLURM_CONF=${cluster.conf}${extra}`
const SINK_PORT = 9100
// a TCP sink in host 0: counts what it reads to EOF and answers the count
const sinkArgv = fleet.command(fleet.hosts[0] as (typeof fleet.hosts)[number], [python, '-u', '-c', [
  'import socket',
  's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
  `s.bind(("0.0.0.0", ${SINK_PORT})); s.listen(4); print("ready")`,
  'while True:',
  '    c, _ = s.accept(); n = 0',
  '    while True:',
  '        b = c.recv(1 << 20)',
  '        if not b: break',
  '        n += len(b)',
  '    c.sendall(str(n).encode()); c.close()'
].join('\n')])
const sink = spawn(sinkArgv[0] as string, sinkArgv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] })
await new Promise((resolve) => { sink.stdout.once('data', resolve) })

// random bytes: ssh compresses (-C, as execnet), and zeros would measure that
const CHUNK = randomBytes(1 << 20)
const specs = fleet.hosts.map((h) => h.spec(`//python=${python}`))
let execnetVersion = '?'

async function oursStartup (): Promise<number> {
  const group = new Group({ stderr: 'pipe' })
  const t0 = now()
  const gateways = await group.makeGateways(specs)
  await Promise.all(gateways.map(async (gw) => await gw.remoteExec('channel.send(1)').receive()))
  const elapsed = now() - t0
  await group.terminate(10)
  return elapsed
}

async function execnetStartup (): Promise<number> {
  const out = JSON.parse(execFileSync(python, [join(repoRoot, 'bench', 'cluster-execnet.py'), JSON.stringify(specs)], { encoding: 'utf8' })) as { version: string, seconds: number }
  execnetVersion = out.version
  return out.seconds
}

async function oursSlurmStartup (): Promise<number> {
  const group = new Group({ stderr: 'pipe' })
  const t0 = now()
  const gateways = await group.makeGateways([`4*${slurmSpec('--exclusive', `//listen=${fleet.masterAddress}`)}`])
  await Promise.all(gateways.map(async (gw) => await gw.remoteExec('channel.send(1)').receive()))
  const elapsed = now() - t0
  await group.terminate(10)
  return elapsed
}

/**
 * Four `srun --exclusive python -c 'print(1)'` at once, to the point where
 * every value is back on srun's stdout: the four allocations and
 * interpreters, nothing else, stopped where ours is (a value back), not
 * after the step's end, which ours is not timed for.
 */
async function bareSrunValues (): Promise<number> {
  const t0 = now()
  let t1 = 0
  let values = 0
  await Promise.all([0, 1, 2, 3].map(async () => await new Promise<void>((resolve, reject) => {
    const child = spawn('srun', ['--exclusive', '--quiet', '--unbuffered', '-n1', python, '-c', 'print(1)'], { env: slurmEnv, stdio: ['ignore', 'pipe', 'inherit'] })
    child.stdout.once('data', () => { if (++values === 4) t1 = now() })
    child.once('exit', (code) => { if (code === 0) resolve(); else reject(new Error(`srun exited ${String(code)}`)) })
  })))
  if (values < 4) throw new Error(`only ${values} of 4 bare sruns printed their value`)
  return t1 - t0
}

/** Four `srun --exclusive python -c pass` at once, to srun's exit: the step's end too. */
async function bareSrunStartup (): Promise<number> {
  const t0 = now()
  await Promise.all([0, 1, 2, 3].map(async () => await new Promise<void>((resolve, reject) => {
    const child = spawn('srun', ['--exclusive', '--quiet', '-n1', python, '-c', 'pass'], { env: slurmEnv, stdio: 'inherit' })
    child.once('exit', (code) => { if (code === 0) resolve(); else reject(new Error(`srun exited ${String(code)}`)) })
  })))
  return now() - t0
}

const bulkGateways = new Map<string, Gateway>()
/**
 * Bulk into a worker of this spec. An ssh gateway is kept across rounds; a
 * SLURM one is ended after its sample, or its job would hold the node the
 * next round's 4 exclusive workers need.
 */
function bulkInto (spec: string, keep = true): () => Promise<number> {
  return async () => {
    let gw = bulkGateways.get(spec)
    if (gw === undefined) {
      gw = await new Group({ stderr: 'pipe' }).makeGateway(spec)
      if (keep) bulkGateways.set(spec, gw)
    }
    try {
      return await bulkTo(gw)
    } finally {
      if (!keep) await gw.terminate(10)
    }
  }
}

async function bulkTo (gateway: Gateway): Promise<number> {
  const ch = gateway.remoteExec('n = 0\nwhile True:\n    x = channel.receive()\n    if x is None:\n        break\n    n += len(x)\nchannel.send(n)')
  const t0 = now()
  for (let i = 0; i < BULK_MIB; i++) await ch.send(CHUNK)
  await ch.send(null)
  const n = await ch.receive() as number
  const elapsed = now() - t0
  if (n !== BULK_MIB << 20) throw new Error(`the worker counted ${n} bytes`)
  return BULK_MIB * 1.048576 / elapsed
}

const oursBulk = bulkInto(specs[0] as string)

async function rawBulk (): Promise<number> {
  const socket = connect({ host: fleet.hosts[0]?.address, port: SINK_PORT })
  await new Promise((resolve) => socket.once('connect', resolve))
  const t0 = now()
  const answer = new Promise<string>((resolve) => {
    let text = ''
    socket.on('data', (c: Buffer) => { text += c.toString() })
    socket.once('end', () => { resolve(text) })
  })
  for (let i = 0; i < BULK_MIB; i++) {
    if (!socket.write(CHUNK)) await new Promise((resolve) => socket.once('drain', resolve))
  }
  socket.end()
  const n = Number(await answer)
  const elapsed = now() - t0
  socket.destroy()
  if (n !== BULK_MIB << 20) throw new Error(`the sink counted ${n} bytes`)
  return BULK_MIB * 1.048576 / elapsed
}

/** The same bytes through a bare `ssh -C HOST cat`: what ssh itself allows, as the gateway runs it. */
async function sshBulk (): Promise<number> {
  const child = spawn('ssh', ['-C', '-o', 'BatchMode=yes', '-F', fleet.config, fleet.hosts[0]?.name ?? '', 'cat > /dev/null'], { stdio: ['pipe', 'ignore', 'inherit'] })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  // the session is up before the clock starts, as the gateway's is
  await new Promise((resolve) => child.once('spawn', resolve))
  await new Promise((resolve) => setTimeout(resolve, 300))
  const t0 = now()
  for (let i = 0; i < BULK_MIB; i++) {
    if (!child.stdin.write(CHUNK)) await new Promise((resolve) => child.stdin.once('drain', resolve))
  }
  child.stdin.end()
  await exited
  return BULK_MIB * 1.048576 / (now() - t0)
}

async function keepAliveDetection (): Promise<number> {
  const host = fleet.hosts[7] as (typeof fleet.hosts)[number]
  const group = new Group({ stderr: 'pipe', keepAlive: KEEPALIVE })
  const gw = await group.makeGateway(host.spec(`//python=${python}`))
  const pending = gw.remoteExec('channel.receive()').receive().catch(() => {})
  const t0 = now()
  fleet.linkDown(host)
  await pending
  const elapsed = now() - t0
  fleet.linkUp(host)
  await group.terminate(5)
  return elapsed
}

const allRows: Row[] = [
  {
    name: 'fleet start-up, 8 ssh hosts (to 8 receives)',
    unit: 's',
    contenders: [{ label: 'ours, makeGateways', sample: oursStartup }, { label: "execnet's Group", sample: execnetStartup }],
    goal: '<= 0.5x execnet',
    met: (o, r) => r !== undefined && o / r <= 0.5
  },
  {
    name: `bulk master -> worker across a namespace link, ${BULK_MIB} MiB`,
    unit: 'MB/s',
    contenders: [{ label: 'ours, ssh gateway', sample: oursBulk }, { label: 'raw TCP, same link', sample: rawBulk }],
    goal: 'ratio reported',
    met: () => true
  },
  {
    name: `bulk, the same link: bare \`ssh -C HOST cat\` (ssh's own ceiling)`,
    unit: 'MB/s',
    contenders: [{ label: 'ssh -C', sample: sshBulk }, { label: 'raw TCP, same link', sample: rawBulk }],
    goal: 'ratio reported',
    met: () => true
  },
  {
    name: `link down -> gateway failed, keepAlive ${KEEPALIVE} s`,
    unit: 's',
    contenders: [{ label: 'ours', sample: keepAliveDetection }],
    goal: `<= ${4 * KEEPALIVE} s (4x keepAlive)`,
    met: (o) => o <= 4 * KEEPALIVE
  },
  {
    name: '4 SLURM workers on 4 nodes (to 4 receives)',
    unit: 's',
    contenders: [{ label: 'ours, 4*slurm=', sample: oursSlurmStartup }, { label: '4 bare srun python -c print(1), to 4 values', sample: bareSrunValues }],
    goal: '<= 1.2x bare srun',
    met: (o, r) => r !== undefined && o / r <= 1.2
  },
  {
    // the former reference, for comparison with earlier runs: it also
    // counts the bare steps' end, which favours ours
    name: '4 SLURM workers on 4 nodes (to 4 receives), against bare srun to its exit',
    unit: 's',
    contenders: [{ label: 'ours, 4*slurm=', sample: oursSlurmStartup }, { label: '4 bare srun python -c pass, to exit', sample: bareSrunStartup }],
    goal: 'ratio reported',
    met: () => true
  },
  {
    name: `bulk master -> SLURM worker (node 0), connected back, ${BULK_MIB} MiB`,
    unit: 'MB/s',
    contenders: [{ label: 'ours, slurm= (tcp)', sample: bulkInto(slurmSpec(`--nodelist=${fleet.hosts[0]?.name ?? ''}`, `//listen=${fleet.masterAddress}`), false) }, { label: 'raw TCP, same link', sample: rawBulk }],
    goal: '>= 0.8x raw TCP',
    met: (o, r) => r !== undefined && o / r >= 0.8
  },
  {
    name: `bulk master -> SLURM worker on srun's stdio (data=stdio), ${BULK_MIB} MiB`,
    unit: 'MB/s',
    contenders: [{ label: 'ours, slurm=//data=stdio', sample: bulkInto(slurmSpec(`--nodelist=${fleet.hosts[0]?.name ?? ''}`, '//data=stdio'), false) }, { label: 'raw TCP, same link', sample: rawBulk }],
    goal: 'ratio reported',
    met: () => true
  }
]

const only = process.env.ROWS
const rows = only === undefined || only === '' ? allRows : allRows.filter((row) => row.name.toLowerCase().includes(only.toLowerCase()))
if (rows.length === 0) throw new Error(`no row of bench/cluster has ${only ?? ''} in its name`)

try {
  const samples = rows.map((row) => row.contenders.map(() => [] as number[]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [r, row] of rows.entries()) {
      // ours first on even rounds, the reference first on odd ones
      const order = row.contenders.map((_, i) => i)
      if (round % 2 === 1) order.reverse()
      for (const i of order) samples[r]?.[i]?.push(await (row.contenders[i] as Contender).sample())
    }
  }
  const version = execFileSync(python, ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).trim()
  const ssh = spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim().split(',')[0] ?? 'ssh'
  console.log(`# bench/cluster — ${new Date().toISOString().slice(0, 10)}, node ${process.version}, Python ${version} (${python}), execnet ${execnetVersion}, ${ssh}`)
  console.log(`# ${cpus().length}x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; 8 hosts = network namespaces on one bridge; medians of ${ROUNDS} rounds, contenders in turns`)
  console.log('| measurement | ours | reference | ours/reference | goal | met |')
  console.log('|---|---|---|---|---|---|')
  const fmt = (v: number | undefined, unit: Row['unit']): string => v === undefined ? '-' : unit === 's' ? `${v.toFixed(2)} s` : `${v.toFixed(0)} MB/s`
  for (const [r, row] of rows.entries()) {
    const [o, ref] = (samples[r] ?? []).map(median)
    const label = row.contenders[1] === undefined ? '-' : `${fmt(ref, row.unit)} (${row.contenders[1].label})`
    const ratio = ref === undefined ? '-' : ((o as number) / ref).toFixed(2)
    console.log(`| ${row.name} | ${fmt(o, row.unit)} | ${label} | ${ratio} | ${row.goal} | ${row.met(o as number, ref) ? 'yes' : 'no'} |`)
  }
} finally {
  for (const gw of bulkGateways.values()) await gw.terminate(5)
  sink.kill()
  await cluster.stop()
  await fleet.stop()
}
