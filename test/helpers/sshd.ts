/**
 * A real OpenSSH server for the ssh tests: on 127.0.0.1 and a free
 * unprivileged port, with a host key and a user key generated for the run,
 * and an ssh_config naming it `execnet-test`. Stopped by stop().
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

async function freePort (): Promise<number> {
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

async function listening (port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => { socket.end(); resolve(true) })
      socket.once('error', () => { resolve(false) })
    })
    if (ok) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

/** Start a server, or null when sshd or ssh-keygen is not installed. */
export async function startSshd (): Promise<Sshd | null> {
  if (!existsSync(SSHD) || spawnSync('ssh-keygen', ['-?']).error !== undefined) return null
  const dir = mkdtempSync(join(tmpdir(), 'execnet-sshd-'))
  for (const key of ['host_key', 'user_key']) {
    const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, key)])
    if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr.toString()}`)
  }
  const port = await freePort()
  const user = userInfo().username
  // privilege separation wants this directory when sshd runs as root
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true })
  writeFileSync(join(dir, 'sshd_config'), [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${join(dir, 'user_key.pub')}`, 'PubkeyAuthentication yes',
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password',
    'StrictModes no', 'UsePAM no', `PidFile ${join(dir, 'sshd.pid')}`, ''
  ].join('\n'))
  const config = join(dir, 'ssh_config')
  writeFileSync(config, [
    'Host execnet-test', '  HostName 127.0.0.1', `  Port ${port}`, `  User ${user}`,
    `  IdentityFile ${join(dir, 'user_key')}`, '  IdentitiesOnly yes', '  StrictHostKeyChecking no',
    '  UserKnownHostsFile /dev/null', '  LogLevel ERROR', ''
  ].join('\n'))
  const server: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  server.stderr?.on('data', (c: Buffer) => { log += c.toString() })
  if (!await listening(port, 10000)) {
    server.kill('SIGKILL')
    throw new Error(`sshd did not start on port ${port}: ${log}`)
  }
  return {
    config,
    host: 'execnet-test',
    port,
    stop: async () => { await stopServer(server, dir) }
  }
}
