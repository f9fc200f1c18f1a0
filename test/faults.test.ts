// Faults and hostile input at the gateway: a worker that breaks the
// protocol is shut down with a clear error; a worker that receives broken
// frames shuts down and executes nothing; values cannot pollute prototypes;
// a worker killed in the middle of a bulk transfer fails the pipeline; a
// Node program ended by SIGTERM leaves no worker behind.
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { execFile } from 'node:child_process'
import { Gateway, GatewayClosedError, Group, encodeFrame, dumps, tuple, MessageCode } from '../index.js'
import { parseSpec } from '../lib/spec.js'
import { openTransport } from '../lib/transports/index.js'
import { awaitReady, bootstrapProgram } from '../lib/bootstrap.js'
import { cpython, repoRoot, require, type Interpreter } from './helpers/interpreters.js'
import { specFor } from './helpers/targets.js'
import { gone } from './helpers/processes.js'
import { tempDir } from './helpers/tmp.js'

for (const minor of ['3.12', '2.7']) t.test(`CPython ${minor}: a worker that breaks the protocol: GatewayClosedError, worker killed`, async (t) => {
  const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
  if (interp === null) return
  const cases: Array<[string, RegExp]> = [
    ['unknown-code', /protocol error.*message code|protocol error.*9/i],
    ['negative-length', /protocol error/],
    ['huge-frame', /protocol error.*(too large|exceeds|maxFrameSize)/i],
    ['bad-payload', /protocol error.*CHANNEL_DATA for channel 1.*unknown opcode/],
    ['truncated', /exited with code 0|protocol error/]
  ]
  for (const [mode, message] of cases) {
    const gw = await Gateway.start(`popen//python=${interp.argv[0] as string} ${join(repoRoot, 'test/fixtures/bad-worker.py')} ${mode}`, { stderr: 'pipe' })
    const ch = gw.remoteExec('channel.send(1)')
    const t0 = Date.now()
    const err = await ch.receive().then(() => null, (e: unknown) => e)
    t.type(err, GatewayClosedError, mode)
    t.match((err as Error).message, message, `${mode}: ${(err as Error).message}`)
    t.ok(Date.now() - t0 < 3000, `${mode}: within ${Date.now() - t0} ms`)
    t.ok(await gone(gw.pid as number, 3000), `${mode}: the worker is gone`)
    await gw.terminate(1)
  }
})

for (const minor of ['3.12', '2.7']) {
  t.test(`CPython ${minor}: our worker shuts down on broken frames and runs nothing after them`, async (t) => {
    const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
    if (interp === null) return
    const dir = tempDir(t, 'fault')
    const marker = join(dir, 'executed')
    const exec = (id: number): Buffer[] => encodeFrame({ code: MessageCode.CHANNEL_EXEC, channelId: id, payload: dumps(tuple(`open(${JSON.stringify(marker)}, 'w').close()`, null, null, new Map())).subarray(1) })
    const garbage: Array<[string, Buffer]> = [
      ['unknown message code', Buffer.from([9, 0, 0, 0, 1, 0, 0, 0, 0])],
      ['negative length', Buffer.from([4, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfb])],
      ['an EXEC payload that is not a dump', Buffer.concat(encodeFrame({ code: MessageCode.CHANNEL_EXEC, channelId: 1, payload: Buffer.from('ZZZZ') }))],
      ['data that is not a dump', Buffer.concat([...exec(3).slice(0, 0), ...encodeFrame({ code: MessageCode.CHANNEL_DATA, channelId: 1, payload: Buffer.from([0x4b, 0x7f, 0, 0, 0, 0x51]) })])]
    ]
    for (const [what, bytes] of garbage) {
      const spec = parseSpec(specFor(interp))
      const proc = await openTransport(spec)
      const stderr: Buffer[] = []
      proc.stderr.on('data', (c: Buffer) => stderr.push(c))
      proc.input.on('error', () => {}) // EPIPE once it has shut down: expected
      proc.input.write(bootstrapProgram(spec, 'fault'))
      const ready = await awaitReady(proc.output)
      t.ok(ready.ok, `${what}: the worker started`)
      proc.output.resume()
      if (what === 'data that is not a dump') {
        // a channel for the data to go to: code that waits on it
        for (const b of encodeFrame({ code: MessageCode.CHANNEL_EXEC, channelId: 1, payload: dumps(tuple('channel.receive()', null, null, new Map())).subarray(1) })) proc.input.write(b)
      }
      proc.input.write(bytes)
      for (const b of exec(5)) proc.input.write(b)
      const code = (await proc.exited).exitCode
      t.not(code, null, `${what}: the worker exited by itself`)
      t.match(Buffer.concat(stderr).toString(), /protocol error/, `${what}: and said why on stderr`)
      t.notOk(existsSync(marker), `${what}: nothing after the broken frame ran`)
    }
  })
}

