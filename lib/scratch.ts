/**
 * Cutting a chunk out of a scratch buffer that writers append to: the
 * Encoder's and FrameBatch's. A mostly empty scratch keeps serving and its
 * few bytes are copied out: replacing it would cost a fresh buffer of its
 * whole size (page faults included) per chunk. A mostly full one is handed
 * out as it is, and a fresh one of the same size takes its place.
 */
export function cutScratch (scratch: Buffer, pos: number): { chunk: Buffer, scratch: Buffer } {
  if (pos < scratch.length >>> 1) {
    const chunk = Buffer.allocUnsafe(pos)
    scratch.copy(chunk, 0, 0, pos)
    return { chunk, scratch }
  }
  return { chunk: scratch.subarray(0, pos), scratch: Buffer.allocUnsafe(scratch.length) }
}
