/**
 * A SLURM cluster for the tests: the one `.ci/run` started (SLURM_CONF set
 * and answering), else one this test file starts itself with
 * scripts/slurm-cluster.sh on free ports (root and Debian's slurm-wlm and
 * munge needed), stopped at the end. Also the fleet's cluster: slurmctld
 * here, one slurmd per network-namespace host, four nodes of one cluster.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from './interpreters.js'
import { freePort } from './sshd.js'
import type { Fleet } from './netns.js'

const SCRIPT = join(repoRoot, 'scripts', 'slurm-cluster.sh')

export interface Cluster {
  /** Its slurm.conf: SLURM_CONF for srun, squeue, scancel (a spec's env:SLURM_CONF=). */
  conf: string
  /** The nodes' names. */
  nodes: string[]
  /** The jobs in squeue now: id, name, state (PD, R, CG...). */
  jobs: () => Promise<Array<{ id: string, name: string, state: string }>>
  /** Run a SLURM command (squeue, sbatch, scancel...) against this cluster. */
  command: (argv: string[]) => Promise<{ code: number | null, stdout: string, stderr: string }>
  stop: () => Promise<void>
}

function installed (): boolean {
  return ['slurmctld', 'slurmd', 'munged', 'srun'].every((p) => spawnSync('sh', ['-c', `command -v ${p}`]).status === 0)
}

/** Why no cluster can be had here, or null when one can. */
export function slurmProblem (): string | null {
  if (answers(process.env.SLURM_CONF)) return null
  if (!installed()) return 'SLURM (Debian slurm-wlm and munge)'
  if (process.getuid?.() !== 0) return 'SLURM (its daemons need root)'
  return null
}

function answers (conf: string | undefined): boolean {
  if (conf === undefined || !existsSync(conf)) return false
  return spawnSync('sinfo', ['--noheader'], { env: { ...process.env, SLURM_CONF: conf }, timeout: 10_000 }).status === 0
}

/** The node names of the cluster of this slurm.conf. */
function nodesOf (conf: string): string[] {
  return spawnSync('sinfo', ['--noheader', '--format=%n'], { encoding: 'utf8', env: { ...process.env, SLURM_CONF: conf } }).stdout.split('\n').filter((l) => l !== '')
}

function clusterOf (conf: string, nodes: string[], stop: () => Promise<void>): Cluster {
  const command = async (argv: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> => await new Promise((resolve) => {
    execFile(argv[0] as string, argv.slice(1), { env: { ...process.env, SLURM_CONF: conf }, timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr })
    })
  })
  return {
    conf,
    nodes,
    command,
    jobs: async () => {
      const r = await command(['squeue', '--noheader', '--format=%i %j %t'])
      return r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => {
        const [id = '', name = '', state = ''] = l.trim().split(/\s+/)
        return { id, name, state }
      })
    },
    stop
  }
}

async function script (args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile('bash', [SCRIPT, ...args], { env: { ...process.env, ...env }, timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`slurm-cluster.sh ${args.join(' ')}: ${stderr}${stdout}`))
      else resolve(stdout)
    })
  })
}

/** The cluster of SLURM_CONF, or a one-node cluster of this test file's own; null when slurmProblem() says why not. */
export async function startCluster (): Promise<Cluster | null> {
  const conf = process.env.SLURM_CONF
  if (answers(conf)) {
    return clusterOf(conf as string, nodesOf(conf as string), async () => {})
  }
  if (slurmProblem() !== null) return null
  const dir = mkdtempSync(join(tmpdir(), 'execnet-slurm-'))
  const ports = { CTLD_PORT: String(await freePort()), SLURMD_PORT: String(await freePort()) }
  await script(['start', dir], ports)
  let stopped = false
  return clusterOf(join(dir, 'slurm.conf'), nodesOf(join(dir, 'slurm.conf')), async () => {
    if (stopped) return
    stopped = true
    await script(['stop', dir])
  })
}

/**
 * A cluster whose nodes are fleet hosts: slurmctld in this namespace on the
 * fleet's bridge address, a slurmd in each of the first `count` hosts.
 */
export async function startFleetCluster (fleet: Fleet, count: number, options: { slurmdTimeout?: number } = {}): Promise<Cluster | null> {
  if (!installed()) return null
  const dir = mkdtempSync(join(tmpdir(), 'execnet-slurm-fleet-'))
  const hosts = fleet.hosts.slice(0, count)
  const env: Record<string, string> = { CTLD_ADDRESS: fleet.masterAddress, CTLD_PORT: String(await freePort()) }
  if (options.slurmdTimeout !== undefined) env.SLURMD_TIMEOUT = String(options.slurmdTimeout)
  await script(['start', dir, ...hosts.map((h) => `${h.name}=${h.address}`)], env)
  const daemons: ChildProcess[] = hosts.map((h) => {
    // nsenter, not `ip netns exec`: that one mounts a sysfs of its own,
    // without /sys/fs/cgroup, and slurmd will not start without it
    const argv = ['nsenter', `--net=/run/netns/${h.namespace}`, 'bash', SCRIPT, 'slurmd', dir, h.name]
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: 'ignore' })
    child.on('error', () => {})
    return child
  })
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    for (const d of daemons) d.kill('SIGTERM')
    await script(['stop', dir]).catch(() => {})
  }
  try {
    await script(['wait', dir, '60'])
  } catch (err) {
    await stop()
    throw err
  }
  return clusterOf(join(dir, 'slurm.conf'), hosts.map((h) => h.name), stop)
}
