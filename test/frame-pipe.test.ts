// The gateway's frame link (lib/frame-pipe.ts) over stand-in stdio streams:
// the bytes it writes, the frames it reads, backpressure both ways, and how
// malformed input and endings surface.
import t from 'tap'
import { PassThrough, Writable } from 'node:stream'
import { FramePipe } from '../lib/wire/pipe.js'
import { encodeFrame, DataFormatError, OptionError, type Frame } from '../index.js'
import type { Readable as RSReadable, Writable as RSWritable } from 'readable-stream'

const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

function pipeOver (input: Writable | PassThrough, output: PassThrough, options = {}): FramePipe {
  return new FramePipe(input as unknown as RSWritable, output as unknown as RSReadable, options)
}

function frame (channelId: number, payload: Buffer): Frame {
  return { code: 4, channelId, payload }
}

t.test('frames written in one tick leave as one chunk of their encoding; large payloads as themselves', async (t) => {
  const input = new PassThrough()
  const chunks: Buffer[] = []
  input.on('data', (c: Buffer) => { chunks.push(c) })
  const pipe = pipeOver(input, new PassThrough())
  const small = [frame(1, Buffer.from('a')), frame(3, Buffer.from('bc')), frame(5, Buffer.alloc(0))]
  for (const f of small) pipe.write(f)
  await tick()
  t.equal(chunks.length, 1, 'one write for the burst')
  t.ok(chunks[0]?.equals(Buffer.concat(small.flatMap((f) => encodeFrame(f)))), 'the frames, in order')
  const big = Buffer.alloc(100_000, 7)
  pipe.write(frame(7, big))
  await tick()
  t.equal(chunks.length, 3, 'a large frame: its header, then its payload')
  t.equal(chunks[2]?.length, big.length)
  t.ok(chunks[2]?.equals(big))
  pipe.destroy()
})

t.test('a large frame reaches a stdin that gathers writes in one writev, with the small frames before it', async (t) => {
  const calls: Buffer[][] = []
  const input = new Writable({
    write (chunk: Buffer, _enc, callback) { calls.push([chunk]); callback() },
    writev (entries, callback) { calls.push(entries.map((e) => e.chunk as Buffer)); callback() }
  })
  const pipe = pipeOver(input, new PassThrough())
  const small = frame(1, Buffer.from('ab'))
  const big = Buffer.alloc(100_000, 7)
  pipe.write(small)
  pipe.write(frame(3, big))
  await tick()
  t.equal(calls.length, 1, 'one write call for both frames')
  const parts = calls[0] ?? []
  t.equal(parts.length, 2, 'the small frame with the large one\'s header, then the payload')
  t.equal(parts[1], big, 'the payload is the Buffer written, not a copy')
  t.ok(Buffer.concat(parts).equals(Buffer.concat([...encodeFrame(small), ...encodeFrame(frame(3, big))])), 'the bytes of both frames, in order')
  pipe.destroy()
})

t.test('bytes from the worker come out as frames, cut anywhere', async (t) => {
  const frames = Array.from({ length: 40 }, (_, i) => frame(i, Buffer.alloc(i * 31, i)))
  const bytes = Buffer.concat(frames.flatMap((f) => encodeFrame(f)))
  for (const step of [1, 7, 9, 1000, bytes.length]) {
    const output = new PassThrough()
    const pipe = pipeOver(new PassThrough(), output)
    const got: Frame[] = []
    pipe.on('data', (f: Frame) => { got.push(f) })
    const ended = new Promise((resolve) => pipe.once('end', resolve))
    for (let i = 0; i < bytes.length; i += step) output.write(bytes.subarray(i, i + step))
    output.end()
    await ended
    t.equal(got.length, frames.length, `${step}-byte chunks: every frame`)
    t.ok(got.every((f, i) => f.channelId === frames[i]?.channelId && f.payload.equals(frames[i]?.payload as Buffer)), `${step}-byte chunks: same frames`)
  }
})

t.test('a reader that does not read pauses the worker\'s stdout; reading resumes it', async (t) => {
  const output = new PassThrough({ highWaterMark: 1024 })
  const pipe = pipeOver(new PassThrough(), output)
  const one = encodeFrame(frame(1, Buffer.from('x')))[0] as Buffer
  let accepted = 0
  // write until the output stream itself holds back: the pipe stopped taking
  for (let i = 0; i < 5000; i++) if (output.write(one)) accepted++
  pipe.resume()
  pipe.pause()
  await tick()
  t.ok(output.isPaused(), 'stdout paused once the frames buffered reach the read-ahead')
  t.ok(pipe.readableLength <= 1024 + 1, `at most the read-ahead buffered (${pipe.readableLength})`)
  let got = 0
  pipe.on('data', () => { got++ })
  pipe.resume()
  await tick()
  await tick()
  t.equal(got, 5000, 'every frame arrives once read')
  t.ok(accepted > 0)
  pipe.destroy()
})

