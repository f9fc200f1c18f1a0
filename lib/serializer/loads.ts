/**
 * execnet's serializer format -> JavaScript values, resumable.
 *
 * A Loader is fed bytes in chunks of any size and keeps its value stack, its
 * position and any partial field between them, so nothing is parsed twice:
 * a fixed-size field cut by a chunk boundary keeps at most 16 bytes aside,
 * and a string or bytes payload cut by one is collected, not re-read.
 *
 * Unlike execnet's Unserializer, it never allocates ahead of the input (a
 * NEWLIST announcing 2**31 items costs nothing until the items arrive and is
 * an error if they don't), never uses the call stack for nesting, and turns
 * every kind of malformed input into one DataFormatError with its offset.
 */
import { DataFormatError, OptionError } from '../errors.js'
import { OP, opcodeName } from './opcodes.js'
import { adoptAsTuple, FrozenSet, Complex, Float, Long, Py2Str, Unicode } from './types.js'
import { decodeShort } from './utf8.js'
import { copyOut } from '../scratch.js'
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_VALUE_SIZE, checkDepthOption, checkSizeOption } from './limits.js'

/**
 * Options of loads(), Loader and decoder(): execnet's string coercion, limits, dict shape.
 * @category Serializer
 */
export interface LoadOptions {
  /** Python 2 str (M) becomes a string decoded as latin-1 instead of a Buffer. Default false, as execnet.loads. */
  py2strAsPy3str?: boolean
  /** Python 3 str (N) becomes a Buffer of its UTF-8 bytes, as execnet 2.x does. Default false. */
  py3strAsPy2str?: boolean
  /**
   * Keep every distinction plain values lose, so dumps(loads(x, {lossless: true}))
   * gives x back byte for byte: integral floats as Float, Python 2 longs as Long,
   * Python 2 str as Py2Str, Python 2 unicode as Unicode. Overrides the str options.
   */
  lossless?: boolean
  /** Dicts as Maps (the default, any key type) or as plain objects when all their keys are strings. */
  dict?: 'map' | 'object'
  /** Deepest container nesting accepted (default 1000). */
  maxDepth?: number
  /** Largest encoded value accepted, in bytes (default 1 GiB). */
  maxValueSize?: number
  /** Turns a channel id (opcode B) into a value; without it a channel id is a DataFormatError, as in execnet. */
  channelFactory?: (id: number) => unknown
}

// What each stack slot holds, in the low 3 bits of its meta; the depth is above them.
const ATOM = 0 // hashable scalar
const LIST = 1
const DICT = 2 // Map
const SET = 3
const TUPLE = 4 // hashable tuple
const UTUPLE = 5 // tuple holding something unhashable
const FROZEN = 6
const RECORD = 7 // dict as plain object
const KIND = 7
const DEPTH = 8 // meta += DEPTH per level

const KIND_NAMES = ['a scalar', 'a list', 'a dict', 'a set', 'a tuple', 'a tuple', 'a frozenset', 'a dict']

function isDict (kind: number): boolean {
  return kind === DICT || kind === RECORD
}

function unhashable (kind: number): boolean {
  return kind === LIST || kind === DICT || kind === SET || kind === UTUPLE || kind === RECORD
}

/**
 * Lists announcing at most this many items are allocated at that size (an
 * empty array grows to 17 slots at its first push); longer ones grow as
 * their items arrive, or are allocated at the count of simple items the
 * input holds (listItems), so an announced length never allocates ahead of
 * the input by more than this.
 */
const PREALLOCATE_MAX = 16

/** Bytes a fixed-size opcode needs, counting the opcode; 0 for variable-size ones. */
const FIXED = new Uint8Array(256)
for (const op of [OP.NONE, OP.TRUE, OP.FALSE, OP.NEWDICT, OP.SETITEM, OP.STOP]) FIXED[op] = 1
for (const op of [OP.INT, OP.LONG, OP.NEWLIST, OP.BUILDTUPLE, OP.SET, OP.FROZENSET, OP.CHANNEL]) FIXED[op] = 5
FIXED[OP.FLOAT] = 9
FIXED[OP.COMPLEX] = 17
for (const op of [OP.BYTES, OP.PY2STRING, OP.PY3STRING, OP.UNICODE, OP.LONGINT, OP.LONGLONG]) FIXED[op] = 5

