// Typed arrays to numpy and back: dtype strings, shapes, byte order,
// alignment, and the round trip through a numpy worker.
import t from 'tap'
import { Gateway, DataFormatError, OptionError, Tuple, dtypeOf, fromNumpy, toNumpy, tuple } from '../index.js'
import { require, venvPython } from './helpers/interpreters.js'
import { specFor } from './helpers/targets.js'

t.test('dtype strings', async (t) => {
  t.equal(dtypeOf(new Float64Array(1)), '<f8')
  t.equal(dtypeOf(new Float32Array(1)), '<f4')
  t.equal(dtypeOf(new Int32Array(1)), '<i4')
  t.equal(dtypeOf(new Uint16Array(1)), '<u2')
  t.equal(dtypeOf(new Int8Array(1)), '|i1')
  t.equal(dtypeOf(new Uint8ClampedArray(1)), '|u1')
  t.equal(dtypeOf(new BigInt64Array(1)), '<i8')
  t.equal(dtypeOf(new BigUint64Array(1)), '<u8')
  t.throws(() => dtypeOf([1, 2] as unknown as Int8Array), OptionError)
})

t.test('toNumpy shares memory; fromNumpy copies only when it must', async (t) => {
  const a = new Float64Array([1.5, -2, 3e300])
  const value = toNumpy(a)
  t.ok(value instanceof Tuple)
  const bytes = value[1] as Buffer
  t.equal(bytes.buffer, a.buffer, 'no copy')
  const back = fromNumpy(value) as Float64Array
  t.same(Array.from(back), [1.5, -2, 3e300])
  t.equal(back.buffer, a.buffer, 'aligned, native order: shared')

  const odd = Buffer.alloc(17)
  const misaligned = odd.subarray(1)
  misaligned.writeInt32LE(7, 0)
  misaligned.writeInt32LE(-9, 4)
  t.same(Array.from(fromNumpy(tuple('<i4', misaligned)) as Int32Array), [7, -9, 0, 0], 'misaligned bytes are copied')

  const big = Buffer.alloc(8)
  big.writeInt32BE(258, 0)
  big.writeInt32BE(-3, 4)
  t.same(Array.from(fromNumpy(['>i4', big]) as Int32Array), [258, -3], 'big-endian data is swapped')
  t.same(Array.from(fromNumpy(tuple('|b1', Buffer.from([1, 0, 1]))) as Uint8Array), [1, 0, 1], 'bool as uint8')
  t.same(fromNumpy(tuple(Buffer.from('<i8'), Buffer.alloc(8, 0xff))), new BigInt64Array([-1n]), 'a py2 str dtype, int64')
  t.same(toNumpy(new Int16Array(6), [2, 3])[2], tuple(2, 3), 'with a shape')
  t.throws(() => toNumpy(new Int16Array(6), [4, 2]), OptionError, 'a shape that does not fit')
})

t.test('fromNumpy refuses what is not an array, naming it', async (t) => {
  t.throws(() => fromNumpy(42), DataFormatError)
  t.throws(() => fromNumpy(tuple('<f8')), DataFormatError)
  t.throws(() => fromNumpy(tuple(8, Buffer.alloc(8))), /dtype of an array must be a string/)
  t.throws(() => fromNumpy(tuple('<f8', 'text')), /data of a <f8 array must be bytes/)
  t.throws(() => fromNumpy(tuple('<c16', Buffer.alloc(16))), /dtype "<c16" has no typed array/)
  t.throws(() => fromNumpy(tuple('<f2', Buffer.alloc(4))), /dtype "<f2" has no typed array/)
  t.throws(() => fromNumpy(tuple('<f8', Buffer.alloc(12))), /12 bytes are not a whole number of <f8 items/)
})

t.test('through a numpy worker and back', async (t) => {
  const venv = require(t, venvPython(), 'the test venv with numpy')
  if (venv === null) return
  const gw = await Gateway.start(specFor(venv), { stderr: 'pipe' })
  t.teardown(() => gw.terminate(5))
  const ch = gw.remoteExec(`
    import numpy
    for dtype, data, shape in channel:
        a = numpy.frombuffer(data, dtype).reshape(shape)
        b = (a * 2).T
        channel.send((b.dtype.str, b.tobytes(), b.shape))
    channel.send(("%s" % numpy.arange(3, dtype=">i4").dtype.str, numpy.arange(3, dtype=">i4").tobytes(), (3,)))
  `)
  const cases: Array<[string, Float64Array | Int32Array | BigInt64Array | Uint8Array]> = [
    ['float64', new Float64Array([0.5, 1, 2, 4, 8, 16])],
    ['int32', new Int32Array([-1, 2, -3, 4, -5, 6])],
    ['int64', new BigInt64Array([1n, -2n, 3n, 1n << 40n, 5n, 6n])],
    ['uint8', new Uint8Array([1, 2, 3, 4, 5, 100])]
  ]
  for (const [name, array] of cases) {
    await ch.send(toNumpy(array, [2, 3]))
    const back = await ch.receive()
    const doubled = fromNumpy(back)
    t.equal(dtypeOf(doubled), dtypeOf(array), `${name}: same dtype back`)
    t.same((back as Tuple)[2], tuple(3, 2), `${name}: transposed shape`)
    // the transpose of [[a b c] [d e f]] * 2, row by row
    const v = Array.from(array as ArrayLike<number | bigint>)
    const expect = [0, 3, 1, 4, 2, 5].map((i) => typeof v[i] === 'bigint' ? (v[i] as bigint) * 2n : name === 'uint8' ? ((v[i] as number) * 2) & 0xff : (v[i] as number) * 2)
    t.same(Array.from(doubled as ArrayLike<number | bigint>), expect, `${name}: values doubled and transposed`)
  }
  ch.end()
  t.same(Array.from(fromNumpy(await ch.receive()) as Int32Array), [0, 1, 2], 'numpy\'s big-endian int32 read right')
})
