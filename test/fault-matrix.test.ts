// The fault matrix: every transport (popen, ssh, socket, via) against every
// fault (the worker killed with -9, exiting on its own, closing its stdout;
// kill() and terminate() from this side, the latter during a bulk transfer;
// a user listener that throws; a pipeline sink that fails). For each case:
// the affected channels get a typed error in bounded time, the unaffected
// ones keep working where the worker lives, terminate() resolves, and no
// process or file descriptor is left behind. One table generates the cases.
import t, { type Test } from 'tap'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ChannelClosedError, Gateway, GatewayClosedError, type Channel } from '../index.js'
import { cpython, require, type Interpreter } from './helpers/interpreters.js'
import { specFor } from './helpers/targets.js'
import { startSshd, type Sshd } from './helpers/sshd.js'
import { startSocketServer, type SocketServer } from './helpers/socketserver.js'
import { gone, openFds } from './helpers/processes.js'

/** Every outcome must come within this; the slowest path is a worker that closed its stdout and lingers (5 s). */
const BOUND_MS = 12000

interface Setup {
  interp: Interpreter
  sshd: Sshd | null
  server: SocketServer | null
}

interface TransportCase {
  name: string
  /** What it needs beyond the interpreter, for the skip message; null when nothing. */
  needs: (s: Setup) => string | null
  /** Start a gateway; `extra` gateways (a via's first hop) are returned for cleanup. */
  start: (s: Setup) => Promise<{ gw: Gateway, extra: Gateway[] }>
}

const transports: TransportCase[] = [
  {
    name: 'popen',
    needs: () => null,
    start: async (s) => ({ gw: await Gateway.start(specFor(s.interp), { stderr: 'pipe' }), extra: [] })
  },
  {
    name: 'ssh',
    needs: (s) => s.sshd === null ? 'sshd (Debian openssh-server)' : null,
    start: async (s) => {
      const sshd = s.sshd as Sshd
      return { gw: await Gateway.start(specFor(s.interp, 'ours', '', { host: sshd.host, config: sshd.config }), { stderr: 'pipe' }), extra: [] }
    }
  },
  {
    name: 'socket',
    needs: (s) => s.server === null ? 'the socket server' : null,
    start: async (s) => {
      const server = s.server as SocketServer
      return { gw: await Gateway.start(`socket=${server.address}`, { stderr: 'pipe', secret: server.secret }), extra: [] }
    }
  },
  {
    name: 'via',
    needs: () => null,
    start: async (s) => {
      const first = await Gateway.start(specFor(s.interp, 'ours', 'id=hop'), { stderr: 'pipe' })
      const gw = await Gateway.start(specFor(s.interp), { stderr: 'pipe', via: first })
      return { gw, extra: [first] }
    }
  }
]

/** What a fault leaves: does the gateway survive it, and which error reaches the affected channel. */
interface FaultCase {
  name: string
  /** The gateway goes on (the fault belongs to one channel), or it ends with GatewayClosedError. */
  gatewaySurvives: boolean
  /** Cause the fault; resolves with the error the affected channel's consumer saw. */
  inflict: (t: Test, gw: Gateway, workerPid: number) => Promise<unknown>
}

// a channel that waits for the master: its pending receive is what the fault affects
const WAITING = 'channel.send(channel.receive())'

async function pendingThrough (gw: Gateway, cause: () => void | Promise<void>): Promise<unknown> {
  const ch = gw.remoteExec(WAITING)
  const pending = ch.receive()
  await cause()
  return await pending.then(() => new Error('the pending receive resolved'), (err: unknown) => err)
}

