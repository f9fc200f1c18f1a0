/**
 * Fuzzing the decoders: random bytes and mutations of valid dumps and frame
 * streams must give a value or a DataFormatError, nothing else, without
 * allocating far beyond the input. Shared by test/fuzz.test.ts (a bounded
 * count) and bench/fuzz.ts (as long as asked).
 */
import fc from 'fast-check'
import { dumps, loads, Loader, FrameReader, DataFormatError, tuple, FrozenSet, Complex, encodeFrame } from '../../index.js'

const leaf = fc.oneof(
  fc.constant(null), fc.boolean(), fc.integer(), fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }), fc.double(),
  fc.string({ maxLength: 12 }), fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)),
  fc.tuple(fc.double(), fc.double()).map(([a, b]) => new Complex(a, b))
)
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: 'small' },
    leaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(tie('value'), { maxLength: 3 }).map((a) => tuple(...a)),
    fc.array(fc.tuple(fc.string({ maxLength: 6 }), tie('value')), { maxLength: 3 }).map((e) => new Map<unknown, unknown>(e)),
    fc.uniqueArray(fc.integer(), { maxLength: 3 }).map((a) => new Set(a)),
    fc.uniqueArray(fc.string({ maxLength: 4 }), { maxLength: 3 }).map((a) => new FrozenSet(a))
  )
}))

/** A mutation: flip, set, insert or delete bytes, or cut the input. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('int4' as const), at: fc.nat(), n: fc.constantFrom(-1, 0, 1, 0x7fffffff, -0x80000000, 0x10000000, 255) })
)
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

export function mutate (input: Buffer, mutations: Mutation[]): Buffer {
  let b = Buffer.from(input)
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1)
    if (m.kind === 'set' && b.length > 0) b[at % b.length] = m.byte
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)])
    else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)])
    else if (m.kind === 'cut') b = b.subarray(0, at)
    else if (m.kind === 'int4' && b.length >= 4) b.writeInt32BE(m.n, Math.min(at, b.length - 4))
  }
  return b
}

/** Bytes to feed: pure noise, or a valid dump (of one or several values) mutated. */
export const dumpInput = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  fc.tuple(fc.array(value, { minLength: 1, maxLength: 3 }), fc.constantFrom(1 as const, 2 as const), fc.array(mutation, { minLength: 1, maxLength: 4 }))
    .map(([values, version, ms]) => mutate(Buffer.concat(values.map((v) => dumps(v, { version }))), ms))
)

/** Frame streams: valid frames around dumps, mutated. */
export const frameInput = fc.tuple(
  fc.array(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: -3, max: 9 }), value), { minLength: 1, maxLength: 4 }),
  fc.array(mutation, { maxLength: 4 })
).map(([frames, ms]) => mutate(Buffer.concat(frames.flatMap(([code, id, v]) => encodeFrame({ code, channelId: id, payload: dumps(v).subarray(1) }))), ms))

const LIMITS = { maxValueSize: 1 << 20, maxDepth: 64 }

/** Throws unless loading gives values or exactly a DataFormatError. */
export function checkDump (input: Buffer): void {
  expectOnlyDataFormatError(() => { loads(input, LIMITS) })
  // streamed in uneven chunks: the same rule
  expectOnlyDataFormatError(() => {
    const loader = new Loader(LIMITS)
    let p = 0
    let step = 1
    while (p < input.length) {
      loader.write(input.subarray(p, p + step), () => {})
      p += step
      step = (step * 3) % 7 + 1
    }
    loader.end()
  })
}

export function checkFrames (input: Buffer): void {
  expectOnlyDataFormatError(() => {
    const reader = new FrameReader({ maxFrameSize: 1 << 16 })
    const loader = new Loader(LIMITS, false)
    reader.write(input, (frame) => { if (frame.payload.length > 0) expectOnlyDataFormatError(() => loader.readOne(frame.payload)) })
    reader.end()
  })
}

function expectOnlyDataFormatError (fn: () => void): void {
  try {
    fn()
  } catch (err) {
    if (!(err instanceof DataFormatError)) throw err
  }
}

export { fc }
