// Start-up and round trip per transport, in one run: popen, ssh (a real
// sshd on 127.0.0.1, test/helpers/sshd.ts), socket (our server; execnet's
// own for execnet) and via (popen through a popen gateway). Ours (TS master,
// our worker) beside the real execnet (Python master and worker) and the raw
// transport (a bare Python line echo over the same pipe, ssh session or TCP
// connection). Run with `npm run bench:remote`; BENCH_PYTHON picks the
// interpreter (default: the test venv's, which has execnet).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { Group } from 'execnet'
import { repoRoot } from '../test/helpers/interpreters.js'
import { median, now, roundTrip } from './measure.js'
import { startSshd } from '../test/helpers/sshd.js'
import { startExecnetSocketServer, startSocketServer } from '../test/helpers/socketserver.js'

const REPS = Number(process.env.REPS ?? 5)
const PINGS = Number(process.env.PINGS ?? 2000)
const python = process.env.BENCH_PYTHON ?? join(repoRoot, '.venv', 'bin', 'python')
if (!existsSync(python)) throw new Error(`no ${python}: make the venv as .ci/run does, or set BENCH_PYTHON`)


interface Row { start: number, rtt: number }
interface Transport { name: string, ours: string, secret?: string, execnet: string, via?: string, raw?: () => Promise<RawLink> }

async function ours (t: Transport): Promise<Row> {
  const group = new Group({ stderr: 'pipe', ...(t.secret !== undefined ? { secret: t.secret } : {}) })
  if (t.via !== undefined) await group.makeGateway(t.via)
  const starts: number[] = []
  for (let i = 0; i < REPS; i++) {
    const t0 = now()
    const gw = await group.makeGateway(t.ours)
    await gw.remoteExec('channel.send(1)').receive()
    starts.push(now() - t0)
    await gw.terminate(10)
  }
  const rtt = await roundTrip(await group.makeGateway(t.ours), REPS, PINGS)
  await group.terminate(10)
  return { start: median(starts), rtt }
}

/** A bare line echo: the floor any protocol over this transport pays. */
interface RawLink { input: Readable, output: Writable, close: () => void }
const ECHO = 'import sys\nr, w = sys.stdin.buffer, sys.stdout.buffer\nwhile True:\n    line = r.readline()\n    if not line: break\n    w.write(line); w.flush()'

function childLink (child: ChildProcess): RawLink {
  return { input: child.stdout as Readable, output: child.stdin as Writable, close: () => { child.stdin?.end() } }
}

async function raw (open: () => Promise<RawLink>): Promise<Row> {
  const line = Buffer.from('12345678\n')
  const ping = async (link: RawLink): Promise<void> => {
    await new Promise<void>((resolve) => {
      let got = 0
      const onData = (chunk: Buffer): void => { got += chunk.length; if (got >= 9) { link.input.off('data', onData); resolve() } }
      link.input.on('data', onData)
      link.output.write(line)
    })
  }
  const starts: number[] = []
  for (let i = 0; i < REPS; i++) {
    const t0 = now()
    const link = await open()
    await ping(link)
    starts.push(now() - t0)
    link.close()
  }
  const link = await open()
  const rtts: number[] = []
  for (let r = 0; r < REPS; r++) {
    const t0 = now()
    for (let i = 0; i < PINGS; i++) await ping(link)
    rtts.push((now() - t0) / PINGS)
  }
  link.close()
  return { start: median(starts), rtt: median(rtts) }
}

const sshd = await startSshd()
if (sshd === null) throw new Error('bench/remote needs sshd and ssh-keygen (Debian openssh-server)')
const ourServer = await startSocketServer(python)
const execnetServer = await startExecnetSocketServer(python)
// a TCP line echo beside them, for the raw socket row
const echoServer = spawn(python, ['-u', '-c', [
  'import socket, threading',
  's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 0)); s.listen(8)',
  'print(s.getsockname()[1])',
  'def serve(c):',
  '    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)',
  '    f = c.makefile("rb")',
  '    for line in f:',
  '        c.sendall(line)',
  '    c.close()',
  'while True:',
  '    c, _ = s.accept()',
  '    threading.Thread(target=serve, args=(c,), daemon=True).start()'
].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] })
const echoPort = await new Promise<number>((resolve) => { echoServer.stdout.once('data', (c: Buffer) => { resolve(Number(c.toString().trim())) }) })

try {
  const py = `python=${python}`
  const ssh = `ssh=${sshd.host}//ssh_config=${sshd.config}`
  const transports: Transport[] = [
    { name: 'popen', ours: `popen//${py}`, execnet: `popen//${py}`, raw: async () => childLink(spawn(python, ['-u', '-c', ECHO])) },
    { name: 'ssh (127.0.0.1)', ours: `${ssh}//${py}`, execnet: `${ssh}//${py}`, raw: async () => childLink(spawn('ssh', ['-F', sshd.config, sshd.host, python, '-u', '-c', `'${ECHO}'`])) },
    {
      name: 'socket (127.0.0.1)',
      ours: `socket=${ourServer.address}`,
      secret: ourServer.secret,
      execnet: `socket=${execnetServer.address}`,
      raw: async () => {
        const socket: Socket = connect({ host: '127.0.0.1', port: echoPort })
        await new Promise((resolve) => socket.once('connect', resolve))
        socket.setNoDelay(true)
        return { input: socket, output: socket, close: () => { socket.destroy() } }
      }
    },
    { name: 'via (popen via popen)', ours: `popen//via=master//${py}`, via: `popen//id=master//${py}`, execnet: `popen//via=master//${py}` }
  ]
  const real = JSON.parse(execFileSync(python, [join(repoRoot, 'bench', 'remote-execnet.py'),
    JSON.stringify(transports.map((t) => [t.name, t.execnet, t.via ?? null])), String(REPS), String(PINGS)], { encoding: 'utf8', maxBuffer: 1 << 24 })) as { version: string, results: Record<string, Row> }
  const version = execFileSync(python, ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).trim()
  console.log(`# bench/remote — ${new Date().toISOString().slice(0, 10)}, node ${process.version}, Python ${version} (${python}), execnet ${real.version}`)
  console.log(`# ${cpus().length}x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; medians of ${REPS}; ${PINGS} pings per round trip sample`)
  console.log('| transport | start-up ours | start-up execnet | start-up raw | round trip ours | round trip execnet | round trip raw | ours/raw | execnet/raw |')
  console.log('|---|---|---|---|---|---|---|---|---|')
  const ms = (s?: number): string => s === undefined ? '-' : (s * 1000).toFixed(1) + ' ms'
  const us = (s?: number): string => s === undefined ? '-' : (s * 1e6).toFixed(0) + ' µs'
  const ratio = (a: number, b?: number): string => b === undefined ? '-' : (a / b).toFixed(2)
  for (const t of transports) {
    const o = await ours(t)
    const e = real.results[t.name] as Row
    const r = t.raw === undefined ? undefined : await raw(t.raw)
    console.log(`| ${t.name} | ${ms(o.start)} | ${ms(e.start)} | ${ms(r?.start)} | ${us(o.rtt)} | ${us(e.rtt)} | ${us(r?.rtt)} | ${ratio(o.rtt, r?.rtt)} | ${ratio(e.rtt, r?.rtt)} |`)
  }
} finally {
  echoServer.kill()
  await ourServer.stop()
  await execnetServer.stop()
  await sshd.stop()
}