interface Collecting {
  op: number
  opOffset: number
  remaining: number
  length: number
  parts: Buffer[]
}

/** readOne's "no value yet": any value, undefined included, can be loaded. */
const NO_VALUE = Symbol('no value')

/**
 * Receives each value a Loader completes.
 * @category Wire format (low level)
 */
export type Emit = (value: unknown) => void

/**
 * A resumable reader of execnet dumps: write() bytes cut anywhere, values come out through emit; readOne() reads one whole unversioned payload.
 * @category Wire format (low level)
 */
export class Loader {
  private readonly py2strAsPy3str: boolean
  private readonly py3strAsPy2str: boolean
  private readonly lossless: boolean
  private readonly records: boolean
  private readonly maxDepth: number
  private readonly maxValueSize: number
  private readonly channelFactory: ((id: number) => unknown) | undefined
  private readonly versioned: boolean
  /** Set by loads: one value only, anything after its STOP is an error. */
  single = false
  private done = false

  // the value stack: values, their meta (kind | depth), and for lists the announced length
  private vals: unknown[] = []
  private meta: number[] = []
  private need: number[] = []
  private fill: number[] = []
  private sp = 0

  /** Absolute offset of the first byte not yet consumed. */
  private consumed = 0
  private leftover: Buffer | null = null
  private collecting: Collecting | null = null
  private expectVersion: boolean
  private valueStart = 0
  private inValue = false
  private failed: DataFormatError | null = null
  /** The format version byte of the last value read (1 or 2); null before any or when unversioned. */
  version: 1 | 2 | null = null

  constructor (options: LoadOptions = {}, versioned = true) {
    this.py2strAsPy3str = options.py2strAsPy3str === true
    this.py3strAsPy2str = options.py3strAsPy2str === true
    this.lossless = options.lossless === true
    if (options.dict !== undefined && options.dict !== 'map' && options.dict !== 'object') {
      throw new OptionError(`dict must be 'map' or 'object', not ${String(options.dict)}`)
    }
    this.records = options.dict === 'object'
    this.maxDepth = checkDepthOption(options.maxDepth ?? DEFAULT_MAX_DEPTH, 'maxDepth')
    this.maxValueSize = checkSizeOption(options.maxValueSize ?? DEFAULT_MAX_VALUE_SIZE, 'maxValueSize')
    this.channelFactory = options.channelFactory
    this.versioned = versioned
    this.expectVersion = versioned
  }

  /** Total bytes fed so far. */
  get offset (): number {
    return this.consumed
  }

  /** True between values: ending the input here loses nothing. */
  get idle (): boolean {
    return !this.inValue && this.leftover === null && this.collecting === null
  }

  /** Feed bytes; emit is called with each value completed by them, in order. */
  write (chunk: Buffer, emit: Emit): void {
    if (this.failed !== null) throw this.failed
    try {
      this.feed(chunk, emit)
    } catch (err) {
      if (err instanceof DataFormatError) {
        this.failed = err
        this.release()
      }
      throw err
    }
  }

  /**
   * Read exactly one value from a whole payload (a frame's), reusing this
   * loader and its caches; offsets in errors count from the payload's start.
   */
  readOne (payload: Buffer): unknown {
    // a loader between values holds no references: its stacks are reused
    // (a gateway reads every message it receives through here)
    if (this.sp !== 0 || !this.idle) this.release()
    this.single = true
    this.done = false
    this.failed = null
    this.consumed = 0
    this.inValue = false
    this.expectVersion = this.versioned
    this.kept = NO_VALUE
    this.write(payload, this.keep)
    this.end()
    const result = this.kept
    this.kept = NO_VALUE
    if (result === NO_VALUE) throw new DataFormatError('empty payload: no value', 0)
    return result
  }

  private kept: unknown = NO_VALUE
  private readonly keep = (value: unknown): void => { this.kept = value }

  /** The input has ended: an error if it ended inside a value. */
  end (): void {
    if (this.failed !== null) throw this.failed
    if (this.idle) return
    let err: DataFormatError
    if (this.collecting !== null) {
      const c = this.collecting
      err = new DataFormatError(`input ends inside ${opcodeName(c.op)}: ${c.remaining} of its ${c.length} payload bytes missing`, c.opOffset)
    } else if (this.leftover !== null) {
      const op = this.leftover[0] as number
      err = new DataFormatError(`input ends inside ${opcodeName(op)}: it needs ${FIXED[op] as number} bytes, ${this.leftover.length} present`, this.consumed - this.leftover.length)
    } else {
      err = new DataFormatError(`input ends inside a value (no STOP), ${this.sp} item(s) on the stack`, this.consumed)
    }
    this.failed = err
    this.release()
    throw err
  }

