/**
 * Strict UTF-8 decoding, as Python 3's codec does it: overlong forms,
 * surrogates and code points past U+10FFFF are errors, never silently
 * replaced by U+FFFD as Buffer#toString would.
 */
import { isUtf8, constants } from 'node:buffer'

/** Shorter than this, a JavaScript loop beats a native call. */
const SHORT = 64

const units: number[] = []

/** The text of buf[start, end), or null if those bytes are not valid UTF-8. */
export function decodeUtf8 (buf: Buffer, start: number, end: number): string | null {
  if (end - start >= SHORT) {
    if (end - start > constants.MAX_STRING_LENGTH) return null
    const view = buf.subarray(start, end)
    return isUtf8(view) ? view.toString('utf8') : null
  }
  units.length = 0
  let p = start
  while (p < end) {
    const b0 = buf[p++] as number
    if (b0 < 0x80) {
      units.push(b0)
      continue
    }
    let cp: number
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      if (p >= end) return null
      const b1 = buf[p++] as number
      if ((b1 & 0xc0) !== 0x80) return null
      cp = ((b0 & 0x1f) << 6) | (b1 & 0x3f)
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      if (p + 1 >= end) return null
      const b1 = buf[p++] as number
      const b2 = buf[p++] as number
      if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80) return null
      cp = ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f)
      if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return null
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      if (p + 2 >= end) return null
      const b1 = buf[p++] as number
      const b2 = buf[p++] as number
      const b3 = buf[p++] as number
      if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80 || (b3 & 0xc0) !== 0x80) return null
      cp = ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f)
      if (cp < 0x10000 || cp > 0x10ffff) return null
      cp -= 0x10000
      units.push(0xd800 + (cp >> 10))
      cp = 0xdc00 + (cp & 0x3ff)
    } else {
      return null
    }
    units.push(cp)
  }
  return String.fromCharCode.apply(null, units)
}
