/** Our socket server (lib/socketserver.py) for the tests: 127.0.0.1, a free port, a secret made per run. */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stopServer } from './processes.js'
import { repoRoot } from './interpreters.js'

export interface SocketServer {
  address: string
  secret: string
  /** What the server wrote on stderr so far (refusals, its workers' output). */
  log: () => string
  stop: () => Promise<void>
}

export async function startSocketServer (python: string): Promise<SocketServer> {
  const dir = mkdtempSync(join(tmpdir(), 'execnet-socketserver-'))
  const secret = randomBytes(16).toString('hex')
  writeFileSync(join(dir, 'secret'), secret)
  const server = spawn(python, [join(repoRoot, 'lib', 'socketserver.py'), '--port', '0', '--secret-file', join(dir, 'secret')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  server.stderr.on('data', (c: Buffer) => { log += c.toString() })
  const address = await new Promise<string>((resolve, reject) => {
    let out = ''
    server.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /listening on (\S+:\d+)/.exec(out)
      if (m !== null) resolve(m[1] as string)
    })
    server.once('exit', () => { reject(new Error(`the socket server exited: ${log}`)) })
  })
  return {
    address,
    secret,
    log: () => log,
    stop: async () => { await stopServer(server, dir) }
  }
}
