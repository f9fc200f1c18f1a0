// dumps: the JavaScript -> Python mapping, byte for byte, and DumpError for
// what has no Python form, naming where it sits.
import t from 'tap'
import { dumps, loads, tuple, Tuple, FrozenSet, Complex, Float, float, Long, Py2Str, Unicode, None, ChannelRef, DumpError, OptionError, Encoder } from '../index.js'

const hex = (v: unknown, version?: 1 | 2): string => dumps(v, version === undefined ? {} : { version }).toString('hex')

t.test('scalars map to the opcodes execnet uses', async (t) => {
  t.equal(hex(null), '024c51', 'null -> None')
  t.equal(hex(None), '024c51', 'None -> None')
  t.equal(hex(true), '025251')
  t.equal(hex(false), '024351')
  t.equal(hex(1), '02460000000151', 'integral number -> int')
  t.equal(hex(-2147483648), '02468000000051', 'int32 min is still an int (F)')
  t.equal(hex(2147483648), '02480000000a' + Buffer.from('2147483648').toString('hex') + '51', 'beyond int32 -> LONGINT')
  t.equal(hex(-2147483649), '02480000000b' + Buffer.from('-2147483649').toString('hex') + '51', 'below -2**31 -> LONGINT (execnet fails here)')
  t.equal(hex(10n ** 20n), '024800000015' + Buffer.from('100000000000000000000').toString('hex') + '51', 'bigint -> LONGINT')
  t.equal(hex(5n), '02460000000551', 'small bigint -> int')
  t.equal(hex(1.5), '02443ff800000000000051', 'fraction -> float')
  t.equal(hex(float(3)), '02444008000000000000' + '51', 'Float(3) -> 3.0')
  t.equal(hex(-0), '02448000000000000000' + '51', '-0 -> -0.0, a float')
  t.equal(hex(2 ** 60), '0244' + '43b0000000000000' + '51', 'integral beyond 2**53 -> float (it is not exact)')
  t.equal(hex(Number.NaN), '02447ff8000000000000' + '51')
  t.equal(hex(Number.POSITIVE_INFINITY), '02447ff0000000000000' + '51')
  t.equal(hex(new Complex(1, 2)), '02543ff0000000000000400000000000000051')
  t.equal(hex('hé'), '024e00000003' + '68c3a9' + '51', 'string -> str (UTF-8)')
  t.equal(hex(new Unicode('a')), '0253000000016151', 'Unicode -> Python 2 unicode')
  t.equal(hex(new Py2Str('a')), '024d000000016151', 'Py2Str -> Python 2 str')
  t.equal(hex(Buffer.from([1, 2])), '0241000000020102' + '51', 'Buffer -> bytes')
  t.equal(hex(new Uint8Array([1, 2])), '0241000000020102' + '51', 'Uint8Array -> bytes')
  t.equal(hex(new Long(1)), '02470000000151', 'Long -> Python 2 long (G)')
  t.equal(hex(new Long(2n ** 40n)), '0249' + '0000000d' + Buffer.from('1099511627776').toString('hex') + '51', 'big Long -> LONGLONG')
  t.equal(hex(new ChannelRef(3)), '02420000000351', 'channel -> B')
  t.equal(hex(1, 1), '01460000000151', 'version 1 on request')
})

t.test('containers', async (t) => {
  t.equal(hex([]), '024b0000000051')
  t.equal(hex(tuple()), '02400000000051')
  t.equal(hex(tuple(1)), '024600000001400000000151')
  t.equal(hex([7]), '024b00000001' + '4600000000' + '4600000007' + '50' + '51', 'list items as index, value, SETITEM')
  t.equal(hex(new Map([['a', 1]])), '024a' + '4e0000000161' + '4600000001' + '50' + '51')
  t.equal(hex({ a: 1 }), hex(new Map([['a', 1]])), 'a plain object is a dict with str keys')
  t.equal(hex(Object.assign(Object.create(null) as object, { a: 1 })), hex({ a: 1 }), 'null-prototype objects too')
  t.equal(hex(new Set([1])), '02' + '4600000001' + '4f00000001' + '51')
  t.equal(hex(new FrozenSet([1])), '02' + '4600000001' + '4500000001' + '51')
  t.equal(hex(new Map<unknown, unknown>([[tuple(1, 2), 'x']])).slice(0, 4), '024a', 'tuple keys are fine')
})

