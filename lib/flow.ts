/**
 * Flow control, master side: one channel's windows as plain numbers, and
 * the one rule for granting credit back. Only between our own master and
 * worker (execnet's workers have none: then every send goes at once).
 *
 * Each direction of a channel has a window of bytes (GatewayOptions.window).
 * The sender may have at most that much payload ahead of the receiver's
 * consumer; the receiver grants back what its consumer took (CHANNEL_CREDIT,
 * lib/wire/frame.ts), in steps of grantStep(window) so a stream of small
 * items costs few credit frames. When the receiver's own sending waits for
 * credit it grants everything it has received instead: two sides that both
 * send before they read then buffer rather than deadlock.
 */

/**
 * The fewest consumed bytes a receiver grants back at once (unless its own
 * sending waits): half the window, rounded up. Our worker keeps the same
 * rule (grant_step in lib/python/worker.py; test/contract.test.ts).
 */
export function grantStep (window: number): number {
  return Math.max(1, Math.ceil(window / 2))
}

/** One channel's two windows: what it may still send, and what it owes the remote side. */
export class FlowWindow {
  /** Payload bytes this side may still send before it waits for a grant (Infinity: no flow control). */
  private credit: number
  /** Payload bytes sent, received, and taken by this side's consumers. */
  sent = 0
  received = 0
  private consumed = 0
  /** What has been granted to the remote side so far, in consumed (or received) bytes. */
  private granted = 0

  constructor (private readonly window: number | null) {
    this.credit = window ?? Infinity
  }

  /** Whether a data frame may go now. */
  get open (): boolean {
    return this.credit > 0
  }

  /** A data frame of `size` payload bytes went out. */
  spend (size: number): void {
    this.credit -= size
    this.sent += size
  }

  /** The remote side granted `bytes` more. */
  grant (bytes: number): void {
    this.credit += bytes
  }

  /**
   * Count bytes received and consumed; returns what to grant the remote side
   * now (0: nothing yet). `blocked`: this side's own sending waits for
   * credit. `closed`: nothing more comes in, so nothing is owed.
   */
  account (received: number, consumed: number, blocked: boolean, closed: boolean): number {
    this.received += received
    this.consumed += consumed
    if (this.window === null || closed) return 0
    const target = blocked ? this.received : this.consumed
    const due = target - this.granted
    if (due <= 0 || (due < grantStep(this.window) && !blocked)) return 0
    this.granted = target
    return due
  }
}
