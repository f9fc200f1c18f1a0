// Flow control end to end: bulk transfers both ways against slow consumers
// keep the peak memory of master and worker bounded and lose nothing;
// channels sharing a gateway stay responsive; two sides that both send
// before reading do not deadlock; execnet's own workers work without it.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { Gateway, DEFAULT_WINDOW, OptionError, type Progress } from '../index.js'
import { cpython, require, venvPython, type Interpreter } from './helpers/interpreters.js'
import { specFor } from './helpers/targets.js'
import { MiB, peakRss, PYTHON_MEMORY, resetPeak } from './helpers/memory.js'

const SIZE = Number(process.env.FLOW_BYTES ?? 2048 * MiB)
const CHUNK = MiB
/** The documented bound: peak RSS above the start, each process, whatever the size. */
const BOUND = 64 * MiB

const dir = mkdtempSync(join(tmpdir(), 'execnet-flow-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })

/** A file of SIZE bytes, each MiB different; its sha256 and byte sum. */
let bigFile: Promise<{ path: string, sha256: string, sum: number }> | null = null
function fileOfSize (): Promise<{ path: string, sha256: string, sum: number }> {
  bigFile ??= (async () => {
    const path = join(dir, 'big.bin')
    const out = createWriteStream(path)
    const hash = createHash('sha256')
    const base = randomBytes(CHUNK)
    let baseSum = 0
    for (const b of base.subarray(8)) baseSum += b
    let sum = 0
    for (let i = 0; i < SIZE / CHUNK; i++) {
      const block = Buffer.from(base)
      block.writeBigUInt64BE(BigInt(i), 0)
      for (let k = 0; k < 8; k++) sum += block[k] as number
      sum += baseSum
      hash.update(block)
      if (!out.write(block)) await once(out, 'drain')
    }
    out.end()
    await once(out, 'finish')
    return { path, sha256: hash.digest('hex'), sum }
  })()
  return bigFile
}

const SLOW_CONSUMER = `${PYTHON_MEMORY}
import hashlib, time
def consume(channel, sleep, use_numpy):
    if use_numpy:
        import numpy
    start = hwm()
    h = hashlib.sha256()
    n = total = 0
    for i, chunk in enumerate(channel):
        if use_numpy:
            total += int(numpy.frombuffer(chunk, 'u1').sum())
        n += len(chunk)
        h.update(chunk)
        # long pauses: the worker's receiver thread then reads on, and
        # only flow control keeps it from reading everything sent meanwhile
        if i % 16 == 0:
            time.sleep(sleep)
    channel.send((n, total, h.hexdigest(), start, hwm()))
`

const FLOODER = `${PYTHON_MEMORY}
import hashlib, os, struct
def flood(channel, count, size):
    base = bytearray(os.urandom(size))
    start = hwm()
    h = hashlib.sha256()
    for i in range(count):
        struct.pack_into('!Q', base, 0, i)
        # a bytes value on both lines (Python 2's str would arrive as a string)
        chunk = bytearray(base) if str is bytes else bytes(base)
        h.update(chunk)
        channel.send(chunk)
    channel.send((h.hexdigest(), start, hwm()))
`

interface Case { label: string, find: () => Interpreter | null, what: string, numpy: boolean }
const cases: Case[] = [
  { label: 'CPython 3 with numpy', find: venvPython, what: 'the test venv with numpy', numpy: true },
  { label: 'CPython 2.7', find: () => cpython('2.7'), what: 'CPython 2.7 (pyenv)', numpy: false }
]

for (const c of cases) {
  t.test(`${c.label}: ${SIZE / MiB} MiB from a file into a worker sleeping per chunk, memory bounded`, async (t) => {
    const interp = require(t, c.find(), c.what)
    if (interp === null) return
    const file = await fileOfSize()
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe' })
    t.teardown(() => gw.terminate(5))
    t.equal(gw.flowWindow, DEFAULT_WINDOW, 'flow control is on with our worker')
    const ch = gw.remoteExec(SLOW_CONSUMER, { sleep: 0.05, use_numpy: c.numpy }, { call: 'consume' })
    resetPeak()
    const start = peakRss()
    await pipeline(createReadStream(file.path, { highWaterMark: CHUNK }), ch)
    const masterPeak = peakRss() - start
    const [n, total, sha256, workerStart, workerPeak] = Array.from(await ch.receive() as Iterable<unknown>) as [number, number, string, number, number]
    t.equal(n, SIZE, 'every byte arrived')
    t.equal(sha256, file.sha256, 'in order, unchanged (sha256)')
    if (c.numpy) t.equal(total, file.sum, 'numpy summed what it was sent')
    t.ok(masterPeak < BOUND, `master peak RSS +${(masterPeak / MiB).toFixed(1)} MiB < ${BOUND / MiB} MiB`)
    t.ok(workerPeak - workerStart < BOUND, `worker peak RSS +${((workerPeak - workerStart) / MiB).toFixed(1)} MiB < ${BOUND / MiB} MiB`)
    t.equal(ch.bytesSent, SIZE + (SIZE / CHUNK) * 6, 'bytesSent counts the payloads (a bytes dump is its data + 6)')
  })

  if (c.numpy) {
    t.test(`${c.label}: the same without flow control (window: Infinity) grows past the bound`, async (t) => {
      const interp = require(t, c.find(), c.what)
      if (interp === null) return
      const gw = await Gateway.start(specFor(interp), { stderr: 'pipe', window: Infinity })
      t.teardown(() => gw.terminate(5))
      const ch = gw.remoteExec(SLOW_CONSUMER, { sleep: 0.05, use_numpy: false }, { call: 'consume' })
      const chunk = Buffer.alloc(CHUNK, 7)
      for (let i = 0; i < 256; i++) await ch.send(chunk)
      ch.end()
      const [n, , , workerStart, workerPeak] = Array.from(await ch.receive() as Iterable<unknown>) as number[]
      t.equal(n, 256 * CHUNK)
      t.ok((workerPeak as number) - (workerStart as number) > BOUND, `worker peak RSS +${(((workerPeak as number) - (workerStart as number)) / MiB).toFixed(1)} MiB: the bound above is flow control's doing`)
    })
  }

  t.test(`${c.label}: a worker flooding a master that reads slowly, memory bounded`, async (t) => {
    const interp = require(t, c.find(), c.what)
    if (interp === null) return
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe' })
    t.teardown(() => gw.terminate(5))
    resetPeak()
    const start = peakRss()
    const ch = gw.remoteExec(FLOODER, { count: SIZE / CHUNK, size: CHUNK }, { call: 'flood' })
    const hash = createHash('sha256')
    let got = 0
    let last: unknown = null
    let calls = 0
    await pipeline(ch, new Writable({
      objectMode: true,
      write (item: unknown, _enc, done) {
        if (Buffer.isBuffer(item)) {
          hash.update(item)
          got += item.length
        } else {
          last = item
        }
        // slow: a timer turn every 8th chunk (a timer per chunk would make this test minutes)
        if (++calls % 8 === 0) setTimeout(done, 10)
        else done()
      }
    }))
    const masterPeak = peakRss() - start
    const [sha256, workerStart, workerPeak] = Array.from(last as Iterable<unknown>) as [string, number, number]
    t.equal(got, SIZE, 'every byte arrived')
    t.equal(hash.digest('hex'), sha256, 'in order, unchanged (sha256)')
    t.ok(masterPeak < BOUND, `master peak RSS +${(masterPeak / MiB).toFixed(1)} MiB < ${BOUND / MiB} MiB`)
    t.ok(workerPeak - workerStart < BOUND, `worker peak RSS +${((workerPeak - workerStart) / MiB).toFixed(1)} MiB < ${BOUND / MiB} MiB`)
  })
}

for (const minor of ['3.12', '2.7']) {
  t.test(`CPython ${minor}: both sides send more than the window before reading: no deadlock`, async (t) => {
    const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
    if (interp === null) return
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe', window: 256 * 1024 })
    t.teardown(() => gw.terminate(5))
    const ch = gw.remoteExec(`
      for i in range(64):
          channel.send(b"w" * 131072)
      n = 0
      for chunk in channel:
          n += len(chunk)
      channel.send(n)
    `)
    const chunk = Buffer.alloc(131072, 1)
    for (let i = 0; i < 64; i++) await ch.send(chunk)
    ch.end()
    let got = 0
    for (let i = 0; i < 64; i++) got += (await ch.receive() as Buffer).length
    t.equal(got, 64 * 131072, 'the worker\'s 8 MiB arrived')
    t.equal(await ch.receive(), 64 * 131072, 'and ours reached it')
  })

  t.test(`CPython ${minor}: a worker blocked in send() is released when the master closes the channel`, async (t) => {
    const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
    if (interp === null) return
    const gw = await Gateway.start(specFor(interp), { stderr: 'pipe', window: 65536 })
    t.teardown(() => gw.terminate(5))
    const ch = gw.remoteExec(`
      report = channel.receive()
      try:
          while True:
              channel.send(b"x" * 65536)
      except IOError:
          report.send("released: %s" % (channel.isclosed(),))
    `)
    const report = gw.newChannel()
    await ch.send(report)
    await new Promise((resolve) => setTimeout(resolve, 200))
    t.ok(ch.bytesReceived <= 2 * 65536 + 12, `the worker stopped at its window (${ch.bytesReceived} bytes)`)
    ch.close()
    t.equal(await report.receive({ timeout: 10 }), 'released: True')
  })
}

t.test('credit is granted whichever way the items are consumed', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  // a small window: each transfer below needs many grants
  const gw = await Gateway.start(specFor(interp), { stderr: 'pipe', window: 65536 })
  t.teardown(() => gw.terminate(5))
  const COUNT = 512
  const flood = `for i in range(${COUNT}):\n    channel.send(b"f" * 16384)\nchannel.send("end")`

  // master side: a callback
  let got = 0
  await new Promise<void>((resolve) => {
    gw.remoteExec(flood).setCallback((item) => { if (item === 'end') resolve(); else got += (item as Buffer).length })
  })
  t.equal(got, COUNT * 16384, 'setCallback consumes')

  // master side: receive with a timeout, and async iteration
  const a = gw.remoteExec(flood)
  let n = 0
  while (await a.receive({ timeout: 10 }) !== 'end') n++
  t.equal(n, COUNT, 'receive({timeout}) consumes')
  let m = 0
  for await (const item of gw.remoteExec(flood)) if (item !== 'end') m++
  t.equal(m, COUNT, 'for await consumes')

  // worker side: a callback, receive(timeout), makefile('r')
  const chunk = Buffer.alloc(16384, 7)
  for (const [how, source] of [
    ['setcallback', 'import threading\ndone = threading.Event()\ncount = [0]\ndef on(item):\n    if item is None:\n        done.set()\n    else:\n        count[0] += len(item)\nchannel.setcallback(on, endmarker=None)\ndone.wait(30)\n'],
    ['receive(timeout)', 'count = [0]\nwhile True:\n    try:\n        item = channel.receive(timeout=10)\n    except EOFError:\n        break\n    count[0] += len(item)\n'],
    ["makefile('r')", 'f = channel.makefile("r")\ncount = [0]\nwhile True:\n    data = f.read(16384)\n    if not data:\n        break\n    count[0] += len(data)\n']
  ] as const) {
    const worker = gw.remoteExec(`${source}channel.send(count[0])\n`)
    for (let i = 0; i < COUNT; i++) await worker.send(chunk)
    worker.end()
    t.equal(await worker.receive({ timeout: 30 }), COUNT * 16384, `the worker consumed all by ${how}`)
  }
})

t.test('close() after sends still waiting for credit: they arrive first, then the close', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const gw = await Gateway.start(specFor(interp), { stderr: 'pipe', window: 65536 })
  t.teardown(() => gw.terminate(5))
  const ch = gw.remoteExec(`
    import time
    report = channel.receive()
    n = 0
    for chunk in channel:
        n += len(chunk)
        time.sleep(0.01)
    report.send((n, channel.isclosed()))
  `)
  const report = gw.newChannel()
  await ch.send(report)
  const sends = Array.from({ length: 16 }, async () => { await ch.send(Buffer.alloc(65536)) })
  ch.close()
  await Promise.all(sends)
  t.same(await report.receive({ timeout: 20 }), [16 * 65536, true], 'all 1 MiB arrived before the close')
  await report.waitClose(10)
  t.equal(gw.channelCount, 0, 'neither channel is routed any more')
})

