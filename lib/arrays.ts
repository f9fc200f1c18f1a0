/**
 * Typed arrays to and from numpy. execnet has no array type: an array
 * travels as (dtype, bytes) or (dtype, bytes, shape), which a numpy worker
 * turns into an array with `numpy.frombuffer(data, dtype)` (no copy) and
 * sends back as `(a.dtype.str, a.tobytes(), a.shape)`.
 */
import { endianness } from 'node:os'
import { DataFormatError, OptionError } from './errors.js'
import { Tuple, tuple } from './serializer/types.js'

/**
 * The typed arrays numpy has a dtype for.
 * @category Arrays and numpy
 */
export type TypedArray =
  | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array
  | Float32Array | Float64Array | BigInt64Array | BigUint64Array

type TypedArrayConstructor = new (buffer: ArrayBuffer, byteOffset: number, length: number) => TypedArray

/** numpy's kind and item size for each typed array, byte order aside. */
const KINDS: ReadonlyArray<[string, TypedArrayConstructor]> = [
  ['i1', Int8Array], ['u1', Uint8Array], ['i2', Int16Array], ['u2', Uint16Array],
  ['i4', Int32Array], ['u4', Uint32Array], ['f4', Float32Array], ['f8', Float64Array],
  ['i8', BigInt64Array], ['u8', BigUint64Array]
]

const NATIVE = endianness() === 'LE' ? '<' : '>'

/**
 * numpy's dtype string for a typed array, e.g. '<f8' for a Float64Array.
 * @category Arrays and numpy
 */
export function dtypeOf (array: TypedArray): string {
  if (array instanceof Uint8ClampedArray) return '|u1'
  for (const [kind, type] of KINDS) {
    if (array instanceof type) return kind.endsWith('1') ? `|${kind}` : `${NATIVE}${kind}`
  }
  throw new OptionError(`not a typed array: ${Object.prototype.toString.call(array)}`)
}

/**
 * A typed array as the value a numpy worker reads with
 * `numpy.frombuffer(data, dtype)`: (dtype, bytes), or (dtype, bytes, shape)
 * when a shape is given. The bytes share the array's memory: no copy, so
 * do not change the array once it is sent.
 *
 * @example
 * ```ts
 * import { makeGateway, toNumpy, fromNumpy } from 'execnet'
 *
 * const gw = await makeGateway('popen//python=python3')  // a Python with numpy
 * const ch = gw.remoteExec(`
 *     import numpy
 *     dtype, data, shape = channel.receive()
 *     a = numpy.frombuffer(data, dtype).reshape(shape)
 *     b = a @ a.T
 *     channel.send((b.dtype.str, b.tobytes(), b.shape))
 * `)
 * await ch.send(toNumpy(new Float64Array([1, 2, 3, 4, 5, 6]), [2, 3]))
 * console.log(fromNumpy(await ch.receive()))  // Float64Array(4) [ 14, 32, 32, 77 ]
 * await gw.terminate()
 * ```
 * @category Arrays and numpy
 */
export function toNumpy (array: TypedArray, shape?: readonly number[]): Tuple {
  const dtype = dtypeOf(array)
  const bytes = Buffer.from(array.buffer, array.byteOffset, array.byteLength)
  if (shape === undefined) return tuple(dtype, bytes)
  const count = shape.reduce((n, d) => n * d, 1)
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0) || count !== array.length) {
    throw new OptionError(`shape [${shape.join(', ')}] does not fit ${array.length} items`)
  }
  return tuple(dtype, bytes, tuple(...shape))
}

/**
 * The typed array for a (dtype, bytes[, shape]) value from a numpy worker,
 * e.g. `(a.dtype.str, a.tobytes(), a.shape)`. Shares the received bytes
 * when they are aligned and in this machine's byte order; copies otherwise.
 * @category Arrays and numpy
 */
export function fromNumpy (value: unknown): TypedArray {
  const parts = value instanceof Tuple || Array.isArray(value) ? value as unknown[] : null
  if (parts === null || parts.length < 2 || parts.length > 3) throw new DataFormatError('expected (dtype, bytes) or (dtype, bytes, shape) from numpy', 0)
  const [dtypeValue, data] = parts
  const dtype = Buffer.isBuffer(dtypeValue) ? dtypeValue.toString('latin1') : dtypeValue
  if (typeof dtype !== 'string') throw new DataFormatError('the dtype of an array must be a string such as "<f8"', 0)
  if (!(data instanceof Uint8Array)) throw new DataFormatError(`the data of a ${dtype} array must be bytes`, 0)
  const match = /^([<>|=]?)(b1|[iuf][1248])$/.exec(dtype)
  const entry = match === null ? undefined : KINDS.find(([kind]) => kind === (match[2] === 'b1' ? 'u1' : match[2]))
  if (match === null || entry === undefined) {
    throw new DataFormatError(`dtype ${JSON.stringify(dtype)} has no typed array (bool, int8-64, uint8-64, float32 and float64 do)`, 0)
  }
  const [kind, Type] = entry
  const size = Number(kind.slice(1))
  if (data.byteLength % size !== 0) throw new DataFormatError(`${data.byteLength} bytes are not a whole number of ${dtype} items`, 0)
  const order = match[1] === '' || match[1] === '=' || match[1] === '|' ? NATIVE : match[1]
  const swap = size > 1 && order !== NATIVE
  let bytes: Uint8Array = data
  if (swap || data.byteOffset % size !== 0) {
    bytes = new Uint8Array(data.byteLength)
    bytes.set(data)
    if (swap) swapBytes(bytes, size)
  }
  return new Type(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / size)
}

function swapBytes (bytes: Uint8Array, size: number): void {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (size === 2) buffer.swap16()
  else if (size === 4) buffer.swap32()
  else buffer.swap64()
}
