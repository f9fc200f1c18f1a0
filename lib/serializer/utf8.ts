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
