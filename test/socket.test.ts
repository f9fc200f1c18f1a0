// Our socket server (lib/python/socketserver.py): a client must prove it holds the
// secret before anything runs; it listens on 127.0.0.1 by default; gateways
// through it work (the channel suite also runs through it); the CLI starts it.
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { BootstrapError, Gateway, parseSpec, SpecError } from '../index.js'
import { cpython, repoRoot, require, venvPython, withExecnet19 } from './helpers/interpreters.js'
import { startExecnetSocketServer, startSocketServer } from './helpers/socketserver.js'
import { gone } from './helpers/processes.js'
import { tempDir } from './helpers/tmp.js'

const dir = tempDir(t, 'socket')

/** Talk to the server as a hostile client would: send `lines`, return all it answered before closing. */
async function raw (address: string, lines: string[]): Promise<string> {
  const [host, port] = address.split(':') as [string, string]
  return await new Promise((resolve) => {
    let answer = ''
    const socket = connect({ host, port: Number(port) }, () => { for (const l of lines) socket.write(l + '\n') })
    socket.on('data', (c: Buffer) => { answer += c.toString('latin1') })
    socket.on('close', () => { resolve(answer) })
    socket.on('error', () => {})
    setTimeout(() => { socket.destroy() }, 3000)
  })
}

for (const minor of ['3.12', '2.7']) {
  t.test(`CPython ${minor}: nothing runs for a client without the secret`, async (t) => {
    const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
    if (interp === null) return
    const server = await startSocketServer(interp.argv[0] as string)
    t.teardown(() => server.stop())
    t.match(server.address, /^127\.0\.0\.1:\d+$/, 'loopback unless told otherwise')
    const marker = join(dir, `executed-${minor}`)
    const program = JSON.stringify(`open(${JSON.stringify(marker)}, 'w').write('pwned')`)
    // execnet's own socketserver would run this bootstrap line at once
    const noAuth = await raw(server.address, ['import sys;exec(eval(sys.stdin.readline()))', program])
    t.match(noAuth, /^EXECNET-AUTH 1 [0-9a-f]{32}\nREFUSED\n$/, 'a client that does not answer the challenge is refused')
    const wrong = await Gateway.start(`socket=${server.address}`, { secret: 'not-the-secret' }).catch((e: unknown) => e)
    t.type(wrong, BootstrapError)
    t.match((wrong as Error).message, /refused the secret/)
    const none = await Gateway.start(`socket=${server.address}`, { secret: '' }).catch((e: unknown) => e)
    t.match((none as Error).message, /no secret .* EXECNET_SECRET/)
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.notOk(existsSync(marker), 'nothing was executed')
    t.match(server.log(), /refused 127\.0\.0\.1:\d+: it did not prove it holds the secret/)

    const work = join(dir, `work ${minor}`, 'nested')
    const gw = await Gateway.start(`socket=${server.address}//chdir=${work}//env:GREETING=h\u00e9llo`, { secret: server.secret, stderr: 'pipe' })
    const info = await gw.rinfo()
    t.equal(info.version_info.slice(0, 2).join('.'), minor, 'the server starts its own interpreter')
    t.equal(info.cwd, work, 'chdir= made and entered from inside, as execnet does')
    t.equal(await gw.remoteExec('import os\nv = os.environ["GREETING"]\nchannel.send(v if str is not bytes else v.decode("utf-8"))').receive(), 'h\u00e9llo', 'env: set from inside')
    t.throws(() => parseSpec(`socket=${server.address}//python=python3`), /python does not apply to socket=/)
    const ch = gw.remoteExec('channel.send(channel.receive() * 2)')
    await ch.send(21)
    t.equal(await ch.receive(), 42)
    // the worker's sockets: only its own connection (no listening socket or
    // other client's connection inherited from the server, as Python 2's
    // Popen left them), with TCP_NODELAY, so its small frames do not wait for Nagle
    const sockets = await gw.remoteExec([
      'import socket',
      'found = []',
      'for fd in range(3, 256):',
      '    try:',
      '        s = socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM)',
      '    except Exception:',
      '        continue',
      '    try:',
      '        listening = s.getsockopt(socket.SOL_SOCKET, getattr(socket, "SO_ACCEPTCONN", 30))',
      '        peer = "%s:%d" % s.getpeername()[:2] if not listening else None',
      '        found.append((s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), listening, peer))',
      '    except Exception:',
      '        pass',
      '    s.close()',
      'channel.send(found)'
    ].join('\n')).receive() as Array<[number, number, string | null]>
    const shown = JSON.stringify(sockets)
    t.ok(sockets.length > 0, `the worker's protocol socket is found (${shown})`)
    t.ok(sockets.every(([, listening]) => listening === 0), `no listening socket inherited from the server (${shown})`)
    t.equal(new Set(sockets.map(([, , peer]) => peer)).size, 1, `one connection only, the master's (${shown})`)
    t.ok(sockets.every(([nodelay]) => nodelay !== 0), `TCP_NODELAY on it (${shown})`)
    gw.kill()
    await gw.waitExit()
    t.ok(await gone(info.pid, 10000), 'a killed gateway\'s worker exits (its connection ended)')
  })
}

