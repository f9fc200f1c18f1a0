/**
 * A real OpenSSH server for the ssh tests: on 127.0.0.1 and a free
 * unprivileged port, with a host key and a user key generated for the run,
 * and an ssh_config naming it `execnet-test`. Stopped by stop().
 *
 * The parts (makeKeys, launchSshd, sshConfigEntry) also start the sshd of
 * each host of a fleet inside its network namespace (test/helpers/netns.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { stopServer } from './processes.js'

export interface Sshd {
  /** The ssh_config file that makes `execnet-test` reach this server. */
  config: string
  host: string
  port: number
  stop: () => Promise<void>
}

const SSHD = '/usr/sbin/sshd'

/** Whether sshd and ssh-keygen are installed. */
export function sshdInstalled (): boolean {
  return existsSync(SSHD) && spawnSync('ssh-keygen', ['-?']).error === undefined
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

async function listening (host: string, port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      // destroyed, not ended: an sshd killed with its network namespace
      // never answers the FIN, and a half-closed socket would hold the
      // test's event loop open for good. Each attempt is bounded too: a
      // SYN to a host whose link is down waits minutes for the kernel
      const socket = createConnection({ host, port }, () => { clearTimeout(timer); socket.destroy(); resolve(true) })
      const timer = setTimeout(() => { socket.destroy(); resolve(false) }, Math.max(1, deadline - Date.now()))
      socket.once('error', () => { clearTimeout(timer); resolve(false) })
    })
    if (ok) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

/** Generate `host_key` and `user_key` (ed25519, no passphrase) in `dir`. */
export function makeKeys (dir: string): void {
  for (const key of ['host_key', 'user_key']) {
    const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, key)])
    if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr.toString()}`)
  }
}

/** One `Host` block of an ssh_config, for the keys makeKeys wrote in `keys`. */
export function sshConfigEntry (alias: string, address: string, port: number, keys: string): string {
  return [
    `Host ${alias}`, `  HostName ${address}`, `  Port ${port}`, `  User ${userInfo().username}`,
    `  IdentityFile ${join(keys, 'user_key')}`, '  IdentitiesOnly yes', '  StrictHostKeyChecking no',
    '  UserKnownHostsFile /dev/null', '  LogLevel ERROR', ''
  ].join('\n')
}

export interface LaunchOptions {
  /** Where makeKeys wrote the keys. */
  keys: string
  /** This server's own directory (its config and pid file). */
  dir: string
  address: string
  port: number
  /** A command the server runs under, e.g. `ip netns exec NS`. */
  prefix?: string[]
}

/** Start sshd -D with a config for the given keys, and wait until it accepts connections. */
export async function launchSshd (options: LaunchOptions): Promise<ChildProcess> {
  const { keys, dir, address, port } = options
  // privilege separation wants this directory when sshd runs as root
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true })
  const configFile = join(dir, 'sshd_config')
  writeFileSync(configFile, [
    `Port ${port}`, `ListenAddress ${address}`, `HostKey ${join(keys, 'host_key')}`,
    `AuthorizedKeysFile ${join(keys, 'user_key.pub')}`, 'PubkeyAuthentication yes',
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password',
    // a fleet's master opens its sessions at once
    'MaxStartups 100', 'StrictModes no', 'UsePAM no', `PidFile ${join(dir, 'sshd.pid')}`, ''
  ].join('\n'))
  const argv = [...(options.prefix ?? []), SSHD, '-D', '-e', '-f', configFile]
  const server: ChildProcess = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  server.stderr?.on('data', (c: Buffer) => { log += c.toString() })
  if (!await listening(address, port, 10000)) {
    server.kill('SIGKILL')
    throw new Error(`sshd did not start on ${address}:${port}: ${log}`)
  }
  return server
}

/** Start a server, or null when sshd or ssh-keygen is not installed. */
export async function startSshd (): Promise<Sshd | null> {
  if (!sshdInstalled()) return null
  const dir = mkdtempSync(join(tmpdir(), 'execnet-sshd-'))
  makeKeys(dir)
  const port = await freePort()
  const config = join(dir, 'ssh_config')
  writeFileSync(config, sshConfigEntry('execnet-test', '127.0.0.1', port, dir))
  const server = await launchSshd({ keys: dir, dir, address: '127.0.0.1', port })
  return {
    config,
    host: 'execnet-test',
    port,
    stop: async () => { await stopServer(server, dir) }
  }
}
