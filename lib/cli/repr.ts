/** Values as Python's repr() shows them, for `execnet decode --repr`. */
import { Complex, Float, FrozenSet, Long, Py2Str, PyNone, Tuple, Unicode } from '../serializer/types.js'

export function pyRepr (value: unknown): string {
  if (value === null || value === undefined || value instanceof PyNone) return 'None'
  if (value === true) return 'True'
  if (value === false) return 'False'
  if (typeof value === 'number') return Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER && !Object.is(value, -0) ? String(value) : floatRepr(value)
  if (typeof value === 'bigint') return value.toString()
  if (typeof value === 'string') return strRepr(value)
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return 'b' + bytesRepr(Buffer.from(value))
  if (value instanceof Float) return floatRepr(value.value)
  if (value instanceof Long) return value.value.toString() + 'L'
  if (value instanceof Py2Str) return bytesRepr(Buffer.from(value.bytes))
  if (value instanceof Unicode) return 'u' + strRepr(value.value)
  if (value instanceof Complex) return `(${floatRepr(value.re)}${value.im < 0 || Object.is(value.im, -0) ? '-' : '+'}${floatRepr(Math.abs(value.im))}j)`
  if (value instanceof Tuple) return value.length === 1 ? `(${pyRepr(value[0])},)` : `(${value.map(pyRepr).join(', ')})`
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`
  if (value instanceof FrozenSet) return value.size === 0 ? 'frozenset()' : `frozenset({${[...value].map(pyRepr).join(', ')}})`
  if (value instanceof Set) return value.size === 0 ? 'set()' : `{${[...value].map(pyRepr).join(', ')}}`
  if (value instanceof Map) return `{${[...value].map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`).join(', ')}}`
  if (typeof value === 'object') return pyRepr(new Map(Object.entries(value)))
  return String(value)
}

function floatRepr (x: number): string {
  if (Number.isNaN(x)) return 'nan'
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf'
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return (Object.is(x, -0) ? '-0' : String(x)) + '.0'
  // JavaScript and Python both print the shortest round-tripping digits; only the exponent differs
  return String(x).replace('e+', 'e+').replace(/e([+-])(\d)$/, 'e$10$2')
}

function strRepr (s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'"
  let out = quote
  for (const ch of s) {
    const c = ch.codePointAt(0) as number
    if (ch === quote || ch === '\\') out += '\\' + ch
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\t') out += '\\t'
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0')
    else out += ch
  }
  return out + quote
}

function bytesRepr (b: Buffer): string {
  const quote = b.includes(0x27) && !b.includes(0x22) ? '"' : "'"
  let out = quote
  for (const c of b) {
    const ch = String.fromCharCode(c)
    if (ch === quote || ch === '\\') out += '\\' + ch
    else if (c === 0x0a) out += '\\n'
    else if (c === 0x0d) out += '\\r'
    else if (c === 0x09) out += '\\t'
    else if (c < 0x20 || c >= 0x7f) out += '\\x' + c.toString(16).padStart(2, '0')
    else out += ch
  }
  return out + quote
}