  private release (): void {
    this.vals = []
    this.meta = []
    this.need = []
    this.sp = 0
    this.leftover = null
    this.collecting = null
  }

  private feed (chunk: Buffer, emit: Emit): void {
    let buf = chunk
    let p = 0
    if (this.collecting !== null) {
      p = this.collect(buf, emit)
      if (p === buf.length) return
    } else if (this.leftover !== null) {
      // at most 16 bytes are carried over, so this copy keeps the total linear
      buf = Buffer.concat([this.leftover, chunk])
      this.consumed -= this.leftover.length
      this.leftover = null
    }
    this.parse(buf, p, emit)
  }

  private fail (reason: string, offset: number): never {
    throw new DataFormatError(reason, offset)
  }

  private push (value: unknown, meta: number): void {
    const sp = this.sp
    this.vals[sp] = value
    this.meta[sp] = meta
    this.sp = sp + 1
  }

  /** Parse buf from p; base is the absolute offset of buf[0]. */
  private parse (buf: Buffer, p: number, emit: Emit): void {
    const n = buf.length
    const base = this.consumed - p
    while (p < n) {
      if (!this.inValue) {
        // between values: only here can the input end, a version byte come, or trailing bytes be wrong
        if (this.done) this.fail('trailing bytes after the value\'s STOP', base + p)
        this.inValue = true
        this.valueStart = base + p
        if (this.expectVersion) {
          const v = buf[p] as number
          if (v !== 1 && v !== 2) {
            this.fail(`bad format version byte 0x${v.toString(16).padStart(2, '0')}: execnet writes 1 (1.x) or 2 (2.x)`, base + p)
          }
          this.version = v
          this.expectVersion = false
          p++
          continue
        }
      }
      const op = buf[p] as number
      const size = FIXED[op] as number
      if (size === 0) this.fail(opcodeName(op), base + p)
      if (p + size > n) break
      if (op === OP.PY3STRING && this.sp > 0 && isDict((this.meta[this.sp - 1] as number) & KIND)) {
        const next = this.dictEntries(buf, p, n, base)
        if (next !== p) {
          p = next
          continue
        }
      }
      switch (op) {
        case OP.INT: {
          const top = this.sp - 1
          // execnet writes a list's items as index, value, SETITEM: at the
          // next index, scalar values go straight into the list instead of
          // through the stack (a list of 1M ints: 3M stack operations fewer)
          if (top >= 0 && ((this.meta[top] as number) & KIND) === LIST) {
            const next = this.listItems(buf, p, n, base, top)
            if (next !== p) {
              p = next
              continue
            }
          }
          this.push(int32(buf, p + 1), ATOM)
          break
        }
        case OP.NONE:
          this.push(null, ATOM)
          break
        case OP.SETITEM: {
          this.setitem(base + p)
          // back in the container: its next entries may be simple ones
          const top = this.sp - 1
          const kind = (this.meta[top] as number) & KIND
          p++
          if (kind === LIST) p = this.listItems(buf, p, n, base, top)
          else if (isDict(kind)) p = this.dictEntries(buf, p, n, base)
          continue
        }
        case OP.PY3STRING:
        case OP.UNICODE:
        case OP.BYTES:
        case OP.PY2STRING:
        case OP.LONGINT:
        case OP.LONGLONG: {
          const len = int32(buf, p + 1)
          if (len < 0) this.fail(`${opcodeName(op)} with negative length ${len}`, base + p)
          if (base + p + 5 + len - this.valueStart > this.maxValueSize) {
            this.fail(`${opcodeName(op)} of ${len} bytes makes the value larger than maxValueSize (${this.maxValueSize})`, base + p)
          }
          if (p + 5 + len <= n) {
            this.variable(op, buf, p + 5, len, base + p, false)
            p += 5 + len
            continue
          }
          this.collecting = { op, opOffset: base + p, remaining: len - (n - p - 5), length: len, parts: [buf.subarray(p + 5)] }
          this.consumed = base + n
          return
        }
        case OP.FLOAT: {
          const x = buf.readDoubleBE(p + 1)
          if (this.lossless && (Number.isInteger(x) || Number.isNaN(x))) {
            this.push(new Float(x, Number.isNaN(x) ? Buffer.from(buf.subarray(p + 1, p + 9)) : undefined), ATOM)
          } else {
            this.push(x, ATOM)
          }
          break
        }
        case OP.TRUE:
          this.push(true, ATOM)
          break
        case OP.FALSE:
          this.push(false, ATOM)
          break
        case OP.NEWLIST: {
          const len = int32(buf, p + 1)
          if (len < 0) this.fail(`NEWLIST with negative length ${len}`, base + p)
          const top = this.sp
          this.need[top] = len
          this.fill[top] = 0
          this.push(len <= PREALLOCATE_MAX ? new Array(len) : [], LIST + DEPTH)
          p = this.listItems(buf, p + 5, n, base, top)
          continue
        }
        case OP.NEWDICT:
          this.push(this.records ? {} : new Map(), (this.records ? RECORD : DICT) + DEPTH)
          p = this.dictEntries(buf, p + 1, n, base)
          continue
        case OP.BUILDTUPLE:
        case OP.SET:
        case OP.FROZENSET:
          this.collection(op, int32(buf, p + 1), base + p)
          break
        case OP.LONG: {
          const v = int32(buf, p + 1)
          this.push(this.lossless ? new Long(v) : v, ATOM)
          break
        }
        case OP.COMPLEX:
          this.push(new Complex(buf.readDoubleBE(p + 1), buf.readDoubleBE(p + 9)), ATOM)
          break
        case OP.CHANNEL: {
          const id = int32(buf, p + 1)
          if (this.channelFactory === undefined) this.fail(`channel id ${id} outside a gateway (no channelFactory)`, base + p)
          this.push(this.channelFactory(id), ATOM)
          break
        }
        case OP.STOP:
          this.stop(base + p, emit)
          break
      }
      p += size
    }
    // bytes kept aside count as consumed; feed() takes them back with the next chunk
    this.consumed = base + n
    if (p < n) this.leftover = Buffer.from(buf.subarray(p))
    if (this.inValue) this.checkValueSize(base + n)
  }

