/**
 * execnet's serializer opcodes (gateway_base.py, class opcode): one ASCII
 * byte each. A dump is an optional version byte, a postfix program over a
 * value stack, and STOP.
 * @category Wire format (low level)
 */
export const OP = {
  BUILDTUPLE: 0x40, // '@' int4 count: pop count items, push a tuple
  BYTES: 0x41, // 'A' int4 length + raw bytes (Python 3 bytes)
  CHANNEL: 0x42, // 'B' int4 channel id
  FALSE: 0x43, // 'C'
  FLOAT: 0x44, // 'D' 8 bytes IEEE-754 big-endian
  FROZENSET: 0x45, // 'E' int4 count
  INT: 0x46, // 'F' int4
  LONG: 0x47, // 'G' int4 (a Python 2 long that fits)
  LONGINT: 0x48, // 'H' int4 length + decimal text (an int beyond int32)
  LONGLONG: 0x49, // 'I' int4 length + decimal text (a Python 2 long beyond int32)
  NEWDICT: 0x4a, // 'J'
  NEWLIST: 0x4b, // 'K' int4 length; items follow as index, value, SETITEM
  NONE: 0x4c, // 'L'
  PY2STRING: 0x4d, // 'M' int4 length + bytes (a Python 2 str)
  PY3STRING: 0x4e, // 'N' int4 length + UTF-8 (a Python 3 str)
  SET: 0x4f, // 'O' int4 count
  SETITEM: 0x50, // 'P' pop value, pop key, top[key] = value
  STOP: 0x51, // 'Q'
  TRUE: 0x52, // 'R'
  UNICODE: 0x53, // 'S' int4 length + UTF-8 (a Python 2 unicode)
  COMPLEX: 0x54 // 'T' 16 bytes: real, imag as big-endian doubles
} as const

/**
 * execnet 1.x writes version byte 1, execnet 2.x writes 2; the rest is the same.
 * @category Serializer
 */
export type FormatVersion = 1 | 2

export const INT32_MAX = 2147483647
export const INT32_MIN = -2147483648

const names = new Map<number, string>(Object.entries(OP).map(([name, code]) => [code, name]))

/**
 * A printable name for an opcode byte, for error messages.
 * @category Wire format (low level)
 */
export function opcodeName (byte: number): string {
  const name = names.get(byte)
  const shown = byte >= 0x20 && byte < 0x7f ? `'${String.fromCharCode(byte)}'` : `0x${byte.toString(16).padStart(2, '0')}`
  return name === undefined ? `unknown opcode ${shown}` : `${name} (${shown})`
}
