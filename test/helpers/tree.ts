/**
 * The typed tree of ../shared/vectors/README.md: how the vectors and the
 * Python oracle describe a Python value exactly. These helpers turn trees
 * into the JavaScript values loads should give, and JavaScript values into
 * trees, and compare trees the way Python compares values.
 */
import { Tuple, FrozenSet, Complex, Float, Long, Py2Str, Unicode } from '../../index.js'

export type Node =
  | { t: 'none' }
  | { t: 'bool', v: boolean }
  | { t: 'int' | 'long', v: string }
  | { t: 'float', bits: string, v?: string }
  | { t: 'complex', re: string, im: string, v?: string }
  | { t: 'bytes' | 'py2str', hex: string }
  | { t: 'str' | 'unicode', v: string }
  | { t: 'list' | 'tuple' | 'set' | 'frozenset', v: Node[] }
  | { t: 'dict', v: Array<[Node, Node]> }

function double (bits: string): number {
  return Buffer.from(bits, 'hex').readDoubleBE(0)
}

function bitsOf (x: number): string {
  const b = Buffer.alloc(8)
  b.writeDoubleBE(x)
  return b.toString('hex')
}

function int (v: string): number | bigint {
  const b = BigInt(v)
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b
}

export interface ExpectOptions {
  py2strAsPy3str?: boolean
  py3strAsPy2str?: boolean
  lossless?: boolean
}

/** The value loads(bytes of this tree, options) must return. */
export function expected (node: Node, o: ExpectOptions = {}): unknown {
  switch (node.t) {
    case 'none': return null
    case 'bool': return node.v
    case 'int': return int(node.v)
    case 'long': return o.lossless === true ? new Long(BigInt(node.v)) : int(node.v)
    case 'float': {
      const x = double(node.bits)
      return o.lossless === true && (Number.isInteger(x) || Number.isNaN(x)) ? new Float(x) : x
    }
    case 'complex': return new Complex(double(node.re), double(node.im))
    case 'bytes': return Buffer.from(node.hex, 'hex')
    case 'py2str':
      if (o.lossless === true) return new Py2Str(Buffer.from(node.hex, 'hex'))
      return o.py2strAsPy3str === true ? Buffer.from(node.hex, 'hex').toString('latin1') : Buffer.from(node.hex, 'hex')
    case 'str': return o.py3strAsPy2str === true && o.lossless !== true ? Buffer.from(node.v, 'utf8') : node.v
    case 'unicode': return o.lossless === true ? new Unicode(node.v) : node.v
    case 'list': return node.v.map((x) => expected(x, o))
    case 'tuple': return Tuple.fromItems(node.v.map((x) => expected(x, o)))
    case 'set': return new Set(node.v.map((x) => expected(x, o)))
    case 'frozenset': return new FrozenSet(node.v.map((x) => expected(x, o)))
    case 'dict': return new Map(node.v.map(([k, v]) => [expected(k, o), expected(v, o)]))
  }
}

/** The tree of a JavaScript value as dumps writes it (major: the Python that will read it, for naming only). */
export function treeOf (value: unknown): Node {
  if (value === null) return { t: 'none' }
  switch (typeof value) {
    case 'boolean': return { t: 'bool', v: value }
    case 'bigint': return { t: 'int', v: value.toString() }
    case 'number':
      return Number.isSafeInteger(value) && !Object.is(value, -0) ? { t: 'int', v: String(value) } : { t: 'float', bits: bitsOf(value) }
    case 'string': return { t: 'str', v: value }
  }
  if (value instanceof Float) return { t: 'float', bits: bitsOf(value.value) }
  if (value instanceof Long) return { t: 'long', v: value.value.toString() }
  if (value instanceof Complex) return { t: 'complex', re: bitsOf(value.re), im: bitsOf(value.im) }
  if (value instanceof Py2Str) return { t: 'py2str', hex: value.bytes.toString('hex') }
  if (value instanceof Unicode) return { t: 'unicode', v: value.value }
  if (value instanceof Uint8Array) return { t: 'bytes', hex: Buffer.from(value).toString('hex') }
  if (value instanceof Tuple) return { t: 'tuple', v: value.map(treeOf) }
  if (Array.isArray(value)) return { t: 'list', v: value.map(treeOf) }
  if (value instanceof FrozenSet) return { t: 'frozenset', v: [...value].map(treeOf) }
  if (value instanceof Set) return { t: 'set', v: [...value].map(treeOf) }
  if (value instanceof Map) return { t: 'dict', v: [...value].map(([k, v]) => [treeOf(k), treeOf(v)] as [Node, Node]) }
  if (typeof value === 'object') return { t: 'dict', v: Object.entries(value as object).map(([k, v]) => [treeOf(k), treeOf(v)] as [Node, Node]) }
  throw new Error(`no tree for ${String(value)}`)
}

export interface CanonOptions {
  /** Treat Python 2/3 spellings as one: int/long, str/unicode, bytes/py2str. */
  crossVersion?: boolean
  /** Compare dict entries without order (Python 2 iterates in hash order). */
  unorderedDicts?: boolean
}

/**
 * A string equal for two trees exactly when Python would call the values
 * equal and of the same types: sets compare without order, floats by bits
 * (any NaN equal to any NaN).
 */
export function canon (node: Node, o: CanonOptions = {}): string {
  const x = o.crossVersion === true
  switch (node.t) {
    case 'none': return 'None'
    case 'bool': return node.v ? 'True' : 'False'
    case 'int':
    case 'long': return `${x ? 'int' : node.t}(${BigInt(node.v).toString()})`
    case 'float': return `float(${Number.isNaN(double(node.bits)) ? 'nan' : node.bits})`
    case 'complex': return `complex(${node.re},${node.im})`
    case 'bytes':
    case 'py2str': return `${x ? 'bytes' : node.t}(${node.hex})`
    case 'str':
    case 'unicode': return `${x ? 'str' : node.t}(${JSON.stringify(node.v)})`
    case 'list':
    case 'tuple': return `${node.t}[${node.v.map((n) => canon(n, o)).join(',')}]`
    case 'set':
    case 'frozenset': return `${node.t}{${node.v.map((n) => canon(n, o)).sort().join(',')}}`
    case 'dict': {
      const entries = node.v.map(([k, v]) => `${canon(k, o)}:${canon(v, o)}`)
      if (o.unorderedDicts === true) entries.sort()
      return `dict{${entries.join(',')}}`
    }
  }
}
