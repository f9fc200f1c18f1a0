/**
 * Strict UTF-8 decoding, as Python 3's codec does it: overlong forms,
 * surrogates and code points past U+10FFFF are errors, never silently
 * replaced by U+FFFD as Buffer#toString would.
 */
import { isUtf8, constants } from 'node:buffer'

interface Latin1Slicer { latin1Slice: (start: number, end: number) => string }

/** The text of buf[start, end), or null if those bytes are not valid UTF-8. */
export function decodeUtf8 (buf: Buffer, start: number, end: number): string | null {
  if (end - start > constants.MAX_STRING_LENGTH) return null
  // most text is ASCII: check it here, and let a native slice build the string
  let i = start
  while (i < end && (buf[i] as number) < 0x80) i++
  if (i === end) return (buf as unknown as Latin1Slicer).latin1Slice(start, end)
  const view = buf.subarray(start, end)
  return isUtf8(view) ? view.toString('utf8') : null
}

/**
 * Keys repeat from record to record, and so do many short values (names of
 * kinds, states, tags): short strings are decoded once and reused. A string
 * enters the cache only the second time its hash is seen, so a stream of
 * unique strings costs an Int32Array write each, not a cache entry (whose
 * old-to-young pointer would keep every string alive through a scavenge).
 */
const SHORT_MAX = 16
const SLOTS = 4096
const hashes = new Int32Array(SLOTS)
const strings: Array<string | undefined> = new Array(SLOTS)

const fcc = String.fromCharCode as (...codes: Array<number | undefined>) => string

/**
 * The string of the ASCII bytes b[s, s+len), len <= SHORT_MAX: built in
 * JavaScript, twice as fast at these lengths as a call into the native
 * slicer (35 against 70 ns for a 10-character string).
 */
function shortAscii (b: Buffer, s: number, len: number): string {
  switch (len) {
    case 1: return fcc(b[s])
    case 2: return fcc(b[s], b[s + 1])
    case 3: return fcc(b[s], b[s + 1], b[s + 2])
    case 4: return fcc(b[s], b[s + 1], b[s + 2], b[s + 3])
    case 5: return fcc(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4])
    case 6: return fcc(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5])
    case 7: return fcc(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6])
    case 8: return fcc(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7])
    case 9: return fcc(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8])
    case 10: return fcc(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9])
    case 11: return fcc(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9], b[s + 10])
    case 12: return fcc(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9], b[s + 10], b[s + 11])
    case 13: return fcc(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9], b[s + 10], b[s + 11], b[s + 12])
    case 14: return fcc(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9], b[s + 10], b[s + 11], b[s + 12], b[s + 13])
    case 15: return fcc(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9], b[s + 10], b[s + 11], b[s + 12], b[s + 13], b[s + 14])
    case 16: return fcc(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9], b[s + 10], b[s + 11], b[s + 12], b[s + 13], b[s + 14], b[s + 15])
    default: return ''
  }
}

/** decodeUtf8, with short ASCII strings from a small direct-mapped cache. */
export function decodeShort (buf: Buffer, start: number, end: number): string | null {
  const len = end - start
  if (len > SHORT_MAX) return decodeUtf8(buf, start, end)
  let h = len + 1
  for (let i = start; i < end; i++) {
    const c = buf[i] as number
    if (c >= 0x80) return decodeUtf8(buf, start, end)
    h = (Math.imul(h, 31) + c) | 0
  }
  const slot = (h ^ (h >>> 15)) & (SLOTS - 1)
  if (hashes[slot] !== h) {
    hashes[slot] = h
    return shortAscii(buf, start, len)
  }
  const cached = strings[slot]
  // the string is ASCII, so the cached string's char codes are its bytes
  if (cached !== undefined && cached.length === len) {
    let i = 0
    while (i < len && cached.charCodeAt(i) === buf[start + i]) i++
    if (i === len) return cached
  }
  const s = shortAscii(buf, start, len)
  strings[slot] = s
  return s
}
