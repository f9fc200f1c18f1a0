// The value and frame decoders meet random and mutated input: they give
// values or a DataFormatError, never another exception or a hang, and never
// hold memory far beyond the input. FUZZ_RUNS sets the count (bench/fuzz.ts
// runs as long as asked).
import t from 'tap'
import { fc, dumpInput, frameInput, checkDump, checkFrames } from './helpers/fuzz.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 20000)

t.test(`value decoder: ${RUNS} random and mutated dumps`, async (t) => {
  const before = process.memoryUsage().rss
  fc.assert(fc.property(dumpInput, (input) => { checkDump(input) }), { numRuns: RUNS, seed: 0x5eed })
  t.pass('only values and DataFormatErrors')
  const grown = (process.memoryUsage().rss - before) / 2 ** 20
  t.ok(grown < 256, `rss grew ${grown.toFixed(0)} MiB`)
})

t.test(`frame decoder: ${RUNS} random and mutated frame streams`, async (t) => {
  fc.assert(fc.property(frameInput, (input) => { checkFrames(input) }), { numRuns: RUNS, seed: 0xf4a3e })
  t.pass('only frames and DataFormatErrors')
})

t.test('a huge announced length costs nothing ahead of its bytes', async (t) => {
  const { loads, DataFormatError, FrameReader } = await import('../index.js')
  const t0 = Date.now()
  for (const op of [0x41, 0x4e, 0x4b, 0x53, 0x4d, 0x48]) {
    const input = Buffer.from([0x02, op, 0x7f, 0xff, 0xff, 0xff, 0x51])
    t.throws(() => loads(input), DataFormatError)
  }
  const reader = new FrameReader()
  t.throws(() => { reader.write(Buffer.from([4, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff]), () => {}) }, DataFormatError, 'a 2 GiB frame header is refused at once')
  t.ok(Date.now() - t0 < 1000)
})
