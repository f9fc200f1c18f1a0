// encoder()/decoder(): values <-> execnet bytes as Transform streams: files
// of many dumps, any chunking, backpressure, errors with stream offsets.
import t from 'tap'
import { createReadStream, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Readable, Writable } from 'node:stream'
import { dumps, loads, Loader, tuple, None, encoder, decoder, DataFormatError, DumpError } from '../index.js'
import { tempDir } from './helpers/tmp.js'

async function collect (stream: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = []
  for await (const v of stream) out.push(v)
  return out
}

function chunked (data: Buffer, sizes: () => number): Readable {
  const parts: Buffer[] = []
  for (let i = 0; i < data.length;) {
    const n = Math.max(1, sizes())
    parts.push(data.subarray(i, i + n))
    i += n
  }
  return Readable.from(parts, { objectMode: false })
}

const values: unknown[] = [['hello', 'world'], 1, tuple(2, 'x'), new Map([['k', Buffer.from('v')]]), 'é'.repeat(100), Buffer.alloc(70_000, 3), 2n ** 70n]

t.test('a file of one dump, as the seed page writes it', async (t) => {
  const dir = tempDir(t, 'ts')
  const file = join(dir, 'data.py23')
  await pipeline(Readable.from([['hello', 'world']]), encoder(), (await import('node:fs')).createWriteStream(file))
  const bytes = (await import('node:fs')).readFileSync(file)
  t.equal(bytes.toString('hex'), dumps(['hello', 'world']).toString('hex'), 'exactly dumps()')
  t.strictSame(await collect(createReadStream(file).pipe(decoder())), [['hello', 'world']])
})

t.test('many concatenated dumps, any chunking', async (t) => {
  const data = Buffer.concat(values.map((v) => dumps(v)))
  const dir = tempDir(t, 'ts')
  writeFileSync(join(dir, 'many.py23'), data)
  t.strictSame(await collect(createReadStream(join(dir, 'many.py23'), { highWaterMark: 7 }).pipe(decoder())), values, '7-byte file chunks')
  t.strictSame(await collect(chunked(data, () => 1).pipe(decoder())), values, '1-byte chunks')
  let seed = 42
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % 3000 }
  t.strictSame(await collect(chunked(data, rnd).pipe(decoder())), values, 'random chunks')
})

t.test('execnet 1.x and 2.x dumps mix in one stream', async (t) => {
  const data = Buffer.concat([dumps('a', { version: 1 }), dumps('b', { version: 2 })])
  t.strictSame(await collect(Readable.from([data]).pipe(decoder())), ['a', 'b'])
})

t.test('top-level None travels the stream as None, since null would end it; for await gives null', async (t) => {
  const data = Buffer.concat([dumps(null), dumps([null])])
  const chunks: unknown[] = []
  await new Promise((resolve, reject) => { Readable.from([data]).pipe(decoder()).on('data', (v) => chunks.push(v)).on('end', resolve).on('error', reject) })
  t.strictSame(chunks, [None, [null]], "'data' events")
  t.strictSame(await collect(Readable.from([data]).pipe(decoder())), [null, [null]], 'for await, as receive()')
  const out = await collect(Readable.from([None, 1]).pipe(encoder()))
  t.equal(Buffer.concat(out as Buffer[]).toString('hex'), Buffer.concat([dumps(null), dumps(1)]).toString('hex'))
})

t.test('errors carry the absolute stream offset; truncation is an error', async (t) => {
  const good = Buffer.concat([dumps(1), dumps('two')])
  const bad = Buffer.concat([good, Buffer.from('025a51', 'hex')])
  try {
    await collect(chunked(bad, () => 3).pipe(decoder()))
    t.fail('should not decode')
  } catch (err) {
    t.ok(err instanceof DataFormatError)
    t.equal((err as DataFormatError).offset, good.length + 1, 'offset counts from the stream start')
    t.match((err as Error).message, /unknown opcode 'Z'/)
  }
  const cut = dumps(['a', 'b']).subarray(0, -1)
  await t.rejects(collect(Readable.from([cut]).pipe(decoder())), DataFormatError, 'a stream ending inside a value errors')
  const got: unknown[] = []
  await t.rejects(pipeline(Readable.from([Buffer.concat([dumps(1), dumps(2).subarray(0, 4)])]), decoder(), new Writable({ objectMode: true, write (v, _e, cb) { got.push(v); cb() } })), DataFormatError)
  t.strictSame(got, [1], 'values before the error were delivered')
  await t.rejects(collect(Readable.from([1, () => 2]).pipe(encoder())), DumpError, 'encoder: DumpError for what cannot be dumped')
})

t.test('encoder -> decoder round trip in a pipeline', async (t) => {
  const out: unknown[] = []
  await pipeline(Readable.from(values), encoder({ version: 1 }), decoder(), new Writable({ objectMode: true, write (v, _e, cb) { out.push(v); cb() } }))
  t.strictSame(out, values)
})

t.test('decoder respects backpressure', async (t) => {
  const one = dumps('x'.repeat(100))
  const dec = decoder()
  let writes = 0
  while (dec.write(one)) writes++
  // bounded by the writable side's byte buffer plus the readable side's objects
  const bound = Math.ceil(dec.writableHighWaterMark / one.length) + dec.readableHighWaterMark + 1
  t.ok(writes <= bound, `write() returns false after ${writes} unread values (bound ${bound})`)
  const drained = new Promise((resolve) => dec.once('drain', resolve))
  let read = 0
  dec.on('data', () => { read++ })
  await drained
  t.ok(read >= writes, 'drain comes once the consumer reads')
})

t.test('resumes without re-parsing: a 10 MB document in 1-byte chunks is linear', async (t) => {
  const doc: unknown[] = []
  for (let i = 0; doc.length < 100_000; i++) doc.push(new Map<unknown, unknown>([['id', i], ['name', `item-${i}`], ['pair', tuple(i, i * 0.5)], ['blob', Buffer.alloc(40, i & 0xff)]]))
  const data = dumps(doc)
  t.ok(data.length > 10_000_000, `${(data.length / 1e6).toFixed(1)} MB`)
  const time = (bytes: Buffer, step: number): number => {
    const loader = new Loader()
    const start = process.hrtime.bigint()
    let n = 0
    for (let i = 0; i < bytes.length; i += step) loader.write(bytes.subarray(i, i + step), () => { n++ })
    loader.end()
    t.equal(n, 1)
    return Number(process.hrtime.bigint() - start) / 1e6
  }
  const whole = time(data, data.length)
  const bytewise = time(data, 1)
  t.comment(`whole: ${whole.toFixed(0)} ms, 1-byte chunks: ${bytewise.toFixed(0)} ms`)
  // quadratic re-parsing would take hours here; linear takes seconds
  t.ok(bytewise < 60_000, 'finishes in well under a minute')
  t.strictSame(loads(data), doc)
})