  /** Take payload bytes for the opcode being collected; returns where the chunk's rest starts. */
  private collect (chunk: Buffer, emit: Emit): number {
    const c = this.collecting as Collecting
    const take = Math.min(c.remaining, chunk.length)
    c.parts.push(take === chunk.length ? chunk : chunk.subarray(0, take))
    c.remaining -= take
    this.consumed += take
    if (c.remaining > 0) return take
    this.collecting = null
    const payload = Buffer.concat(c.parts, c.length)
    this.variable(c.op, payload, 0, c.length, c.opOffset, true)
    if (take < chunk.length) this.parse(chunk, take, emit)
    return chunk.length
  }

  /** Push the value of a length-prefixed opcode whose payload is buf[start, start+len). */
  private variable (op: number, buf: Buffer, start: number, len: number, offset: number, owned: boolean): void {
    const end = start + len
    switch (op) {
      case OP.PY3STRING:
        if (this.py3strAsPy2str && !this.lossless) {
          this.push(bytesOf(buf, start, end, owned), ATOM)
          return
        }
        this.push(this.text(op, buf, start, end, offset), ATOM)
        return
      case OP.UNICODE: {
        const s = this.text(op, buf, start, end, offset)
        this.push(this.lossless ? new Unicode(s) : s, ATOM)
        return
      }
      case OP.BYTES:
        this.push(bytesOf(buf, start, end, owned), ATOM)
        return
      case OP.PY2STRING:
        if (this.lossless) this.push(new Py2Str(buf.subarray(start, end)), ATOM)
        else if (this.py2strAsPy3str) this.push(buf.toString('latin1', start, end), ATOM)
        else this.push(bytesOf(buf, start, end, owned), ATOM)
        return
      default: {
        const v = parseDecimal(buf, start, end)
        if (v === null) this.fail(`${opcodeName(op)} holds ${JSON.stringify(buf.toString('latin1', start, Math.min(end, start + 40)))}, not a decimal integer`, offset)
        if (op === OP.LONGLONG && this.lossless) this.push(new Long(v), ATOM)
        else this.push(v >= Number.MIN_SAFE_INTEGER && v <= Number.MAX_SAFE_INTEGER ? Number(v) : v, ATOM)
      }
    }
  }

