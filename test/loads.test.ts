// loads: the string options, dict shapes, channels, limits, and safety
// against input crafted to pollute prototypes or exhaust memory or stack.
import t from 'tap'
import { dumps, loads, Loader, ZERO_COPY_BYTES, tuple, Py2Str, Unicode, ChannelRef, channelId, DataFormatError, OptionError, float, Float } from '../index.js'

const b = (hex: string): Buffer => Buffer.from(hex.replace(/ /g, ''), 'hex')

t.test('string options follow execnet', async (t) => {
  const py2str = b('01 4d00000002 63e9 51') // Python 2 'c\xe9'
  t.strictSame(loads(py2str), Buffer.from([0x63, 0xe9]), 'py2 str -> Buffer by default (execnet.loads)')
  t.equal(loads(py2str, { py2strAsPy3str: true }), 'cé', 'py2strAsPy3str: text decoded as latin-1')
  t.ok(loads(py2str, { lossless: true }) instanceof Py2Str, 'lossless: Py2Str')
  const py3str = dumps('hé')
  t.equal(loads(py3str), 'hé')
  t.strictSame(loads(py3str, { py3strAsPy2str: true }), Buffer.from('hé'), 'py3strAsPy2str: UTF-8 bytes, as execnet 2.x')
  const uni = b('01 5300000002 c3a9 51')
  t.equal(loads(uni, { py3strAsPy2str: true, py2strAsPy3str: true }), 'é', 'unicode is always text')
  t.ok(loads(uni, { lossless: true }) instanceof Unicode)
  t.strictSame(loads(b('02 4100000001 ff 51'), { py2strAsPy3str: true }), Buffer.from([0xff]), 'bytes are always bytes')
})

t.test('dicts as Maps or as plain objects', async (t) => {
  const data = dumps(new Map<unknown, unknown>([['a', 1], ['b', new Map([['c', 2]])]]))
  const m = loads(data) as Map<string, unknown>
  t.ok(m instanceof Map)
  t.strictSame(loads(data, { dict: 'object' }), { a: 1, b: { c: 2 } })
  const mixed = loads(dumps(new Map<unknown, unknown>([['a', 1], [2, 'two']])), { dict: 'object' })
  t.ok(mixed instanceof Map, 'a dict with a non-string key stays a Map')
  t.strictSame([...(mixed as Map<unknown, unknown>)], [['a', 1], [2, 'two']], 'keeping key order')
  t.throws(() => loads(data, { dict: 'array' as 'map' }), OptionError)
})

t.test('__proto__ and constructor keys are data, never prototypes', async (t) => {
  const data = dumps(new Map<unknown, unknown>([['__proto__', new Map([['polluted', true]])], ['constructor', 'x']]))
  const o = loads(data, { dict: 'object' }) as Record<string, unknown>
  t.equal(Object.getPrototypeOf(o), Object.prototype, 'prototype untouched')
  t.ok(Object.prototype.hasOwnProperty.call(o, '__proto__'), '__proto__ is an own key')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype not polluted')
  t.equal(o.constructor, 'x')
  const m = loads(data) as Map<string, unknown>
  t.ok(m.has('__proto__'))
})

t.test('channels need a factory', async (t) => {
  const data = dumps([new ChannelRef(5)])
  t.throws(() => loads(data), DataFormatError)
  const [ch] = loads(data, { channelFactory: (id) => new ChannelRef(id) }) as ChannelRef[]
  t.equal(ch?.[channelId], 5)
})

t.test('short strings come from a cache that never mixes them up', async (t) => {
  // 'Aa' and 'BB' have the same 31-multiplier hash; 'é…' is not ASCII
  const words = ['Aa', 'BB', 'Aa', 'BB', 'BB', 'Aa', '', '', 'é', 'éé', 'x'.repeat(16), 'x'.repeat(17), 'x'.repeat(16)]
  const texts = [...words, ...words, ...words]
  t.strictSame(loads(dumps(texts)), texts, 'as strings in a list')
  const keys = new Map<unknown, unknown>(words.map((w, i) => [w, i]))
  t.strictSame([...(loads(dumps([keys, keys])) as Array<Map<string, number>>)[1] as Map<string, number>], [...keys], 'as dict keys')
  const many = Array.from({ length: 20_000 }, (_, i) => `k${i % 5000}`)
  t.strictSame(loads(dumps(many)), many, 'more distinct strings than cache slots, each seen four times')
  // every length the cache takes, decoded the first time, when it enters
  // the cache and from it: all 95 printable characters in every position
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('')
  const lengths = Array.from({ length: 18 }, (_, len) => Array.from({ length: 95 }, (_, k) => (printable.slice(k) + printable).slice(0, len)))
  for (const [len, strs] of lengths.entries()) {
    const thrice = [...strs, ...strs, ...strs]
    t.strictSame(loads(dumps(thrice)), thrice, `length ${len}`, { diagnostic: false })
  }
})

