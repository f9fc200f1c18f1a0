/**
 * Values <-> JSON for the CLI's JSON lines. JSON has no bytes, tuples, sets,
 * big ints or non-string keys, so those travel as one-key tagged objects:
 * {"$bytes": base64}, {"$tuple": [...]}, {"$set": [...]}, {"$frozenset": [...]},
 * {"$dict": [[k, v], ...]} (a dict with a non-string key, or a key starting
 * with "$"), {"$int": "digits"}, {"$float": number | "nan" | "inf" | "-inf"}
 * (an integral or non-finite float), {"$complex": [re, im]}. Everything else
 * is plain JSON: null, booleans, numbers, strings, arrays, objects.
 */
import { Complex, Float, FrozenSet, Long, Py2Str, PyNone, Tuple, Unicode, adoptAsTuple } from '../serializer/types.js'
import { DataFormatError } from '../errors.js'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

export function toJson (value: unknown): Json {
  if (value === null || value === undefined || value instanceof PyNone) return null
  if (typeof value === 'boolean' || typeof value === 'string') return value
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $float: floatText(value) }
  if (typeof value === 'bigint') return { $int: value.toString() }
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') }
  if (value instanceof Float) return { $float: Number.isFinite(value.value) ? value.value : floatText(value.value) }
  if (value instanceof Long) return { $int: value.value.toString() }
  if (value instanceof Py2Str) return { $bytes: Buffer.from(value.bytes).toString('base64') }
  if (value instanceof Unicode) return value.value
  if (value instanceof Complex) return { $complex: [value.re, value.im] }
  if (value instanceof Tuple) return { $tuple: value.map(toJson) }
  if (Array.isArray(value)) return value.map(toJson)
  if (value instanceof FrozenSet) return { $frozenset: [...value].map(toJson) }
  if (value instanceof Set) return { $set: [...value].map(toJson) }
  if (value instanceof Map) {
    const plain = [...value.keys()].every((k) => typeof k === 'string' && !k.startsWith('$'))
    if (!plain) return { $dict: [...value].map(([k, v]) => [toJson(k), toJson(v)]) }
    const out: { [key: string]: Json } = {}
    for (const [k, v] of value) Object.defineProperty(out, k as string, { value: toJson(v), enumerable: true, writable: true, configurable: true })
    return out
  }
  if (typeof value === 'object') return toJson(new Map(Object.entries(value)))
  throw new DataFormatError(`no JSON form for ${typeof value}`, 0)
}

/** Standard base64 (RFC 4648 section 4), padded, as toJson writes it. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Bytes from base64, strictly: Buffer.from(text, 'base64') skips what is
 * not base64 and stops at a stray '=', so a typo would encode other bytes
 * (or none) without a word.
 */
function fromBase64 (text: string, where: string): Buffer {
  const bytes = Buffer.from(text, 'base64')
  // the round trip also refuses the unused low bits of the last character set
  if (BASE64.test(text) && bytes.toString('base64') === text) return bytes
  const bad = /[^A-Za-z0-9+/=]/.exec(text)
  const early = /=(?!=?$)/.exec(text)
  const why = bad !== null
    ? `${JSON.stringify(bad[0])} at ${bad.index} is not a base64 character`
    : early !== null ? `padding '=' at ${early.index}, before the end`
      : text.length % 4 !== 0 ? `its length, ${text.length}, is not a multiple of 4 (padding '=' missing?)` : 'it is not canonical base64'
  throw new DataFormatError(`${where}: $bytes is not base64: ${why}`, 0)
}

function floatText (x: number): string {
  return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf'
}

/** The inverse of toJson: a value dumps() writes as the Python value it stands for. */
export function fromJson (json: unknown, where = 'line'): unknown {
  if (json === null || typeof json === 'boolean' || typeof json === 'string') return json
  if (typeof json === 'number') return json
  if (Array.isArray(json)) return json.map((x, i) => fromJson(x, `${where}[${i}]`))
  if (typeof json !== 'object') throw new DataFormatError(`${where}: not JSON`, 0)
  const record = json as Record<string, unknown>
  const keys = Object.keys(record)
  const tag = keys.length === 1 && (keys[0] as string).startsWith('$') ? keys[0] as string : null
  if (tag !== null) {
    const body = record[tag]
    const list = (): unknown[] => {
      if (!Array.isArray(body)) throw new DataFormatError(`${where}: ${tag} needs an array`, 0)
      return body.map((x, i) => fromJson(x, `${where}.${tag}[${i}]`))
    }
    switch (tag) {
      case '$bytes':
        if (typeof body !== 'string') throw new DataFormatError(`${where}: $bytes needs base64 text`, 0)
        return fromBase64(body, where)
      case '$tuple': return adoptAsTuple(list())
      case '$set': return new Set(list())
      case '$frozenset': return new FrozenSet(list())
      case '$dict': return new Map(list().map((pair, i) => {
        if (!Array.isArray(pair) || pair.length !== 2) throw new DataFormatError(`${where}.$dict[${i}]: needs a [key, value] pair`, 0)
        return [pair[0], pair[1]] as [unknown, unknown]
      }))
      case '$int':
        if (typeof body !== 'string' || !/^-?\d+$/.test(body)) throw new DataFormatError(`${where}: $int needs decimal digits as text`, 0)
        return BigInt(body)
      case '$float':
        if (typeof body === 'number') return new Float(body)
        if (body === 'nan') return Number.NaN
        if (body === 'inf') return Number.POSITIVE_INFINITY
        if (body === '-inf') return Number.NEGATIVE_INFINITY
        throw new DataFormatError(`${where}: $float needs a number, "nan", "inf" or "-inf"`, 0)
      case '$complex': {
        if (!Array.isArray(body) || body.length !== 2 || !body.every((x) => typeof x === 'number')) throw new DataFormatError(`${where}: $complex needs [re, im]`, 0)
        return new Complex(body[0] as number, body[1] as number)
      }
      default: throw new DataFormatError(`${where}: unknown tag ${tag} (a dict key starting with $ goes in {"$dict": [[k, v]...]})`, 0)
    }
  }
  return new Map(keys.map((k) => [k, fromJson(record[k], `${where}.${k}`)]))
}
