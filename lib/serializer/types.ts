/**
 * JavaScript types for the Python values that have no natural JavaScript
 * twin. Plain values map directly (None <-> null, list <-> Array, dict <->
 * Map, set <-> Set, str <-> string, bytes <-> Buffer); these classes cover
 * the rest, and, in lossless mode, the distinctions plain values lose.
 */

/**
 * A Python tuple. It is a real Array (indexing, length, iteration, spread
 * all work), so JavaScript code can treat it as one; dumps writes it back as
 * a tuple. Methods that derive new arrays (map, filter, slice) return plain
 * arrays, because the result is no longer the tuple that was received.
 * @category Python values
 */
export class Tuple<T = unknown> extends Array<T> {
  /** Array methods (map, filter...) on a Tuple give plain arrays. */
  static override get [Symbol.species] (): ArrayConstructor {
    return Array
  }

  constructor (...items: T[]) {
    super()
    for (let i = 0; i < items.length; i++) this.push(items[i] as T)
  }

  /** A tuple of the items of an array-like, in order. */
  static fromItems<T> (items: ArrayLike<T>): Tuple<T> {
    return adoptAsTuple(Array.prototype.slice.call(items) as T[])
  }
}

/**
 * Turn a fresh array into a Tuple in place. Re-pointing the prototype costs a
 * third of constructing a subclass instance, which matters to a loader that
 * builds a tuple per record.
 */
export function adoptAsTuple<T> (items: T[]): Tuple<T> {
  return Object.setPrototypeOf(items, Tuple.prototype) as Tuple<T>
}

/**
 * Build a Tuple: `tuple(1, 'a')` is Python's `(1, 'a')`.
 * @category Python values
 */
export function tuple<T extends unknown[]> (...items: T): Tuple<T[number]> {
  return Tuple.fromItems(items)
}

/**
 * A Python frozenset: a Set that refuses changes once built, so it can stand
 * as a dict key or set member the way Python allows.
 * @category Python values
 */
export class FrozenSet<T = unknown> extends Set<T> {
  #frozen = false

  constructor (items?: Iterable<T> | null) {
    super()
    if (items !== undefined && items !== null) for (const item of items) super.add(item)
    this.#frozen = true
  }

  override add (value: T): this {
    if (this.#frozen) throw new TypeError('a FrozenSet cannot be changed')
    return super.add(value)
  }

  override delete (_value: T): boolean {
    throw new TypeError('a FrozenSet cannot be changed')
  }

  /** FrozenSet is immutable: throws. */
  override clear (): void {
    throw new TypeError('a FrozenSet cannot be changed')
  }
}

/**
 * A Python complex number.
 * @category Python values
 */
export class Complex {
  constructor (readonly re: number, readonly im: number) {}

  /** How it prints. */
  toString (): string {
    return `(${this.re}${this.im < 0 || Object.is(this.im, -0) ? '-' : '+'}${Math.abs(this.im)}j)`
  }
}

/**
 * A number that must travel as a Python float even when it is integral:
 * `dumps(new Float(3))` sends `3.0`, where `dumps(3)` sends the int `3`.
 * Lossless loads returns integral floats (and NaNs, keeping their exact bits)
 * this way.
 * @category Python values
 */
export class Float {
  /** The exact 8 bytes a NaN arrived with, so lossless mode writes them back. */
  readonly nanBits: Buffer | undefined

  constructor (readonly value: number, nanBits?: Buffer) {
    this.nanBits = Number.isNaN(value) ? nanBits : undefined
  }

  /** The number it stands for, for arithmetic. */
  valueOf (): number {
    return this.value
  }

  /** How it prints. */
  toString (): string {
    return Number.isInteger(this.value) ? this.value.toFixed(1) : String(this.value)
  }
}

/**
 * Mark a number as a Python float: `float(2)` dumps as `2.0`.
 * @category Python values
 */
export function float (value: number): Float {
  return new Float(value)
}

/**
 * A Python 2 `long`. Plain loads gives a number or bigint; lossless loads
 * keeps the distinction so the value is written back with the same opcode
 * (G or I) that Python 2 used.
 * @category Python values
 */
export class Long {
  readonly value: bigint

  constructor (value: bigint | number) {
    this.value = BigInt(value)
  }

  /** The number it stands for, for arithmetic. */
  valueOf (): bigint {
    return this.value
  }

  /** How it prints. */
  toString (): string {
    return `${this.value}L`
  }
}

/**
 * A Python 2 `str` (a byte string). Plain loads gives a Buffer, or a string
 * decoded as latin-1 with `py2strAsPy3str`; lossless loads and dumps keep it.
 * @category Python values
 */
export class Py2Str {
  readonly bytes: Buffer

  constructor (bytes: Uint8Array | string) {
    this.bytes = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes)
  }

  /** How it prints. */
  toString (): string {
    return this.bytes.toString('latin1')
  }
}

/**
 * A Python 2 `unicode` value. Plain loads gives a string; lossless loads keeps
 * the opcode (S rather than N) so the bytes come back the same.
 * @category Python values
 */
export class Unicode {
  constructor (readonly value: string) {}

  /** How it prints. */
  toString (): string {
    return this.value
  }
}

/**
 * The property by which the serializer recognises a channel inside a value.
 * A gateway's Channel objects carry it; `ChannelRef` is a bare one.
 * @category Python values
 */
export const channelId: unique symbol = Symbol.for('execnet.channelId') as never

/**
 * Anything dumps can write as a channel reference (opcode B).
 * @category Python values
 */
export interface ChannelLike {
  readonly [channelId]: number
}

/**
 * A channel id read outside any gateway (see LoadOptions.channelFactory).
 * @category Python values
 */
export class ChannelRef implements ChannelLike {
  readonly [channelId]: number

  constructor (readonly id: number) {
    this[channelId] = id
  }
}

/**
 * Python's None where JavaScript's null cannot go: an object-mode stream ends
 * at a null chunk, so in stream plumbing ('data' events, pipe(), pipeline()
 * into a Writable) the decoder and channels carry a top-level None as this
 * value, and accept it when writing. Everywhere a value is returned
 * (receive(), for await, MultiChannel.items(), callbacks, loads()) None is
 * null, and inside containers it is plain null.
 * @category Python values
 */
export class PyNone {
  static readonly instance: PyNone = new PyNone()
  private constructor () {
    Object.freeze(this)
  }

  /** How it prints. */
  toString (): string {
    return 'None'
  }

  /** JSON null. */
  toJSON (): null {
    return null
  }
}

/**
 * The one PyNone value (see PyNone).
 * @category Python values
 */
export const None: PyNone = PyNone.instance

/** @internal A stream item as promise and iterator APIs return it: None as null. */
export function noneAsNull (item: unknown): unknown {
  return item instanceof PyNone ? null : item
}

/**
 * Any value that dumps can write and loads can return.
 * @category Python values
 */
export type PyValue =
  | null
  | PyNone
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Complex
  | Float
  | Long
  | Py2Str
  | Unicode
  | ChannelLike
  | PyValue[]
  | Map<PyValue, PyValue>
  | Set<PyValue>
  | { [key: string]: PyValue }
