// decoder() and frameDecoder() fail after the values before the fault:
// every value complete before a bad byte (or before an input that ends
// inside a value) reaches the consumer, whatever kind of consumer it is,
// and only then the DataFormatError. A Readable destroyed with an error
// drops what its buffer holds, so a decoder that destroyed itself at the
// bad byte lost everything of the last chunk to `for await` and pipeline.
import t from 'tap'
import { pipeline as pipelineCallback, Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Transform } from 'node:stream'
import { dumps, decoder, frameDecoder, encodeFrame, MessageCode, DataFormatError, None, type Frame } from '../index.js'

interface Outcome { got: unknown[], error: unknown }

/** One decoder under test: how to make it, its input's good part and what comes of it, and two ways to spoil the input after it. */
interface Subject {
  name: string
  make: () => Transform
  /** The whole items, as bytes, and as the consumer should see them. */
  input: (n: number) => { bytes: Buffer, expect: unknown[] }
  /** Bytes the transform rejects at once: a DataFormatError at their first byte. */
  bad: Buffer
  /** The start of one more item: the input ends inside it (an error at end of input). */
  cut: Buffer
  /** Where each error says the fault is, counted from the end of the whole items. */
  offsets: { bad: number, cut: number }
  /** What a consumer's item is compared as. */
  view: (item: unknown) => unknown
}

const subjects: Subject[] = [
  {
    name: 'decoder',
    make: () => decoder(),
    input: (n) => {
      const values = Array.from({ length: n }, (_, i) => (i % 3 === 2 ? null : [`value ${i}`, i]))
      return { bytes: Buffer.concat(values.map((v) => dumps(v))), expect: values.map((v) => (v === null ? None : v)) }
    },
    bad: Buffer.from('025a51', 'hex'), // opcode 'Z' does not exist
    cut: dumps(['a truncated third']).subarray(0, 6), // a writer that crashed
    offsets: { bad: 1, cut: 6 }, // the opcode after the version byte; where the input stopped
    view: (v) => v
  },
  {
    name: 'frameDecoder',
    make: () => frameDecoder(),
    input: (n) => {
      const frames = Array.from({ length: n }, (_, i) => ({ code: MessageCode.CHANNEL_DATA, channelId: i + 1, payload: Buffer.from(`payload ${i}`) }))
      return { bytes: Buffer.concat(frames.flatMap((f) => encodeFrame(f))), expect: frames.map((f) => [f.code, f.channelId, f.payload.toString()]) }
    },
    bad: Buffer.from([99, 0, 0, 0, 1, 0, 0, 0, 0]), // message code 99 does not exist
    cut: Buffer.concat(encodeFrame({ code: MessageCode.CHANNEL_DATA, channelId: 7, payload: Buffer.from('cut short') })).subarray(0, 12),
    offsets: { bad: 0, cut: 0 }, // both at the frame's header
    view: (v) => {
      const f = v as Frame
      return [f.code, f.channelId, f.payload.toString()]
    }
  }
]

const delay = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** A consumer reading a decoder fed `input` (one chunk, then the end). */
type Consumer = (make: () => Transform, input: Buffer) => Promise<Outcome>

/** A Writable collecting what it is given; a slow one takes a timer per value, so up to highWaterMark values wait in its buffer. */
function sink (got: unknown[], slow: boolean, highWaterMark = 16): Writable {
  return new Writable({
    objectMode: true,
    highWaterMark,
    write (v, _e, cb) {
      got.push(v)
      if (slow) setTimeout(cb, 1)
      else cb()
    }
  })
}

