// Malformed input: every case in ../shared/vectors/malformed.jsonl gives one
// DataFormatError (or, for execnet 1.x's version byte, the value), whether
// loaded whole or streamed one byte at a time, and no other exception.
import t from 'tap'
import { loads, Loader, DataFormatError } from '../index.js'
import { vectorsFound, malformedCases } from './helpers/vectors.js'
import { expected } from './helpers/tree.js'

function streamed (bytes: Buffer): unknown[] {
  const loader = new Loader()
  const out: unknown[] = []
  for (let i = 0; i < bytes.length; i++) loader.write(bytes.subarray(i, i + 1), (v) => out.push(v))
  loader.end()
  return out
}

if (vectorsFound(t)) {
  for (const c of malformedCases()) {
    t.test(c.name, async (t) => {
      const bytes = Buffer.from(c.hex, 'hex')
      if (c.expect === 'DataFormatError') {
        t.throws(() => loads(bytes), DataFormatError, 'loads: DataFormatError')
        try {
          loads(bytes)
        } catch (err) {
          t.type((err as DataFormatError).offset, 'number')
          t.ok((err as DataFormatError).offset >= 0 && (err as DataFormatError).offset <= bytes.length, `offset ${(err as DataFormatError).offset} within the input`)
        }
        // a stream has no "trailing bytes" rule, but every case is still an error, at the same offset
        if (bytes.length > 0) {
          t.throws(() => streamed(bytes), DataFormatError, 'streamed one byte at a time: DataFormatError')
          let whole = -1
          let bytewise = -2
          try { loads(bytes) } catch (err) { whole = (err as DataFormatError).offset }
          try { streamed(bytes) } catch (err) { bytewise = (err as DataFormatError).offset }
          t.equal(bytewise, whole, 'same offset whole or byte by byte')
        }
      } else {
        t.strictSame(loads(bytes), expected(c.expect.value), 'loads the value')
        t.strictSame(streamed(bytes), [expected(c.expect.value)], 'streamed, the same value')
      }
    })
  }
}

t.test('errors name the fault and its offset', async (t) => {
  const cases: Array<[string, RegExp, number]> = [
    ['025a51', /unknown opcode 'Z'/, 1],
    ['034c51', /bad format version byte 0x03/, 0],
    ['024e00000002c32851', /PY3STRING.*not valid UTF-8/, 1],
    ['024b0000000146000000054c5051', /index 5/, 12],
    ['024c4c4c51', /STOP with 3 items/, 4],
    ['024c5151', /trailing bytes/, 3],
    ['024b0000000246000000004c505051', /SETITEM needs a container/, 13]
  ]
  for (const [hex, message, offset] of cases) {
    try {
      loads(Buffer.from(hex, 'hex'))
      t.fail(`${hex} should not load`)
    } catch (err) {
      t.ok(err instanceof DataFormatError, `${hex}: DataFormatError`)
      t.match((err as Error).message, message, `${hex}: ${(err as Error).message}`)
      t.equal((err as DataFormatError).offset, offset, `${hex}: offset`)
    }
  }
})

t.test('structures Python refuses are refused', async (t) => {
  const bad: Array<[string, string]> = [
    ['list as dict key', '024a4b000000004c5051'],
    ['dict as dict key', '024a4a4c5051'],
    ['set as set member', '024f00000000 4f0000000151'],
    ['tuple holding a list as dict key', '024a4b00000000400000000 14c5051'],
    ['SETITEM on a tuple', '0240000000004c4c5051'],
    ['SETITEM on a set', '024f000000004c4c5051'],
    ['SETITEM on bytes', '0241000000004c4c5051'],
    ['list index as a string', '024b000000014e00000001304c5051'],
    ['list index skipping ahead', '024b000000024600000001 4c5051'],
    ['incomplete list inside a tuple', '024b00000002400000000151'],
    ['incomplete list as a dict value', '024a4c4b000000015051'],
    ['tuple of more items than the stack holds', '024c400000000551'],
    ['negative tuple count', '024c40ffffffff51'],
    ['negative bytes length', '0241ffffffff51'],
    ['negative list length', '024bffffffff51'],
    ['channel without a gateway', '02420000000151'],
    ['LONGINT with a plus sign', '02480000000 22b3151'],
    ['LONGINT empty', '02480000000051'],
    ['LONGINT just a minus', '0248000000012d51'],
    ['UNICODE encoded surrogate', '025300000003eda08051'],
    ['PY3STRING overlong', '024e00000002c0af51'],
    ['PY3STRING beyond U+10FFFF', '024e00000004f490808051']
  ]
  for (const [what, hex] of bad) {
    t.throws(() => loads(Buffer.from(hex.replace(/ /g, ''), 'hex')), DataFormatError, what)
  }
})