t.test('a bulk transfer on one channel does not starve another (pings while streaming, both ways)', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const gw = await Gateway.start(specFor(interp), { stderr: 'pipe' })
  t.teardown(() => gw.terminate(5))
  const ping = gw.remoteExec('for x in channel:\n    channel.send(x)')
  const pings = async (): Promise<number[]> => {
    const times: number[] = []
    for (let i = 0; i < 40; i++) {
      const t0 = process.hrtime.bigint()
      await ping.send(i)
      if (await ping.receive() !== i) throw new Error('wrong pong')
      times.push(Number(process.hrtime.bigint() - t0) / 1e6)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    return times.sort((a, b) => a - b)
  }
  const sink = gw.remoteExec('n = 0\nfor chunk in channel:\n    n += len(chunk)\nchannel.send(n)')
  const source = gw.remoteExec('for i in range(512):\n    channel.send(b"s" * 1048576)')
  const chunk = Buffer.alloc(MiB, 2)
  let streaming = true
  const toWorker = (async () => {
    let sent = 0
    while (streaming) { await sink.send(chunk); sent++ }
    sink.end()
    return sent
  })()
  let fromWorker = 0
  source.on('data', (b: Buffer) => { fromWorker += b.length })
  const times = await pings()
  streaming = false
  const sent = await toWorker
  t.equal(await sink.receive(), sent * MiB, `${sent} MiB streamed to the worker meanwhile`)
  await once(source, 'end')
  t.equal(fromWorker, 512 * MiB, '512 MiB streamed from the worker meanwhile')
  const median = times[times.length >> 1] as number
  t.ok(median < 100, `median ping ${median.toFixed(2)} ms while streaming (max ${(times.at(-1) as number).toFixed(1)} ms)`)
})