  private text (op: number, buf: Buffer, start: number, end: number, offset: number): string {
    const s = decodeShort(buf, start, end)
    if (s === null) this.fail(`${opcodeName(op)} payload is not valid UTF-8`, offset)
    return s
  }

  /**
   * At p, maybe entries for the dict on top of the stack: while a str key,
   * a scalar and SETITEM follow (the commonest entry), each goes straight
   * into the Map or object, in one loop. A str key followed by anything
   * else is pushed. Returns where that leaves off: p itself when nothing
   * was taken (not a str, not all in buf, too large, not UTF-8, or str as
   * bytes), for the general path.
   */
  private dictEntries (buf: Buffer, p: number, n: number, base: number): number {
    if (this.py3strAsPy2str || this.lossless) return p
    const dict = this.vals[this.sp - 1]
    const map = dict instanceof Map ? dict : null
    while (p + 5 <= n && buf[p] === OP.PY3STRING) {
      const len = int32(buf, p + 1)
      const q = p + 5 + len
      if (len < 0 || q > n || base + q - this.valueStart > this.maxValueSize) return p
      const key = decodeShort(buf, p + 5, q)
      if (key === null) return p
      const next = this.itemAt(buf, q, n, base)
      if (next < 0) {
        this.push(key, ATOM)
        return q
      }
      if (map !== null) map.set(key, this.item)
      else setProperty(dict as Record<string, unknown>, key, this.item)
      p = next
    }
    return p
  }

  /**
   * At p, maybe items for the list at stack slot top: while its next index,
   * a scalar and SETITEM follow, each goes straight into the list, in one
   * loop (an int32 item without a call). Returns where that leaves off: p
   * itself when nothing was taken, for the general path.
   */
  private listItems (buf: Buffer, p: number, n: number, base: number, top: number): number {
    let list = this.vals[top] as unknown[]
    const need = this.need[top] as number
    let f = this.fill[top] as number
    if (f === 0 && list.length === 0 && need > PREALLOCATE_MAX) {
      // growing [] to 1M items by stores at its end measured 3x the time of
      // filling an array made at its size; the size is only what the input
      // holds (items counted, not announced), so memory stays bounded
      const count = scalarItems(buf, p, n, need)
      if (count > PREALLOCATE_MAX) {
        list = new Array(count)
        this.vals[top] = list
      }
    }
    while (p + 6 <= n && buf[p] === OP.INT && f < need && int32(buf, p + 1) === f) {
      const q = p + 5
      if (buf[q] === OP.INT && q + 6 <= n && buf[q + 5] === OP.SETITEM) {
        list[f++] = int32(buf, q + 1)
        p = q + 6
        continue
      }
      const next = this.itemAt(buf, q, n, base)
      if (next < 0) break
      list[f++] = this.item
      p = next
    }
    this.fill[top] = f
    return p
  }

  /** The value itemAt() read. */
  private item: unknown = undefined

  /**
   * At q, right after a list's next index: a scalar (fixed-size, or a str
   * read as a string) followed by SETITEM is read into
   * this.item; returns where the SETITEM ends, or -1 (anything else, not
   * all in buf, or anything wrong) for the general path, which reports it.
   */
  private itemAt (buf: Buffer, q: number, n: number, base: number): number {
    if (q + 2 > n) return -1
    let size: number
    switch (buf[q]) {
      case OP.INT:
        if (q + 6 > n) return -1
        this.item = int32(buf, q + 1)
        size = 5
        break
      case OP.FLOAT: {
        if (q + 10 > n) return -1
        const x = buf.readDoubleBE(q + 1)
        if (this.lossless && (Number.isInteger(x) || Number.isNaN(x))) return -1
        this.item = x
        size = 9
        break
      }
      case OP.NONE:
        this.item = null
        size = 1
        break
      case OP.TRUE:
        this.item = true
        size = 1
        break
      case OP.FALSE:
        this.item = false
        size = 1
        break
      case OP.PY3STRING: {
        if (this.py3strAsPy2str || this.lossless || q + 6 > n) return -1
        const len = int32(buf, q + 1)
        if (len < 0 || q + 6 + len > n || base + q + 5 + len - this.valueStart > this.maxValueSize) return -1
        const text = decodeShort(buf, q + 5, q + 5 + len)
        if (text === null) return -1
        this.item = text
        size = 5 + len
        break
      }
      default:
        return -1
    }
    if (buf[q + size] !== OP.SETITEM) return -1
    return q + size + 1
  }

