/**
 * execnet's message frame: a 9-byte header packed as struct '!bii' (int8
 * message code, int32 channel id, int32 payload length, big-endian) and the
 * payload, which for data messages is an unversioned dump.
 * @category Wire format (low level)
 */
export const MessageCode = {
  STATUS: 0,
  RECONFIGURE: 1,
  GATEWAY_TERMINATE: 2,
  CHANNEL_EXEC: 3,
  CHANNEL_DATA: 4,
  CHANNEL_CLOSE: 5,
  CHANNEL_CLOSE_ERROR: 6,
  CHANNEL_LAST_MESSAGE: 7
} as const

/**
 * Our one extension to execnet's protocol: the receiver of a channel's data
 * grants its sender more bytes (payload: the count as a big-endian uint64).
 * It is used only when both ends are ours and agreed on it at bootstrap;
 * execnet has no such message and would stop at it.
 * @category Wire format (low level)
 */
export const CHANNEL_CREDIT = 8

/**
 * execnet's message names, e.g. 'CHANNEL_DATA'.
 * @category Wire format (low level)
 */
export type MessageCodeName = keyof typeof MessageCode
/**
 * A message code: 0..7, or our CHANNEL_CREDIT (8).
 * @category Wire format (low level)
 */
export type MessageCodeValue = (typeof MessageCode)[MessageCodeName] | typeof CHANNEL_CREDIT

/**
 * Bytes in a frame header ('!bii').
 * @category Wire format (low level)
 */
export const HEADER_SIZE = 9

/**
 * Largest payload the frame decoder accepts by default (512 MiB); execnet's int32 length allows 2 GiB - 1.
 * @category Wire format (low level)
 */
export const DEFAULT_MAX_FRAME_SIZE = 512 * 1024 * 1024

/**
 * A decoded frame: its message code, channel id and payload.
 * @category Wire format (low level)
 */
export interface Frame {
  code: MessageCodeValue
  channelId: number
  payload: Buffer
}

const codeNames: readonly string[] = Object.keys(MessageCode)

/**
 * Whether `code` is one of execnet's message codes, or (with `extensions`) our CHANNEL_CREDIT too.
 * @category Wire format (low level)
 */
export function isMessageCode (code: number, extensions = false): code is MessageCodeValue {
  return Number.isInteger(code) && code >= 0 && (code < codeNames.length || (extensions && code === CHANNEL_CREDIT))
}

/**
 * execnet's name for a message code, e.g. 'CHANNEL_DATA'.
 * @category Wire format (low level)
 */
export function messageCodeName (code: number): string {
  if (code === CHANNEL_CREDIT) return 'CHANNEL_CREDIT'
  return codeNames[code] ?? `unknown message code ${code}`
}

/** Bytes in a CHANNEL_CREDIT payload: the granted count as a big-endian uint64. */
export const CREDIT_SIZE = 8

/** A CHANNEL_CREDIT payload granting `bytes` (a safe integer). */
export function encodeCredit (bytes: number): Buffer {
  const payload = Buffer.allocUnsafe(CREDIT_SIZE)
  payload.writeUInt32BE(Math.floor(bytes / 0x100000000), 0)
  payload.writeUInt32BE(bytes % 0x100000000, 4)
  return payload
}

/** The byte count a CHANNEL_CREDIT payload grants, or null when it is not CREDIT_SIZE bytes long. */
export function decodeCredit (payload: Buffer): number | null {
  if (payload.length !== CREDIT_SIZE) return null
  return payload.readUInt32BE(0) * 0x100000000 + payload.readUInt32BE(4)
}

/** Write a frame header at target[offset]. */
export function writeHeader (target: Buffer, offset: number, code: number, channelId: number, length: number): void {
  target.writeInt8(code, offset)
  target.writeInt32BE(channelId, offset + 1)
  target.writeInt32BE(length, offset + 5)
}