t.test('a full stdin holds the write callback until it drains', async (t) => {
  const parked: Array<() => void> = []
  let written = 0
  const input = new Writable({
    highWaterMark: 16,
    write (chunk: Buffer, _enc, callback) { written += chunk.length; parked.push(callback) }
  })
  const pipe = pipeOver(input, new PassThrough())
  let done = 0
  pipe.write(frame(1, Buffer.alloc(100)), () => { done++ })
  await tick()
  pipe.write(frame(1, Buffer.alloc(100)), () => { done++ })
  await tick()
  t.equal(done, 1, 'the second write waits: stdin refused the first chunk')
  t.equal(written, 109, 'only the first chunk reached stdin')
  while (parked.length > 0) parked.shift()?.()
  await tick()
  while (parked.length > 0) parked.shift()?.()
  await tick()
  t.equal(done, 2, 'released by the drain')
  t.equal(written, 218)
  pipe.destroy()
})

t.test('malformed frames and an ending inside a frame are DataFormatErrors; a bad frame to write is an OptionError', async (t) => {
  const output = new PassThrough()
  const pipe = pipeOver(new PassThrough(), output)
  const failed = new Promise<Error>((resolve) => pipe.once('error', resolve))
  pipe.resume()
  // a header cut in two: the code is checked once all 9 bytes are there
  output.write(Buffer.from('0900000001', 'hex'))
  output.write(Buffer.from('00000000', 'hex'))
  const err = await failed
  t.type(err, DataFormatError)
  t.match(err.message, /unknown message code 9/)
  t.ok(output.destroyed, 'the worker\'s stdout is let go')

  const cut = new PassThrough()
  const pipe2 = pipeOver(new PassThrough(), cut)
  const failed2 = new Promise<Error>((resolve) => pipe2.once('error', resolve))
  pipe2.resume()
  cut.end((encodeFrame(frame(1, Buffer.alloc(10)))[0] as Buffer).subarray(0, 12))
  t.match((await failed2).message, /input ends inside a CHANNEL_DATA frame: 7 of its 10 payload bytes missing/)

  const pipe3 = pipeOver(new PassThrough(), new PassThrough())
  const failed3 = new Promise<Error>((resolve) => pipe3.once('error', resolve))
  pipe3.write({ code: 42, channelId: 1, payload: Buffer.alloc(0) })
  const err3 = await failed3
  t.type(err3, OptionError)
  t.match(err3.message, /message codes 0..7/)
})

t.test('end() sends what is gathered and ends stdin; destroy() destroys both streams', async (t) => {
  const input = new PassThrough()
  const chunks: Buffer[] = []
  input.on('data', (c: Buffer) => { chunks.push(c) })
  const inputEnded = new Promise((resolve) => input.once('end', resolve))
  const pipe = pipeOver(input, new PassThrough())
  pipe.write(frame(1, Buffer.from('last')))
  pipe.end()
  await inputEnded
  t.ok(Buffer.concat(chunks).equals(encodeFrame(frame(1, Buffer.from('last')))[0] as Buffer), 'the last frame, then the end')

  const input2 = new PassThrough()
  const output2 = new PassThrough()
  const pipe2 = pipeOver(input2, output2)
  pipe2.destroy()
  await tick()
  t.ok(input2.destroyed && output2.destroyed)
})

t.test('an error on the output ends the pipe with it; so does a close without an end', async (t) => {
  for (const how of ['error', 'close'] as const) {
    const input = new PassThrough()
    const output = new PassThrough()
    const pipe = pipeOver(input, output)
    const failed = new Promise<Error>((resolve) => pipe.once('error', resolve))
    output.destroy(how === 'error' ? new Error('ECONNRESET on output') : undefined)
    t.match((await failed).message, how === 'error' ? 'ECONNRESET on output' : /premature close/i, `${how}: the pipe fails with it`)
  }
})

t.test('an error on the input stops writes but not the frames the worker sent before it', async (t) => {
  const input = new PassThrough()
  const output = new PassThrough()
  const pipe = pipeOver(input, output)
  const reported = new Promise<Error>((resolve) => pipe.once('inputError', resolve))
  input.destroy(new Error('EPIPE on input'))
  t.equal((await reported).message, 'EPIPE on input', "the owner hears of it as 'inputError'")
  const frames: Frame[] = []
  pipe.on('data', (f: Frame) => frames.push(f))
  const ended = new Promise((resolve) => pipe.once('end', resolve))
  await new Promise<void>((resolve) => { pipe.write({ code: 4, channelId: 1, payload: Buffer.from('dropped') }, () => { resolve() }) })
  for (const b of encodeFrame({ code: 4, channelId: 2, payload: Buffer.from('sent before it died') })) output.write(b)
  output.end()
  await ended
  t.same(frames.map((f) => f.payload.toString()), ['sent before it died'], 'what the worker wrote is still read to its end')
  t.notOk(pipe.destroyed && pipe.errored !== null, 'the pipe did not fail')
})