  /** A list leaving the stack must have received every item it announced. */
  private checkComplete (i: number, offset: number): void {
    const need = this.need[i] as number
    const got = this.fill[i] as number
    if (got !== need) this.fail(`list announced ${need} items but received ${got}`, offset)
  }

  private setitem (offset: number): void {
    const sp = this.sp
    if (sp < 3) this.fail(`SETITEM needs a container, a key and a value; the stack holds ${sp} item(s)`, offset)
    const vmeta = this.meta[sp - 1] as number
    const kmeta = this.meta[sp - 2] as number
    const cmeta = this.meta[sp - 3] as number
    if ((vmeta & KIND) === LIST) this.checkComplete(sp - 1, offset)
    const value = this.vals[sp - 1]
    const key = this.vals[sp - 2]
    const container = this.vals[sp - 3]
    let depth = cmeta & ~KIND
    switch (cmeta & KIND) {
      case LIST: {
        const list = container as unknown[]
        const got = this.fill[sp - 3] as number
        if (key !== got) {
          this.fail(`SETITEM on a list at index ${String(key)}: the next item's index is ${got}`, offset)
        }
        if (got >= (this.need[sp - 3] as number)) this.fail(`SETITEM beyond the ${this.need[sp - 3] as number} items the list announced`, offset)
        list[got] = value
        this.fill[sp - 3] = got + 1
        break
      }
      case DICT:
        if (unhashable(kmeta & KIND)) this.fail(`${KIND_NAMES[kmeta & KIND] as string} cannot be a dict key (unhashable)`, offset)
        ;(container as Map<unknown, unknown>).set(key, value)
        depth = Math.max(depth, (kmeta & ~KIND) + DEPTH)
        break
      case RECORD:
        if (unhashable(kmeta & KIND)) this.fail(`${KIND_NAMES[kmeta & KIND] as string} cannot be a dict key (unhashable)`, offset)
        if (typeof key === 'string') {
          setProperty(container as Record<string, unknown>, key, value)
        } else {
          const map = new Map<unknown, unknown>(Object.entries(container as Record<string, unknown>))
          map.set(key, value)
          this.vals[sp - 3] = map
          depth = Math.max(depth, (kmeta & ~KIND) + DEPTH)
          this.meta[sp - 3] = DICT
        }
        break
      default:
        this.fail(`SETITEM on ${KIND_NAMES[cmeta & KIND] as string}, which is not a list or dict`, offset)
    }
    depth = Math.max(depth, (vmeta & ~KIND) + DEPTH)
    if (depth > this.maxDepth * DEPTH) this.fail(`nesting deeper than maxDepth (${this.maxDepth})`, offset)
    this.meta[sp - 3] = ((this.meta[sp - 3] as number) & KIND) | depth
    this.vals[sp - 1] = undefined
    this.vals[sp - 2] = undefined
    this.sp = sp - 2
  }

  private collection (op: number, count: number, offset: number): void {
    const sp = this.sp
    if (count < 0) this.fail(`${opcodeName(op)} with negative count ${count}`, offset)
    if (count > sp) this.fail(`${opcodeName(op)} of ${count} items, but the stack holds ${sp}`, offset)
    const from = sp - count
    let depth = 0
    let anyUnhashable = false
    for (let i = from; i < sp; i++) {
      const m = this.meta[i] as number
      const kind = m & KIND
      if (kind === LIST) this.checkComplete(i, offset)
      if (unhashable(kind)) {
        if (op !== OP.BUILDTUPLE) this.fail(`${KIND_NAMES[kind] as string} cannot be a set member (unhashable)`, offset)
        anyUnhashable = true
      }
      if ((m & ~KIND) > depth) depth = m & ~KIND
    }
    depth += DEPTH
    if (depth > this.maxDepth * DEPTH) this.fail(`nesting deeper than maxDepth (${this.maxDepth})`, offset)
    const items = this.vals.slice(from, sp)
    let value: unknown
    let kind: number
    if (op === OP.BUILDTUPLE) {
      value = adoptAsTuple(items)
      kind = anyUnhashable ? UTUPLE : TUPLE
    } else {
      value = op === OP.SET ? new Set(items) : new FrozenSet(items)
      kind = op === OP.SET ? SET : FROZEN
    }
    for (let i = from; i < sp; i++) this.vals[i] = undefined
    this.sp = from
    this.push(value, kind | depth)
  }