t.test('DumpError names the path and the type', async (t) => {
  class Point { x = 1 }
  const sym = Symbol('s')
  const cyclic: unknown[] = [1]
  cyclic.push(cyclic)
  const cases: Array<[unknown, string, RegExp]> = [
    [[1, 2, 3, { x: () => 1 }], 'value[3].x', /function/],
    [[0, 1, 2, new Map([['x', sym]])], "value[3].get('x')", /Symbol\(s\)/],
    [{ 'a b': [new Point()] }, "value['a b'][0]", /instance of Point/],
    [cyclic, 'value[1]', /cyclic/],
    [{ u: undefined }, 'value.u', /undefined/],
    // typed arrays are for numpy: toNumpy gives the dtype with the bytes
    [tuple(1, new Float64Array(2)), 'value[1]', /Float64Array cannot be dumped directly: send toNumpy\(a\)/],
    [[new Float32Array(2)], 'value[0]', /Float32Array cannot be dumped directly: send toNumpy\(a\)/],
    [[new Uint8ClampedArray(2)], 'value[0]', /Uint8ClampedArray cannot be dumped directly: send toNumpy\(a\)/],
    [{ big: new BigInt64Array(1) }, 'value.big', /BigInt64Array cannot be dumped directly: send toNumpy\(a\)/],
    [[new DataView(new ArrayBuffer(2))], 'value[0]', /^(?!.*toNumpy).*DataView cannot be dumped directly: send its bytes, e\.g\. Buffer\.from/],
    [new Map<unknown, unknown>([[[1], 2]]), 'value<key [object Array]>', /dict key/],
    [new Set<unknown>([new Map()]), 'value<set item 0>', /set member/],
    [['ok', 'a\ud800b'], 'value[1]', /lone surrogate/],
    [['x'.repeat(100) + '\udc00'], 'value[0]', /lone surrogate/],
    [new Date(0), 'value', /instance of Date/]
  ]
  for (const [value, path, reason] of cases) {
    try {
      dumps(value)
      t.fail(`${path} should not dump`)
    } catch (err) {
      t.ok(err instanceof DumpError, `${path}: DumpError`)
      t.match((err as DumpError).reason, reason, `${path}: ${(err as DumpError).reason}`)
      if (!path.includes('<key')) t.equal((err as DumpError).path, path)
    }
  }
})

t.test('depth is limited, and the limit is an option', async (t) => {
  let deep: unknown = 1
  for (let i = 0; i < 1000; i++) deep = [deep]
  t.doesNotThrow(() => dumps(deep), '1000 levels dump')
  t.throws(() => dumps([deep]), /maxDepth \(1000\)/, '1001 do not')
  t.doesNotThrow(() => dumps([deep], { maxDepth: 2000 }), 'unless maxDepth allows')
  t.throws(() => dumps(1, { maxDepth: 0 }), OptionError)
  t.throws(() => dumps(1, { version: 3 as 2 }), DumpError)
})

t.test('round trips through loads keep the JavaScript value', async (t) => {
  const values: unknown[] = [
    null, true, 0, -1, 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, 2n ** 64n, -(2n ** 64n), 0.1, -0, Number.NEGATIVE_INFINITY,
    '', 'a\u0000b', '\u{1f600}', 'x'.repeat(70_000), Buffer.alloc(0), Buffer.alloc(100_000, 7),
    [1, [2, [3]]], tuple(1, tuple()), new Map<unknown, unknown>([[1, 'a'], ['1', 'b'], [tuple(1), null]]),
    new Set(['a', 1]), new FrozenSet([tuple(1, 2)]), new Complex(-1.5, 0)
  ]
  for (const v of values) {
    const back = loads(dumps(v))
    t.strictSame(back, v, `${typeof v === 'string' && v.length > 20 ? 'long string' : String(v)}`)
  }
  t.ok(loads(dumps(tuple(1))) instanceof Tuple, 'a tuple comes back a Tuple')
  t.ok(loads(dumps(new FrozenSet([1]))) instanceof FrozenSet)
  const f = loads(dumps(float(2)), { lossless: true })
  t.ok(f instanceof Float && f.value === 2, 'Float(2) comes back a Float in lossless mode')
})