t.test('progress events and byte counters', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const gw = await Gateway.start(specFor(interp), { stderr: 'pipe' })
  t.teardown(() => gw.terminate(5))
  const ch = gw.remoteExec('for chunk in channel:\n    channel.send(len(chunk))')
  const events: Progress[] = []
  ch.on('progress', (p: Progress) => { events.push(p) })
  const chunk = Buffer.alloc(256 * 1024)
  for (let i = 0; i < 32; i++) await ch.send(chunk)
  ch.end()
  const lengths: unknown[] = []
  for await (const n of ch) lengths.push(n)
  t.equal(lengths.length, 32)
  t.equal(ch.bytesSent, 32 * (256 * 1024 + 6), 'bytesSent: payload bytes')
  t.equal(ch.bytesReceived, 32 * 6, 'bytesReceived: 32 small ints of 6 bytes')
  t.ok(events.length >= 7 && events.length <= 9, `one event per MiB moved (${events.length})`)
  t.ok(events.every((e, i) => i === 0 || e.bytesSent >= (events[i - 1] as Progress).bytesSent), 'counts only grow')
})

t.test('flow control is negotiated: off with execnet\'s workers and with window: Infinity', async (t) => {
  const venv = require(t, venvPython(), 'the test venv with execnet 2.x')
  if (venv === null) return
  const real = await Gateway.start(specFor(venv, 'execnet'), { stderr: 'pipe', window: 65536 })
  t.teardown(() => real.terminate(5))
  t.equal(real.flowWindow, null, 'no window with a real execnet worker')
  // execnet has no half-close: the end is a None
  const ch = real.remoteExec('import time\nn = 0\nfor chunk in iter(channel.receive, None):\n    n += len(chunk)\n    time.sleep(0.001)\nchannel.send(n)')
  const chunk = Buffer.alloc(MiB, 3)
  for (let i = 0; i < 32; i++) await ch.send(chunk)
  await ch.send(null)
  t.equal(await ch.receive(), 32 * MiB, 'a bulk transfer to execnet\'s worker works as before')

  const off = await Gateway.start(specFor(venv), { stderr: 'pipe', window: Infinity })
  t.teardown(() => off.terminate(5))
  t.equal(off.flowWindow, null)
  t.equal(await off.remoteExec('channel.send(channel.gateway.flows.window)').receive(), null, 'our worker was told: no window')
  const on = await Gateway.start(specFor(venv), { stderr: 'pipe', window: 123456 })
  t.teardown(() => on.terminate(5))
  t.equal(await on.remoteExec('channel.send(channel.gateway.flows.window)').receive(), 123456, 'our worker got the window')

  for (const bad of [0, -1, 1.5, Number.NaN]) {
    await t.rejects(Gateway.start(specFor(venv), { window: bad }), OptionError, `window ${bad} is refused before anything starts`)
  }
})