t.test('lists of every small length, complete or not', async (t) => {
  for (let n = 0; n <= 18; n++) {
    const list = Array.from({ length: n }, (_, i) => [i, `s${i}`])
    const got = loads(dumps(list)) as unknown[]
    t.strictSame(got, list, `${n} items`)
    t.equal(got.length, n)
    if (n > 0) t.throws(() => loads(Buffer.concat([b(`02 4b${(n + 1).toString(16).padStart(8, '0')}`), dumps(list).subarray(6)])), /announced \d+ items but received \d+/, `${n} of ${n + 1} announced items`)
  }
})

t.test('scalar items of lists and dicts: the same values at any chunk boundary, the same errors', async (t) => {
  // a list's scalar items are stored straight into it when index, value
  // and SETITEM are all in the chunk, and so are a Map's entries of a str
  // key and a scalar (and a plain object's); cut anywhere, the general
  // path takes over and must give the same result
  const list = [0, 1.5, null, true, false, -7, 2 ** 31 - 1, 'x', [1, null], 2.5, -0.25, 'é€', 9]
  const dict = new Map<unknown, unknown>([['a', 1], ['b', 'text'], ['__proto__', 'data'], ['c', null], [7, 'int key'], ['d', [1]], ['e', 0.5], ['', '']])
  const strKeys = new Map([...dict].filter(([k]) => typeof k === 'string'))
  for (const [value, options] of [[list, {}], [dict, {}], [strKeys, { dict: 'object' as const }]] as const) {
    const bytes = dumps(value)
    const whole = loads(bytes, options)
    if (options.dict === undefined) t.strictSame(whole, value)
    else t.strictSame(Object.entries(whole as object), [...strKeys], 'a plain object, __proto__ an own key')
    for (let cut = 1; cut < bytes.length; cut++) {
      const got: unknown[] = []
      const loader = new Loader(options)
      loader.write(bytes.subarray(0, cut), (v) => got.push(v))
      loader.write(bytes.subarray(cut), (v) => got.push(v))
      loader.end()
      if (!t.strictSame(got, [whole], `cut at ${cut}`)) break
    }
  }
  // lossless: integral floats in a list stay Floats
  const floats = loads(Buffer.from('02 4b00000002 4600000000 440000000000000000 50 4600000001 443ff8000000000000 50 51'.replace(/ /g, ''), 'hex'), { lossless: true }) as unknown[]
  t.equal(floats[0]?.constructor.name, 'Float', 'lossless 0.0 stays a Float')
  t.equal(floats[1], 1.5)
  // an index out of order or past the announced length fails as before
  t.throws(() => loads(Buffer.from('02 4b00000002 4600000001 4600000007 50 51'.replace(/ /g, ''), 'hex')), /SETITEM on a list at index 1: the next item's index is 0/)
  t.throws(() => loads(Buffer.from('02 4b00000001 4600000000 4c 50 4600000001 4c 50 51'.replace(/ /g, ''), 'hex')), /SETITEM beyond the 1 items the list announced/)
  t.throws(() => loads(Buffer.from('02 4b00000001 4600000000 4c 51'.replace(/ /g, ''), 'hex')), /STOP with 3 items on the stack/, 'an item without SETITEM')
  t.throws(() => loads(Buffer.from('02 4a 4e0000000161 4e00000001ff 50 51'.replace(/ /g, ''), 'hex')), { name: 'DataFormatError', offset: 8, reason: /PY3STRING .* payload is not valid UTF-8/ }, 'a dict value of bad UTF-8, at its offset')
  t.throws(() => loads(Buffer.from('02 4a 4e0000000161 4e00000004616263 50 51'.replace(/ /g, ''), 'hex'), { maxValueSize: 16 }), /maxValueSize/, 'a dict value past maxValueSize')
  t.throws(() => loads(Buffer.from('02 4b00000001 4600000000 4e00000001ff 50 51'.replace(/ /g, ''), 'hex')), { name: 'DataFormatError', offset: 11, reason: /PY3STRING .* payload is not valid UTF-8/ }, 'a list item of bad UTF-8, at its offset')
  t.throws(() => loads(Buffer.from('02 4a 4e00000001ff 4600000001 50 51'.replace(/ /g, ''), 'hex')), { name: 'DataFormatError', offset: 2, reason: /PY3STRING .* payload is not valid UTF-8/ }, 'a dict key of bad UTF-8, at its offset')
  t.throws(() => loads(Buffer.from('02 4a 4e0000000c6162636465666768696a6b6c 4600000001 50 51'.replace(/ /g, ''), 'hex'), { maxValueSize: 16 }), /maxValueSize/, 'a dict key past maxValueSize')
  t.throws(() => loads(Buffer.from('02 4a 4e0000000161 4600000001 51'.replace(/ /g, ''), 'hex')), /STOP with 3 items on the stack/, 'a dict entry without SETITEM')
  // a key seen twice keeps its first place and takes its last value, as in Python
  const twice = loads(Buffer.from('02 4a 4e0000000161 4600000001 50 4e0000000162 4600000002 50 4e0000000161 4600000003 50 51'.replace(/ /g, ''), 'hex'))
  t.strictSame(twice, new Map([['a', 3], ['b', 2]]))
  // keys follow the string options like any str
  const keyed = dumps(new Map([['k', 1]]))
  t.strictSame(loads(keyed, { py3strAsPy2str: true }), new Map([[Buffer.from('k'), 1]]), 'py3strAsPy2str: a bytes key')
  const lossless = loads(dumps(new Map([['k', float(1)]])), { lossless: true }) as Map<unknown, unknown>
  t.ok(lossless.get('k') instanceof Float, 'lossless: an integral float value stays a Float')
  t.throws(() => loads(Buffer.from('02 4b00000001 4600000000 4e0000000861626364656667 68 50 51'.replace(/ /g, ''), 'hex'), { maxValueSize: 20 }), /maxValueSize/, 'a list item past maxValueSize')
})

t.test('announced lengths allocate nothing ahead of the input', async (t) => {
  const before = process.memoryUsage().heapUsed
  const started = Date.now()
  t.throws(() => loads(b('02 4b7fffffff 51')), /announced 2147483647 items but received 0/)
  t.throws(() => loads(b('02 4b7fffffff 4600000000 4c 50 51')), DataFormatError)
  t.throws(() => loads(b('02 413ffffff0 00')), /ends inside BYTES/, 'a 1 GiB bytes header with 1 byte of payload')
  t.throws(() => loads(b('02 417fffffff 00')), /maxValueSize/, 'a 2 GiB one is past the default maxValueSize')
  t.ok(Date.now() - started < 1000, 'at once')
  t.ok(process.memoryUsage().heapUsed - before < 50 * 1024 * 1024, 'without allocating the announced size')
})

t.test('deep nesting: iterative loader, clear error past maxDepth', async (t) => {
  const depth = 100_000
  // 100k nested one-item tuples: Python's loader would need no recursion either,
  // but anything recursive consuming the result would overflow
  const parts = [b('02 4c')]
  for (let i = 0; i < depth; i++) parts.push(b('40 00000001'))
  parts.push(b('51'))
  const deep = Buffer.concat(parts)
  t.throws(() => loads(deep), /nesting deeper than maxDepth \(1000\)/)
  const v = loads(deep, { maxDepth: depth })
  t.ok(Array.isArray(v), `with maxDepth ${depth} it loads, without recursion`)
  const lists = [b('02')]
  for (let i = 0; i < 1001; i++) lists.push(b('4b00000001 4600000000'))
  lists.push(b('4c'))
  for (let i = 0; i < 1001; i++) lists.push(b('50'))
  lists.push(b('51'))
  t.throws(() => loads(Buffer.concat(lists)), /maxDepth/, 'nested lists too')
  t.doesNotThrow(() => loads(Buffer.concat(lists), { maxDepth: 1001 }))
})

t.test('maxValueSize bounds one value', async (t) => {
  const data = dumps(Buffer.alloc(1000))
  t.throws(() => loads(data, { maxValueSize: 500 }), /maxValueSize \(500\)/)
  t.doesNotThrow(() => loads(data, { maxValueSize: 2000 }))
  const many = dumps(new Array(1000).fill(null))
  t.throws(() => loads(many, { maxValueSize: 500 }), /maxValueSize/)
  t.throws(() => loads(data, { maxValueSize: -1 }), OptionError)
})

t.test('small loaded bytes never alias the input; large ones are views', async (t) => {
  const data = dumps([Buffer.from('abc'), Buffer.alloc(ZERO_COPY_BYTES, 1)])
  const [small, large] = loads(data) as Buffer[]
  t.equal(large?.buffer, data.buffer, `a value of ${ZERO_COPY_BYTES} bytes is a view into the input`)
  data.fill(0)
  t.equal(small?.toString(), 'abc', 'a small one is a copy')
})

t.test('Uint8Array input works like a Buffer', async (t) => {
  const data = dumps(tuple(1, 'x'))
  t.strictSame(loads(new Uint8Array(data)), tuple(1, 'x'))
})

t.test('Loader.readOne: one loader for many payloads, whole values and failures in any order', async (t) => {
  // a gateway reads every payload it receives through one Loader: a failure
  // halfway through a container must leave nothing behind for the next
  const loader = new Loader({}, false)
  const payload = (v: unknown): Buffer => dumps(v).subarray(1) // frames carry no version byte
  const record = new Map<unknown, unknown>([['k', [1, 2, tuple('a', null)]]])
  t.strictSame(loader.readOne(payload(record)), record)
  const cut = payload([1, 2, [3, 4]])
  t.throws(() => loader.readOne(cut.subarray(0, cut.length - 3)), DataFormatError, 'a cut list')
  t.strictSame(loader.readOne(payload(7)), 7, 'the next payload reads alone')
  t.throws(() => loader.readOne(Buffer.alloc(0)), /empty payload: no value/)
  t.throws(() => loader.readOne(b('ff')), DataFormatError, 'an unknown opcode')
  for (let i = 0; i < 3; i++) t.strictSame(loader.readOne(payload([i, `s${i}`, new Map([[i, [i]]])])), [i, `s${i}`, new Map([[i, [i]]])])
  t.throws(() => loader.readOne(Buffer.concat([payload(1), payload(2)])), /trailing bytes/, 'two values are an error')
  t.equal(loader.readOne(payload(null)), null, 'None after all that')
})