t.test('values from the worker cannot pollute prototypes', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  for (const dict of ['map', 'object'] as const) {
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe', dict })
    const ch = gw.remoteExec("channel.send({'__proto__': {'polluted': 1}, 'constructor': {'prototype': {'polluted': 2}}, 'toString': 3})")
    const value = await ch.receive() as Record<string, unknown> | Map<string, unknown>
    t.equal(({} as Record<string, unknown>).polluted, undefined, `${dict}: Object.prototype untouched`)
    t.equal(Object.getPrototypeOf(value), dict === 'map' ? Map.prototype : Object.prototype, `${dict}: the value's own prototype is the plain one`)
    if (!(value instanceof Map)) t.ok(Object.prototype.hasOwnProperty.call(value, '__proto__'), 'object: __proto__ is an own key')
    await gw.terminate(5)
  }
})

for (const minor of ['3.12', '2.7']) {
  t.test(`CPython ${minor}: a worker killed in the middle of a bulk transfer`, async (t) => {
    const interp: Interpreter | null = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
    if (interp === null) return
    const group = new Group({ stderr: 'pipe' })
    const gw = await group.makeGateway(specFor(interp))
    const ch = gw.remoteExec('n = 0\nfor chunk in channel:\n    n += len(chunk)\nchannel.send(n)')
    const other = gw.remoteExec('channel.receive()')
    const pendingOther = other.receive()
    let sent = 0
    const source = Readable.from((async function * () {
      for (;;) {
        sent++
        if (sent === 20) process.kill(gw.pid as number, 'SIGKILL')
        yield Buffer.alloc(1 << 20, sent & 255)
      }
    })())
    const err = await pipeline(source, ch).then(() => null, (e: unknown) => e)
    t.type(err, GatewayClosedError, 'the pipeline fails with the gateway error')
    t.match((err as Error).message, /SIGKILL/)
    t.ok(source.destroyed, 'the source was destroyed')
    await t.rejects(pendingOther, GatewayClosedError, 'a pending receive on another channel rejects')
    // the group still makes gateways
    const again = await group.makeGateway(specFor(interp))
    t.equal(await again.remoteExec('channel.send(6 * 7)').receive(), 42)
    await group.terminate(5)
  })
}

for (const minor of ['3.12', '2.7']) t.test(`CPython ${minor}: a Node program ended by SIGTERM leaves no worker behind`, async (t) => {
  const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
  if (interp === null) return
  const stdout = await new Promise<string>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/fixtures/leave-gateway-open.ts'), interp.argv[0] as string, 'sigterm'], { timeout: 60000, cwd: repoRoot }, (_err, out) => { resolve(out) })
  })
  const pid = Number(stdout.trim())
  t.ok(pid > 0, `worker pid ${stdout.trim()}`)
  t.ok(await gone(pid, 15000), 'the worker is gone')
})

t.test("channel writes honour the pipe's backpressure: write() turns false, then drains", async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const gw = await Gateway.start(specFor(interp), { stderr: 'pipe' })
  t.teardown(async () => { await gw.terminate(5) })
  const ch = gw.remoteExec('channel.receive()\nn = 0\nfor chunk in channel:\n    n += len(chunk)\nchannel.send(n)')
  const chunk = Buffer.alloc(1 << 20, 1)
  let accepted = 0
  while (ch.write(chunk)) {
    accepted++
    if (accepted > 500) break
  }
  t.ok(accepted < 100, `write() turned false after ${accepted} MiB while the worker was not reading`)
  await new Promise((resolve) => ch.once('drain', resolve))
  t.pass('drain came once the worker read')
  ch.end()
  t.equal(await ch.receive({ timeout: 30 }), (accepted) * (1 << 20), 'every byte arrived (the first chunk was taken by receive())')
})
