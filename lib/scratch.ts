/**
 * Copying bytes out of buffers that are reused, and cutting a chunk out of
 * a scratch buffer that writers append to (the Encoder's and FrameBatch's).
 * A mostly empty scratch keeps serving and its few bytes are copied out:
 * replacing it would cost a fresh buffer of its whole size (page faults
 * included) per chunk. A mostly full one is handed out as it is, and a
 * fresh one of the same size takes its place.
 */
export function cutScratch (scratch: Buffer, pos: number): { chunk: Buffer, scratch: Buffer } {
  if (pos < scratch.length >>> 1) return { chunk: copyOut(scratch, 0, pos), scratch }
  return { chunk: scratch.subarray(0, pos), scratch: Buffer.allocUnsafe(scratch.length) }
}

/** Up to this many bytes, a loop copies faster than Buffer#copy's native call. */
const LOOP_COPY_MAX = 64

/**
 * buf[start, end) in memory of its own. A small message's dump is a few
 * bytes: Buffer.from(subarray) or Buffer#copy cost 230-330 ns each for
 * those, a loop into a pool slice 65-100 ns (node 20, 6 and 16 bytes).
 */
export function copyOut (buf: Buffer, start: number, end: number): Buffer {
  const n = end - start
  const out = Buffer.allocUnsafe(n)
  if (n <= LOOP_COPY_MAX) {
    for (let i = 0; i < n; i++) out[i] = buf[start + i] as number
  } else {
    buf.copy(out, 0, start, end)
  }
  return out
}
