/** Our socket server (lib/python/socketserver.py) for the tests: 127.0.0.1, a free port, a secret made per run. */
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
  const server = spawn(python, [join(repoRoot, 'lib', 'python', 'socketserver.py'), '--port', '0', '--secret-file', join(dir, 'secret')], { stdio: ['ignore', 'pipe', 'pipe'] })
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

/**
 * execnet's own socketserver.py (from the execnet package the interpreter
 * imports), on 127.0.0.1 and a free port: it runs whatever a client sends.
 */
export async function startExecnetSocketServer (python: string, env: Record<string, string> = {}): Promise<SocketServer & { pid: number, output: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), 'execnet-socketserver-'))
  const main = 'import runpy, sys; sys.argv = ["socketserver", "127.0.0.1:0"]; runpy.run_module("execnet.script.socketserver", run_name="__main__")'
  const server = spawn(python, ['-u', '-c', main], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let log = ''
  let out = ''
  server.stderr.on('data', (c: Buffer) => { log += c.toString() })
  server.stdout.on('data', (c: Buffer) => { out += c.toString() })
  const address = await new Promise<string>((resolve, reject) => {
    const look = (): void => {
      const m = /Entering Accept loop \('(127\.0\.0\.1)', (\d+)\)/.exec(out)
      if (m !== null) { server.stdout.off('data', look); resolve(`${m[1] as string}:${m[2] as string}`) }
    }
    server.stdout.on('data', look)
    server.once('exit', () => { reject(new Error(`execnet's socket server exited: ${log}`)) })
  })
  return {
    address,
    secret: '',
    pid: server.pid as number,
    log: () => log,
    output: () => out,
    stop: async () => { await stopServer(server, dir) }
  }
}
