/**
 * A gateway's lifecycle as one value, changed only by `next(state, event)`.
 *
 *   open ──exit()/worker's output ended──▶ closing ──gone, asked, exit 0──▶ closed
 *     │                                      │
 *     ├──pipe broke──▶ broken ──gone──────────┴──gone otherwise──▶ failed
 *     └──protocol error (any live phase)──▶ failed (exit filled in when gone)
 *
 * "gone" means both: the worker's process (or connection) has ended, and
 * every frame it sent has been routed. The Gateway performs the effects of
 * each change (sending, killing, failing channels); this file only decides.
 */
import { GatewayClosedError, type ExitInfo } from './errors.js'

export type GatewayState =
  /** Frames flow both ways. */
  | { readonly phase: 'open' }
  /**
   * Nothing more may be sent; waiting for the worker to be gone.
   * `requested`: this side asked it to exit (exit(), or the worker's own
   * GATEWAY_TERMINATE). `byWorker`: the worker ended its output (it exits,
   * or closed its stdout), so nothing more will arrive either.
   */
  | { readonly phase: 'closing', readonly requested: boolean, readonly byWorker: boolean }
  /**
   * A pipe to the worker failed (EPIPE, a reset connection): the worker most
   * likely died. Sends wait for it to be gone, so their error can say how it ended.
   */
  | { readonly phase: 'broken', readonly cause: Error }
  /** Ended abnormally; `exit` is null until the worker is gone. */
  | { readonly phase: 'failed', readonly error: GatewayClosedError, readonly exit: ExitInfo | null }
  /** Ended cleanly: the worker exited with 0 after the protocol closed. */
  | { readonly phase: 'closed', readonly exit: ExitInfo }

export type GatewayEvent =
  /** exit() was called. */
  | { readonly type: 'exit' }
  /** The worker's output ended between frames. */
  | { readonly type: 'eof' }
  /** A pipe failed. */
  | { readonly type: 'broken', readonly error: Error }
  /** The worker sent something malformed or unexpected. */
  | { readonly type: 'protocol', readonly error: Error }
  /** The worker is gone: it ended, and all it sent was routed. */
  | { readonly type: 'gone', readonly exit: ExitInfo }

/** The state after `event`; the same object when the event changes nothing. */
export function next (state: GatewayState, event: GatewayEvent, id: string): GatewayState {
  if (isFinal(state)) return state
  switch (event.type) {
    case 'exit':
      if (state.phase === 'open') return { phase: 'closing', requested: true, byWorker: false }
      if (state.phase === 'closing' && !state.requested) return { ...state, requested: true }
      return state
    case 'eof':
      if (state.phase === 'open') return { phase: 'closing', requested: false, byWorker: true }
      if (state.phase === 'closing' && !state.byWorker) return { ...state, byWorker: true }
      return state
    case 'broken':
      return state.phase === 'open' || state.phase === 'closing' ? { phase: 'broken', cause: event.error } : state
    case 'protocol': {
      if (state.phase === 'failed') return state
      const error = new GatewayClosedError(`protocol error from the worker of gateway ${id}: ${event.error.message}`)
      error.cause = event.error
      return { phase: 'failed', error, exit: null }
    }
    case 'gone': {
      const exit = event.exit
      if (state.phase === 'failed') {
        // the error was decided before the worker was gone: say how it ended too
        const error = new GatewayClosedError(`${state.error.message} (the worker ${describeExit(exit)})`, exit)
        error.cause = state.error.cause
        return { phase: 'failed', error, exit }
      }
      if (state.phase === 'closing' && state.requested && exit.exitCode === 0) return { phase: 'closed', exit }
      // a worker that ends unasked failed, even with 0: its channels lose what it never sent
      const unasked = state.phase === 'closing' && !state.requested && exit.exitCode === 0 ? ' before it was asked to exit' : ''
      const error = new GatewayClosedError(`the worker of gateway ${id} ${describeExit(exit)}${unasked}`, exit)
      if (state.phase === 'broken') error.cause = state.cause
      return { phase: 'failed', error, exit }
    }
  }
}

/** Whether nothing can change any more: the worker is gone. */
export function isFinal (state: GatewayState): boolean {
  return state.phase === 'closed' || (state.phase === 'failed' && state.exit !== null)
}

/** How a worker ended, for messages: 'was killed by SIGKILL', 'exited with code 1'. */
export function describeExit (info: ExitInfo): string {
  const detail = info.detail === undefined ? '' : ` (${info.detail})`
  if (info.signal !== null) return `was killed by ${info.signal}${detail}`
  if (info.exitCode !== null) return `exited with code ${info.exitCode}${detail}`
  return `ended${detail}`
}