  /** The value being read spans valueStart up to end (exclusive): may it be that large? */
  private checkValueSize (end: number): void {
    if (end - this.valueStart > this.maxValueSize) this.fail(`value larger than maxValueSize (${this.maxValueSize})`, this.valueStart)
  }

  private stop (offset: number, emit: Emit): void {
    this.checkValueSize(offset + 1)
    if (this.sp !== 1) this.fail(`STOP with ${this.sp} items on the stack; a complete value leaves exactly 1`, offset)
    if (((this.meta[0] as number) & KIND) === LIST) this.checkComplete(0, offset)
    const value = this.vals[0]
    this.vals[0] = undefined
    this.sp = 0
    this.inValue = false
    this.expectVersion = this.versioned
    this.done = this.single
    emit(value)
  }
}

/**
 * How many list items of the simple form (an index, a scalar, SETITEM) buf
 * holds from p, up to max: their framing only, unvalidated (listItems
 * checks each index), which bounds the count by the bytes present.
 */
function scalarItems (buf: Buffer, p: number, n: number, max: number): number {
  let count = 0
  while (count < max && p + 7 <= n && buf[p] === OP.INT) {
    if (buf[p + 5] === OP.INT && p + 11 <= n && buf[p + 10] === OP.SETITEM) {
      p += 11
      count++
      continue
    }
    const q = p + 5
    let size: number
    switch (buf[q]) {
      case OP.INT: size = 5; break
      case OP.FLOAT: size = 9; break
      case OP.NONE: case OP.TRUE: case OP.FALSE: size = 1; break
      case OP.PY3STRING: {
        if (q + 5 > n) return count
        const len = int32(buf, q + 1)
        if (len < 0) return count
        size = 5 + len
        break
      }
      default: return count
    }
    if (q + size >= n || buf[q + size] !== OP.SETITEM) return count
    p = q + size + 1
    count++
  }
  return count
}

/** The big-endian int32 at buf[p]; the caller has checked that 4 bytes are there. */
function int32 (buf: Buffer, p: number): number {
  return ((buf[p] as number) << 24) | ((buf[p + 1] as number) << 16) | ((buf[p + 2] as number) << 8) | (buf[p + 3] as number)
}

/**
 * Byte values at least this large are views into the input rather than copies.
 * @category Wire format (low level)
 */
export const ZERO_COPY_BYTES = 64 * 1024

function bytesOf (buf: Buffer, start: number, end: number, owned: boolean): Buffer {
  if (owned && start === 0 && end === buf.length) return buf
  // a large value is most of the memory it sits in: a view costs nothing and
  // pins little; a small one is copied so it never pins a large input chunk
  if (end - start >= ZERO_COPY_BYTES) return buf.subarray(start, end)
  return copyOut(buf, start, end)
}

function setProperty (record: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    // a plain assignment would replace the object's prototype
    Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true })
  } else {
    record[key] = value
  }
}

/** -?[0-9]+ as a bigint, or null: the only form execnet writes (str(int)). */
function parseDecimal (buf: Buffer, start: number, end: number): bigint | null {
  let p = start
  if (p < end && buf[p] === 0x2d) p++
  if (p === end) return null
  for (let i = p; i < end; i++) {
    const c = buf[i] as number
    if (c < 0x30 || c > 0x39) return null
  }
  return BigInt(buf.toString('latin1', start, end))
}

/**
 * Deserialize one execnet dump (version byte 1 or 2, program, STOP), as
 * execnet.loads does. Throws DataFormatError on anything else, including
 * trailing bytes after the value. A Python None is null.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs'
 * import { loads } from 'execnet'
 *
 * // a file Python 2 wrote: its str values as strings, not Buffers
 * const value = loads(readFileSync('data.py23'), { py2strAsPy3str: true })
 * ```
 * @category Serializer
 */
export function loads (data: Uint8Array, options: LoadOptions = {}): unknown {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (buf.length === 0) throw new DataFormatError('empty input: no format version byte', 0)
  const loader = new Loader(options)
  loader.single = true
  let result: unknown
  loader.write(buf, (value) => { result = value })
  loader.end()
  return result
}
