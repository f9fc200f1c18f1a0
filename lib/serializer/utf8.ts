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

/** Dict keys repeat from record to record: short ones are decoded once and reused. */
const KEY_MAX = 16
const KEY_SLOTS = 4096
const keyHashes = new Int32Array(KEY_SLOTS).fill(-1)
const keyStrings: Array<string | undefined> = new Array(KEY_SLOTS)

/** decodeUtf8 for a dict key: short ASCII keys come from a small direct-mapped cache. */
export function decodeKey (buf: Buffer, start: number, end: number): string | null {
  const len = end - start
  if (len > KEY_MAX) return decodeUtf8(buf, start, end)
  let h = len
  for (let i = start; i < end; i++) {
    const c = buf[i] as number
    if (c >= 0x80) return decodeUtf8(buf, start, end)
    h = (Math.imul(h, 31) + c) | 0
  }
  const slot = (h ^ (h >>> 15)) & (KEY_SLOTS - 1)
  const cached = keyStrings[slot]
  // the key is ASCII, so the cached string's char codes are its bytes
  if (keyHashes[slot] === h && cached !== undefined && cached.length === len) {
    let same = true
    for (let i = 0; i < len; i++) {
      if (cached.charCodeAt(i) !== buf[start + i]) { same = false; break }
    }
    if (same) return cached
  }
  const s = (buf as unknown as Latin1Slicer).latin1Slice(start, end)
  keyHashes[slot] = h
  keyStrings[slot] = s
  return s
}
