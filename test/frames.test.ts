// frameEncoder()/frameDecoder(): execnet's '!bii' message frames.
import t from 'tap'
import { Readable } from 'node:stream'
import { frameEncoder, frameDecoder, FrameReader, encodeFrame, MessageCode, messageCodeName, DataFormatError, OptionError, type Frame } from '../index.js'

async function collect<T> (stream: AsyncIterable<unknown>): Promise<T[]> {
  const out: T[] = []
  for await (const v of stream) out.push(v as T)
  return out
}

t.test('the header is struct.pack("!bii", code, channel, len)', async (t) => {
  // struct.pack('!bii', 4, 3, 2) == b'\x04\x00\x00\x00\x03\x00\x00\x00\x02'
  t.equal(encodeFrame({ code: MessageCode.CHANNEL_DATA, channelId: 3, payload: Buffer.from('hi') })[0]?.toString('hex'), '04' + '00000003' + '00000002' + '6869')
  // negative channel ids are legal int32s
  t.equal(encodeFrame({ code: 0, channelId: -1, payload: Buffer.alloc(0) })[0]?.toString('hex'), '00ffffffff00000000')
  t.same(Object.keys(MessageCode), ['STATUS', 'RECONFIGURE', 'GATEWAY_TERMINATE', 'CHANNEL_EXEC', 'CHANNEL_DATA', 'CHANNEL_CLOSE', 'CHANNEL_CLOSE_ERROR', 'CHANNEL_LAST_MESSAGE'])
  t.equal(messageCodeName(7), 'CHANNEL_LAST_MESSAGE')
})

t.test('round trip at any chunking; big payloads are not copied on the way out', async (t) => {
  const frames: Frame[] = []
  for (let i = 0; i < 50; i++) frames.push({ code: (i % 8) as Frame['code'], channelId: i * 2 + 1, payload: Buffer.alloc(i * 997, i) })
  frames.push({ code: MessageCode.CHANNEL_DATA, channelId: 9, payload: Buffer.alloc(300_000, 5) })
  const bytes = Buffer.concat(await collect<Buffer>(Readable.from(frames).pipe(frameEncoder())))
  for (const step of [1, 5, 9, 4096, bytes.length]) {
    const parts: Buffer[] = []
    for (let i = 0; i < bytes.length; i += step) parts.push(bytes.subarray(i, i + step))
    const back = await collect<Frame>(Readable.from(parts).pipe(frameDecoder()))
    t.equal(back.length, frames.length, `${step}-byte chunks: every frame`)
    t.ok(back.every((f, i) => f.code === frames[i]?.code && f.channelId === frames[i]?.channelId && f.payload.equals(frames[i]?.payload as Buffer)), `${step}-byte chunks: same frames`)
  }
  const big = Buffer.alloc(100_000)
  const out = encodeFrame({ code: 4, channelId: 1, payload: [Buffer.from('head'), big] })
  t.equal(out[2], big, 'the large chunk itself is written')
})

t.test('bad frames are DataFormatErrors with the offset', async (t) => {
  const ok = encodeFrame({ code: 4, channelId: 1, payload: Buffer.from('x') })[0] as Buffer
  const cases: Array<[string, Buffer, RegExp, number]> = [
    ['unknown code', Buffer.concat([ok, Buffer.from('08000000010000000000', 'hex')]), /unknown message code 8/, 10],
    ['negative length', Buffer.concat([ok, Buffer.from('0400000001ffffffff', 'hex')]), /negative length/, 10],
    ['over maxFrameSize', Buffer.concat([ok, Buffer.from('0400000001000f0000', 'hex')]), /exceeds maxFrameSize \(1024\)/, 10],
    ['ends inside a header', Buffer.concat([ok, Buffer.from('0400', 'hex')]), /inside a frame header/, 10],
    ['ends inside a payload', Buffer.concat([ok, Buffer.from('040000000100000005616263', 'hex')]), /CHANNEL_DATA frame: 2 of its 5/, 10]
  ]
  for (const [what, bytes, message, offset] of cases) {
    for (const step of [1, bytes.length]) {
      const reader = new FrameReader({ maxFrameSize: 1024 })
      try {
        for (let i = 0; i < bytes.length; i += step) reader.write(bytes.subarray(i, i + step), () => {})
        reader.end()
        t.fail(`${what} should fail`)
      } catch (err) {
        t.ok(err instanceof DataFormatError, `${what} (${step}): DataFormatError`)
        t.match((err as Error).message, message)
        t.equal((err as DataFormatError).offset, offset)
      }
    }
  }
  await t.rejects(collect(Readable.from([Buffer.from('0400', 'hex')]).pipe(frameDecoder())), DataFormatError, 'the stream errors too')
  await t.rejects(collect(Readable.from([{ code: 9, channelId: 1, payload: Buffer.alloc(0) }]).pipe(frameEncoder())), OptionError, 'encoder refuses unknown codes')
  await t.rejects(collect(Readable.from([{ code: 1, channelId: 2 ** 31, payload: Buffer.alloc(0) }]).pipe(frameEncoder())), OptionError, 'and channel ids beyond int32')
  t.throws(() => new FrameReader({ maxFrameSize: 0 }), OptionError)
})

t.test('frameEncoder joins small frames written in one tick into one chunk, and keeps large payloads apart', async (t) => {
  const enc = frameEncoder()
  const chunks: Buffer[] = []
  enc.on('data', (c: Buffer) => chunks.push(c))
  const big = Buffer.alloc(100 * 1024, 7)
  for (let i = 0; i < 100; i++) enc.write({ code: 4, channelId: 1, payload: Buffer.from([0x46, 0, 0, 0, i, 0x51]) })
  enc.write({ code: 4, channelId: 3, payload: big })
  enc.write({ code: 5, channelId: 1, payload: Buffer.alloc(0) })
  enc.end()
  await new Promise((resolve) => enc.on('end', resolve))
  t.equal(chunks.length, 3, 'the small frames with the big one\'s header, its payload (no copy), the last small frame')
  t.equal(chunks[1], big, 'the large payload is the same Buffer')
  const frames: Frame[] = []
  const reader = new FrameReader()
  for (const c of chunks) reader.write(c, (f) => frames.push(f))
  t.equal(frames.length, 102)
  t.same([...(frames[99]?.payload ?? [])], [0x46, 0, 0, 0, 99, 0x51])
  t.equal(frames[100]?.payload.length, big.length)
  t.equal(frames[101]?.code, 5)
})
