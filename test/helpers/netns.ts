/**
 * A fleet of hosts on this machine: each host a network namespace with its
 * own sshd, joined to the root namespace by a veth pair on one bridge, so the
 * master reaches every host (and the hosts each other) only through a link
 * the tests can cut (`linkDown`). Needs root (`ip netns add`).
 *
 * Fleet number X (0..255, the first free one) owns the subnet 10.77.X.0/24:
 * the bridge `exbrX` is 10.77.X.1 (the master's address as the hosts see
 * it), host H is `execnet-X-H` at 10.77.X.(10+H), its link `exvX-H` (the
 * root side of the pair; `eth0` inside). Several fleets can run at once
 * (tests, benches, other branches' helpers): a fleet is claimed by making its
 * directory, which holds the owner's pid; a fleet whose owner died is
 * removed by the next startFleet, so a killed test run leaves nothing
 * behind for long.
 *
 * The ssh_config names the hosts `PREFIX-0`..`PREFIX-N-1` (`fleet-0`... by
 * default); specs: `ssh=fleet-3//ssh_config=CONFIG`.
 */
import { spawnSync, execFile, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { launchSshd, makeKeys, sshConfigEntry, sshdInstalled } from './sshd.js'
import { alive } from './processes.js'

export interface FleetHost {
  /** Its name in the fleet's ssh_config, e.g. `fleet-3`. */
  name: string
  index: number
  /** The network namespace, for `ip netns exec`. */
  namespace: string
  /** Its IPv4 address on the bridge. */
  address: string
  /** The root side of its veth pair: `linkDown` sets it down. */
  link: string
  /** An ssh spec reaching it: `ssh=NAME//ssh_config=CONFIG`, then `extra` (e.g. `//python=...`). */
  spec: (extra?: string) => string
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

export interface Fleet {
  hosts: FleetHost[]
  /** The ssh_config naming every host. */
  config: string
  /** The bridge's address: the master as the hosts reach it. */
  masterAddress: string
  /** `ip netns exec NS ...argv`: a command that runs inside the host. */
  command: (host: FleetHost, argv: string[]) => string[]
  /** Run a command inside the host and wait for it. */
  run: (host: FleetHost, argv: string[], timeoutMs?: number) => Promise<RunResult>
  /** Cut the host's link (the root side of its veth pair): its packets are lost from now on, nothing is reset. */
  linkDown: (host: FleetHost) => void
  linkUp: (host: FleetHost) => void
  /** Kill every process in the hosts, remove the namespaces, links, bridge and files. Idempotent. */
  stop: () => Promise<void>
}

const STATE = join(tmpdir(), 'execnet-fleets')

function ip (args: string[]): { ok: boolean, out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' })
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() }
}

function must (args: string[]): string {
  const r = ip(args)
  if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.out}`)
  return r.out
}

/**
 * Why a fleet cannot be made here, or null when it can: `ip netns` must be
 * permitted (root), and sshd installed.
 */
export function fleetProblem (): string | null {
  if (!sshdInstalled()) return 'sshd (Debian openssh-server)'
  const probe = `execnet-probe-${process.pid}`
  const added = ip(['netns', 'add', probe])
  if (!added.ok) return `ip netns (root; "ip netns add" said: ${added.out})`
  ip(['netns', 'del', probe])
  return null
}

function namespaces (x: number, count: number): string[] {
  return Array.from({ length: count }, (_, h) => `execnet-${x}-${h}`)
}

/** Remove fleet X whatever state it is in: processes, namespaces, links, bridge, directory. */
function removeFleet (x: number): void {
  const prefix = `execnet-${x}-`
  const listed = ip(['netns', 'list']).out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(prefix))
  for (const ns of listed) {
    for (const pid of ip(['netns', 'pids', ns]).out.split('\n').map(Number).filter((p) => p > 0)) {
      try { process.kill(pid, 'SIGKILL') } catch { /* gone meanwhile */ }
    }
    // deleting the namespace destroys eth0 inside it, and with it the veth's root side
    ip(['netns', 'del', ns])
  }
  for (const line of ip(['-o', 'link', 'show']).out.split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1]
    if (name !== undefined && name.startsWith(`exv${x}-`)) ip(['link', 'del', name])
  }
  ip(['link', 'del', `exbr${x}`])
  rmSync(join(STATE, String(x)), { recursive: true, force: true })
}

/** Remove the fleets whose owner process is gone (a run killed before its teardown). */
function sweepStale (): void {
  if (!existsSync(STATE)) return
  for (const entry of readdirSync(STATE)) {
    const x = Number(entry)
    if (!Number.isInteger(x)) continue
    const dir = join(STATE, entry)
    let owner = 0
    try { owner = Number(readFileSync(join(dir, 'owner'), 'utf8')) } catch { /* being claimed, or half-removed */ }
    // a directory without an owner for a minute was never finished
    const orphan = owner === 0 ? Date.now() - statSync(dir).mtimeMs > 60_000 : !alive(owner)
    if (orphan) removeFleet(x)
  }
}

/** Claim the first free fleet number: mkdir is the atomic step two runs cannot both win. */
function claim (): { x: number, dir: string } {
  mkdirSync(STATE, { recursive: true })
  for (let x = 0; x < 256; x++) {
    const dir = join(STATE, String(x))
    try {
      mkdirSync(dir)
    } catch {
      continue
    }
    writeFileSync(join(dir, 'owner'), String(process.pid))
    // a bridge left by a run that lost its directory: take it over
    removeLinksOnly(x)
    return { x, dir }
  }
  throw new Error(`no free fleet number under ${STATE}`)
}

function removeLinksOnly (x: number): void {
  if (ip(['link', 'show', `exbr${x}`]).ok) ip(['link', 'del', `exbr${x}`])
  for (const ns of namespaces(x, 256)) if (existsSync(`/run/netns/${ns}`)) ip(['netns', 'del', ns])
}

export interface FleetOptions {
  /** How many hosts (default 8, at most 200). */
  hosts?: number
  /** The hosts' names in the ssh_config: PREFIX-0... (default 'fleet'). */
  prefix?: string
}

/**
 * Make a fleet, or null when this machine cannot (see fleetProblem for the
 * reason to name in a skip). Each host's sshd accepts connections when this
 * resolves. On any failure everything made so far is removed.
 */
export async function startFleet (options: FleetOptions = {}): Promise<Fleet | null> {
  const count = options.hosts ?? 8
  const prefix = options.prefix ?? 'fleet'
  if (!Number.isInteger(count) || count < 1 || count > 200) throw new RangeError(`a fleet has 1..200 hosts, not ${count}`)
  if (fleetProblem() !== null) return null
  sweepStale()
  const { x, dir } = claim()
  const servers: ChildProcess[] = []
  let stopped = false
  const stopSync = (): void => {
    if (stopped) return
    stopped = true
    removeFleet(x)
  }
  // a test that throws before its teardown, or exits early, still removes its fleet
  process.once('exit', stopSync)
  try {
    const bridge = `exbr${x}`
    const masterAddress = `10.77.${x}.1`
    must(['link', 'add', bridge, 'type', 'bridge'])
    must(['addr', 'add', `${masterAddress}/24`, 'dev', bridge])
    must(['link', 'set', bridge, 'up'])
    makeKeys(dir)
    const hosts: FleetHost[] = []
    const config = join(dir, 'ssh_config')
    let entries = ''
    for (const [h, ns] of namespaces(x, count).entries()) {
      const address = `10.77.${x}.${10 + h}`
      const link = `exv${x}-${h}`
      const name = `${prefix}-${h}`
      must(['netns', 'add', ns])
      must(['link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
      must(['link', 'set', link, 'master', bridge])
      must(['link', 'set', link, 'up'])
      must(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0'])
      must(['-n', ns, 'link', 'set', 'eth0', 'up'])
      must(['-n', ns, 'link', 'set', 'lo', 'up'])
      entries += sshConfigEntry(name, address, 22, dir)
      hosts.push({ name, index: h, namespace: ns, address, link, spec: (extra = '') => `ssh=${name}//ssh_config=${config}${extra}` })
    }
    writeFileSync(config, entries)
    await Promise.all(hosts.map(async (host) => {
      const hostDir = join(dir, host.name)
      mkdirSync(hostDir)
      servers.push(await launchSshd({ keys: dir, dir: hostDir, address: host.address, port: 22, prefix: ['ip', 'netns', 'exec', host.namespace] }))
    }))
    const command = (host: FleetHost, argv: string[]): string[] => ['ip', 'netns', 'exec', host.namespace, ...argv]
    return {
      hosts,
      config,
      masterAddress,
      command,
      run: async (host, argv, timeoutMs = 30_000) => await new Promise((resolve) => {
        const full = command(host, argv)
        execFile(full[0] as string, full.slice(1), { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
          resolve({ code, stdout, stderr })
        })
      }),
      linkDown: (host) => { must(['link', 'set', host.link, 'down']) },
      linkUp: (host) => { must(['link', 'set', host.link, 'up']) },
      stop: async () => {
        const exits = servers.filter((s) => s.exitCode === null && s.signalCode === null)
          .map(async (s) => await new Promise((resolve) => s.once('exit', resolve)))
        stopSync()
        process.removeListener('exit', stopSync)
        await Promise.all(exits)
      }
    }
  } catch (err) {
    stopSync()
    process.removeListener('exit', stopSync)
    throw err
  }
}