t.test('the server refuses to start without a secret; the CLI starts it', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const env = { ...process.env }
  delete env.EXECNET_SECRET
  const bare = spawn(interp.argv[0] as string, [join(repoRoot, 'lib', 'python', 'socketserver.py'), '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  bare.stderr.on('data', (c: Buffer) => { err += c.toString() })
  const code = await new Promise((resolve) => bare.once('exit', resolve))
  t.equal(code, 2)
  t.match(err, /no secret/)

  const secretFile = join(dir, 'cli-secret')
  writeFileSync(secretFile, 'cli secret\n')
  const cli = spawn(process.execPath, [join(repoRoot, 'dist', 'bin', 'execnet.js'), 'socketserver', '--port', '0', '--secret-file', secretFile, '--python', interp.argv[0] as string], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { cli.kill('SIGTERM') })
  const address = await new Promise<string>((resolve) => {
    let out = ''
    cli.stdout.on('data', (c: Buffer) => { out += c.toString(); const m = /listening on (\S+:\d+)/.exec(out); if (m !== null) resolve(m[1] as string) })
  })
  const gw = await Gateway.start(`socket=${address}`, { secret: 'cli secret', stderr: 'pipe' })
  t.equal(await gw.remoteExec('import sys; channel.send(sys.version_info[0])').receive(), 3)
  await gw.terminate(5)
})

// execnet's own socketserver.py, asked for explicitly (server=execnet): it
// runs our worker (or execnet's) in its own process on the connection
const execnetServers = [
  { label: "execnet 2.x's socketserver.py (venv)", what: 'the venv with execnet 2.x (.ci/run makes it)', find: venvPython },
  { label: "execnet 1.9's socketserver.py on CPython 2.7", what: 'CPython 2.7 with Debian python3-execnet', find: () => withExecnet19(cpython('2.7')) }
]
for (const { label, what, find } of execnetServers) {
  t.test(`compatibility mode: ${label}`, async (t) => {
    const interp = require(t, find(), what)
    if (interp === null) return
    const server = await startExecnetSocketServer(interp.argv[0] as string, interp.env)
    t.teardown(() => server.stop())
    for (const worker of ['ours', 'execnet']) {
      const gw = await Gateway.start(`socket=${server.address}//server=execnet//worker=${worker}`, { stderr: 'pipe' })
      const info = await gw.rinfo()
      t.equal(info.pid, server.pid, `${worker} worker: runs inside the server's process, as execnet's bootstrap_socket does`)
      const echo = gw.remoteExec('for x in channel:\n    channel.send(x)')
      const values = [1, 'two', [3, 4.5], new Map([['k', null]])]
      for (const v of values) {
        await echo.send(v)
        t.same(await echo.receive(), v)
      }
      echo.end()
      // a None ends it: end() is close() with execnet's worker
      const big = gw.remoteExec('n = 0\nfor c in iter(channel.receive, None):\n    n += len(c)\nchannel.send(n)')
      for (let i = 0; i < 16; i++) await big.send(Buffer.alloc(1 << 20, i))
      await big.send(null)
      t.equal(await big.receive(), 16 << 20, `${worker} worker: 16 MiB through the connection`)
      t.same(await gw.terminate(5), { exitCode: 0, signal: null }, `${worker} worker: terminate closes the connection`)
    }
    const lived = /finished executing code[\s\S]*finished executing code[\s\S]*Entering Accept loop/
    for (let i = 0; i < 50 && !lived.test(server.output()); i++) await new Promise((resolve) => setTimeout(resolve, 100))
    t.match(server.output(), lived, 'the server lived on and accepts the next client')
  })
}

t.test("compatibility mode is explicit: execnet's server without server=execnet fails in bounded time", async (t) => {
  const interp = require(t, venvPython(), 'the venv with execnet 2.x (.ci/run makes it)')
  if (interp === null) return
  const server = await startExecnetSocketServer(interp.argv[0] as string, interp.env)
  t.teardown(() => server.stop())
  const started = Date.now()
  const err = await Gateway.start(`socket=${server.address}`, { secret: 'ours', startTimeout: 1.5 }).catch((e: unknown) => e)
  t.type(err, BootstrapError)
  t.match((err as Error).message, /not our socket server\? .*needs \/\/server=execnet/)
  t.ok(Date.now() - started < 5000, 'within the start timeout')
  t.throws(() => parseSpec('popen//server=execnet'), SpecError)
  t.throws(() => parseSpec('socket=h:1//server=other'), SpecError)
})