t.test('values past the 1 MiB scratch: int runs, mixed items, large bytes, and small dumps after them', async (t) => {
  // dumps() grows its scratch for a large value (instead of cutting it in
  // chunks), and the int32 run of a list is written in one loop: both meet
  // the scratch's end here, at every offset of an item
  const ints = Array.from({ length: 300_000 }, (_, i) => (i % 7 === 3 ? -i : i * 7919) | 0)
  const mixedList: unknown[] = ints.map((x, i) => i % 1000 === 999 ? `s${i}` : i % 1001 === 1000 ? 2 ** 40 : i % 997 === 0 ? -0 : x)
  const bytes = [Buffer.alloc(3 << 20, 5), 1, Buffer.alloc(20_000, 6)]
  for (const [name, v] of [['ints', ints], ['mixed items', mixedList], ['bytes', bytes]] as const) {
    const data = dumps(v)
    t.strictSame(loads(data), v, name)
    t.equal(new Encoder().encodeChunks(v, 2).reduce((n, c) => n + c.length, 0), data.length, `${name}: encodeChunks writes the same length`)
    t.equal(hex([1, 'a']), '024b00000002' + '4600000000' + '4600000001' + '50' + '4600000001' + '4e0000000161' + '50' + '51', `a small dumps after ${name}`)
  }
  t.equal(hex([1, -0, 2 ** 31, 2]), '024b00000004' + '4600000000' + '4600000001' + '50' + '4600000001' + '448000000000000000' + '50' +
    '4600000002' + '48' + '0000000a' + Buffer.from('2147483648').toString('hex') + '50' + '4600000003' + '4600000002' + '50' + '51', 'the int run stops at -0 and past int32')
})

t.test('FrozenSet and Tuple behave', async (t) => {
  const fs = new FrozenSet([1, 2])
  t.throws(() => fs.add(3), TypeError)
  t.throws(() => fs.delete(1), TypeError)
  t.throws(() => fs.clear(), TypeError)
  t.equal(fs.size, 2)
  const tp = tuple(1, 2, 3)
  t.ok(Array.isArray(tp))
  t.notOk(tp.map((x) => x) instanceof Tuple, 'map gives a plain array')
  t.equal(String(new Complex(1, -2)), '(1-2j)')
  t.equal(String(float(2)), '2.0')
  t.equal(String(new Long(5)), '5L')
  t.equal(JSON.stringify([None]), '[null]')
})

t.test('Encoder.encodeChunks: small dumps of every length around the copy-loop limit are whole and the caller\'s', async (t) => {
  // a dump of up to 64 bytes is copied out by a loop, a longer one natively
  const enc = new Encoder()
  const got: Array<[Buffer[], Buffer]> = []
  for (let n = 0; n <= 130; n++) {
    const value = 'z'.repeat(n) + String(n % 10)
    got.push([enc.encodeChunks(value, null), dumps(value).subarray(1)])
  }
  // later encodes reuse the scratch: the chunks handed out must not change
  enc.encodeChunks('w'.repeat(5000), null)
  t.strictSame(got.map(([chunks, want]) => Buffer.concat(chunks).equals(want)), got.map(() => true))
})

t.test('Encoder.encodeChunks: large byte values travel uncopied, every other chunk belongs to the caller', async (t) => {
  const enc = new Encoder()
  // a grown scratch (as after any large dump) must neither leak into nor be shared by later chunks
  enc.encode(Array.from({ length: 100_000 }, (_, i) => `item-${i}`), 2)
  const big = Buffer.alloc(100_000, 7)
  const value = ['a', big, 'b'.repeat(20), big, 3]
  const chunks = enc.encodeChunks(value, null)
  t.ok(Buffer.concat(chunks).equals(dumps(value).subarray(1)), 'the chunks are the unversioned dump')
  t.equal(chunks.filter((c) => c === big).length, 2, 'both large values are the caller\'s own Buffers')
  const before = chunks.map((c) => Buffer.from(c))
  // a scratch-filling value next: what it writes must not land in the chunks handed out
  enc.encodeChunks(Array.from({ length: 100_000 }, (_, i) => i), null)
  enc.encodeChunks(['x'.repeat(1000), big, 'y'.repeat(1000)], null)
  // a boolean per chunk: a diff of the chunks themselves is too large for tap to print
  t.strictSame(chunks.map((c, i) => c.equals(before[i] as Buffer)), chunks.map(() => true), 'earlier chunks unchanged by later encodes')
})