const consumers: Record<string, Consumer> = {
  "flowing 'data'": async (make, input) => {
    const got: unknown[] = []
    const dec = make()
    dec.on('data', (v: unknown) => { got.push(v) })
    const error = await new Promise((resolve) => { dec.on('error', resolve); dec.end(input) })
    return { got, error }
  },
  'paused read(), reading only once all is written': async (make, input) => {
    const got: unknown[] = []
    const dec = make()
    const error = new Promise((resolve) => { dec.on('error', resolve) })
    dec.end(input)
    await delay(10)
    const readAll = (): void => {
      for (let v = dec.read() as unknown; v !== null; v = dec.read() as unknown) got.push(v)
    }
    dec.on('readable', readAll)
    readAll()
    return { got, error: await error }
  },
  'for await': async (make, input) => {
    const got: unknown[] = []
    const dec = make()
    dec.end(input)
    try {
      for await (const v of dec) got.push(v)
      return { got, error: null }
    } catch (error) {
      return { got, error }
    }
  },
  'for await, a slow body': async (make, input) => {
    const got: unknown[] = []
    const dec = make()
    dec.end(input)
    try {
      for await (const v of dec) {
        got.push(v)
        await delay(1)
      }
      return { got, error: null }
    } catch (error) {
      return { got, error }
    }
  },
  'pipeline (node:stream/promises) into a Writable': async (make, input) => {
    const got: unknown[] = []
    try {
      await pipeline(Readable.from([input]), make(), sink(got, false))
      return { got, error: null }
    } catch (error) {
      return { got, error }
    }
  },
  'pipeline (node:stream/promises) into a slow Writable (highWaterMark 1)': async (make, input) => {
    const got: unknown[] = []
    try {
      await pipeline(Readable.from([input]), make(), sink(got, true, 1))
      return { got, error: null }
    } catch (error) {
      return { got, error }
    }
  },
  'pipeline (node:stream/promises) into a slow Writable (highWaterMark 16)': async (make, input) => {
    const got: unknown[] = []
    try {
      await pipeline(Readable.from([input]), make(), sink(got, true, 16))
      return { got, error: null }
    } catch (error) {
      return { got, error }
    }
  },
  'stream.pipeline with a callback': async (make, input) => {
    const got: unknown[] = []
    const error = await new Promise((resolve) => { pipelineCallback(Readable.from([input]), make(), sink(got, false), resolve) })
    return { got, error }
  },
  'pipe() into a slow Writable': async (make, input) => {
    const got: unknown[] = []
    const dec = make()
    const out = sink(got, true, 4)
    const error = await new Promise((resolve) => { dec.on('error', resolve); dec.pipe(out); dec.end(input) })
    // pipe() leaves the destination alone on a source error: it finishes what it was given
    while (out.writableLength > 0) await delay(2)
    return { got, error }
  }
}

/** The consumer's outcome, or a failure if it never ends (a held error must not hang). */
async function run (consumer: Consumer, make: () => Transform, input: Buffer): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<Outcome>((resolve) => { timer = setTimeout(() => { resolve({ got: [], error: 'hung: no error within 10 s' }) }, 10_000) })
  try {
    return await Promise.race([consumer(make, input), hang])
  } finally {
    clearTimeout(timer)
  }
}

for (const subject of subjects) {
  t.test(subject.name, async (t) => {
    // two whole items then the fault, in one chunk (the seed case); and
    // 40, more than the readable side's highWaterMark of 16, so that
    // backpressure holds most of them in the buffer when the fault is met
    for (const n of [2, 40]) {
      const { bytes, expect } = subject.input(n)
      const faults: Array<[string, Buffer, RegExp, number]> = [
        ['a bad byte', subject.bad, /unknown|message code/, subject.offsets.bad],
        ['input ending inside an item', subject.cut, /ends inside/, subject.offsets.cut]
      ]
      for (const [fault, tail, message, offset] of faults) {
        for (const [consumerName, consumer] of Object.entries(consumers)) {
          t.test(`${n} items then ${fault}: ${consumerName}`, async (t) => {
            const { got, error } = await run(consumer, subject.make, Buffer.concat([bytes, tail]))
            // a for-await loop gets None as null, as receive() does; stream
            // plumbing carries it as None, since a null chunk ends a stream
            const wanted = consumerName.startsWith('for await') ? expect.map((v) => (v === None ? null : v)) : expect
            t.strictSame(got.map(subject.view), wanted, `all ${n} items arrive`)
            t.ok(error instanceof DataFormatError, 'then the DataFormatError')
            t.match((error as Error).message, message)
            t.equal((error as DataFormatError).offset, bytes.length + offset, 'at the offset of the fault')
          })
        }
      }
    }
  })

  t.test(`${subject.name}: a good input still ends cleanly, and the fault in a later chunk`, async (t) => {
    const { bytes, expect } = subject.input(5)
    const got: unknown[] = []
    await pipeline(Readable.from([bytes]), subject.make(), sink(got, true))
    t.strictSame(got.map(subject.view), expect, 'no error, every item')
    // the fault arrives in its own chunk, long after the items were read
    const dec = subject.make()
    const seen: unknown[] = []
    dec.on('data', (v: unknown) => { seen.push(v) })
    const error = new Promise((resolve) => { dec.on('error', resolve) })
    dec.write(bytes)
    await delay(10)
    dec.write(subject.bad)
    t.ok(await error instanceof DataFormatError)
    t.equal(seen.length, 5)
  })
}

t.test('an error held for a destination nobody reads does not keep the program alive', async (t) => {
  const { execFile } = await import('node:child_process')
  const { join } = await import('node:path')
  const { repoRoot } = await import('./helpers/interpreters.js')
  const result = await new Promise<{ code: number | null, stdout: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/fixtures/unread-destination.ts')], { timeout: 20000, cwd: repoRoot }, (err, stdout) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout })
    })
  })
  t.equal(result.stdout, 'written\n')
  t.equal(result.code, 0, 'the program ended by itself')
})