const faults: FaultCase[] = [
  {
    name: 'worker killed with -9',
    gatewaySurvives: false,
    inflict: async (_t, gw, pid) => await pendingThrough(gw, () => { process.kill(pid, 'SIGKILL') })
  },
  {
    name: 'worker exits on its own',
    gatewaySurvives: false,
    inflict: async (_t, gw) => await pendingThrough(gw, () => { gw.remoteExec('import os\nos._exit(3)') })
  },
  {
    name: 'worker closes its stdout',
    gatewaySurvives: false,
    inflict: async (_t, gw) => await pendingThrough(gw, () => {
      // the worker's output: a socket's write side shut, or a pipe's
      // descriptor replaced by /dev/full (the pipe closes, and later writes
      // fail instead of landing in whatever reuses the number)
      gw.remoteExec(`import os, socket
pipe = channel.gateway._pipe
if pipe._sock is not None:
    pipe._sock.shutdown(socket.SHUT_WR)
else:
    os.dup2(os.open("/dev/full", os.O_WRONLY), pipe._outfile.fileno())`)
    })
  },
  {
    name: 'kill() from this side',
    gatewaySurvives: false,
    inflict: async (_t, gw) => await pendingThrough(gw, () => { gw.kill() })
  },
  {
    name: 'terminate() during a bulk transfer',
    gatewaySurvives: false,
    inflict: async (t, gw) => {
      const ch = gw.remoteExec('import time\nfor chunk in channel:\n    time.sleep(0.001)')
      const chunk = Buffer.alloc(64 * 1024, 7)
      let sent = 0
      const source = Readable.from((function * () { for (;;) { sent++; yield chunk } })())
      const transfer = pipeline(source, ch).then(() => new Error('an endless transfer ended'), (err: unknown) => err)
      await new Promise((resolve) => setTimeout(resolve, 300))
      t.ok(sent > 1, `the transfer was under way (${sent} chunks)`)
      const info = await gw.terminate(1)
      t.ok(info.signal === 'SIGKILL' || info.exitCode !== null, 'terminate() resolved with how it ended')
      return await transfer
    }
  },
  {
    name: 'a user listener that throws',
    gatewaySurvives: true,
    inflict: async (_t, gw) => {
      const ch = gw.remoteExec('for i in range(5):\n    channel.send(i)\nchannel.receive()')
      const failed = new Promise((resolve) => { ch.once('error', resolve) })
      ch.on('data', () => { throw new TypeError('boom in a listener') })
      return await failed
    }
  },
  {
    name: 'a pipeline sink that fails',
    gatewaySurvives: true,
    inflict: async (_t, gw) => {
      const ch = gw.remoteExec('for i in range(50):\n    channel.send(b"x" * 1000)\nchannel.receive()')
      const sink = new Writable({ write (_c, _e, cb) { cb(new TypeError('the sink is full')) } })
      return await pipeline(ch, sink).then(() => new Error('the pipeline resolved'), (err: unknown) => err)
    }
  }
]

const interp = cpython('3.12')
const sshd = interp === null ? null : await startSshd()
const server = interp === null ? null : await startSocketServer(interp.argv[0] as string)
t.teardown(async () => {
  await sshd?.stop()
  await server?.stop()
})

for (const transport of transports) {
  t.test(transport.name, async (t) => {
    const found = require(t, interp, 'CPython 3.12 (pyenv)')
    if (found === null) return
    const setup: Setup = { interp: found, sshd, server }
    const missing = transport.needs(setup)
    if (missing !== null && require(t, null, missing) === null) return
    for (const fault of faults) {
      t.test(fault.name, { timeout: 60000 }, async (t) => {
        const fds = openFds()
        const { gw, extra } = await transport.start(setup)
        const workerPid = (await gw.rinfo()).pid
        // a channel beside the affected one, which must go on where the gateway does
        const bystander = gw.remoteExec('for x in channel:\n    channel.send(x * 2)')
        await bystander.send(1)
        t.equal(await bystander.receive({ timeout: 10 }), 2, 'the bystander works before the fault')

        const t0 = Date.now()
        const error = await fault.inflict(t, gw, workerPid)
        const ms = Date.now() - t0
        t.ok(ms < BOUND_MS, `the affected channel's consumer heard of it in ${ms} ms`)
        if (fault.gatewaySurvives) {
          t.type(error, TypeError, 'the consumer gets its own error, not a gateway error')
          t.equal(gw.phase, 'open', 'the gateway is still open')
          await bystander.send(21)
          t.equal(await bystander.receive({ timeout: 10 }), 42, 'the other channel goes on')
          t.equal(await gw.remoteExec('channel.send(6 * 7)').receive({ timeout: 10 }), 42, 'new channels work')
        } else {
          t.type(error, GatewayClosedError, `a typed error: ${String((error as Error).message)}`)
          const other = await (bystander as Channel).receive({ timeout: 10 }).then(() => null, (err: unknown) => err)
          // after terminate() the gateway may have ended cleanly: then the channel just closed
          t.ok(other instanceof GatewayClosedError || (fault.name.startsWith('terminate') && other instanceof ChannelClosedError), `the bystander ends with the gateway, typed: ${String(other)}`)
          t.throws(() => gw.remoteExec('1'), GatewayClosedError, 'the gateway refuses new work')
        }
        const t1 = Date.now()
        await gw.terminate(2)
        for (const g of extra) await g.terminate(2)
        t.ok(Date.now() - t1 < BOUND_MS, `terminate() resolved in ${Date.now() - t1} ms`)
        t.ok(gw.gone, 'the gateway is gone')
        t.ok(await gone(workerPid, 5000), `worker ${workerPid} is gone`)
        // descriptors close on the next turns of the event loop
        let now = openFds()
        for (let i = 0; i < 50 && now > fds; i++) {
          await new Promise((resolve) => setTimeout(resolve, 20))
          now = openFds()
        }
        t.ok(now <= fds, `no descriptor left (${fds} before, ${now} after)`)
      })
    }
  })
}
