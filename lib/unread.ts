/**
 * Remote errors nobody read. A channel that closes with a RemoteError
 * hands it to whoever consumes the channel; one that no consumer was ever
 * handed is reported once, as execnet reports an unhandled RemoteError
 * when its channel is deleted: when the channel object is garbage
 * collected, or when Node is about to exit ('beforeExit') with it still
 * unread, whichever comes first. Reported earlier, a channel read a
 * moment later (the common `await a.receive(); await b.receive()`) would
 * be reported and read both.
 *
 * The report is the gateway's 'remoteError' event (error, channel id) when
 * the gateway has a listener for it, else a process warning of type
 * ExecnetWarning with the traceback as its detail.
 */
import type { EventEmitter } from 'node:events'
import { RemoteError } from './errors.js'

/** What a report needs of the gateway the error came from. */
interface Reporter extends EventEmitter {
  readonly id: string
}

interface Unread {
  gateway: Reporter
  channelId: number
}

/** execnet's text for an execution ended by KeyboardInterrupt: ended on purpose, so execnet never warns of it. */
const INTERRUPT_TEXT = 'keyboard-interrupted'

const unread = new Map<RemoteError, Unread>()
// holds the error, not the channel: the channel must stay collectable
const dropped = new FinalizationRegistry<RemoteError>((error) => { report(error) })

function flushAll (): void {
  for (const error of [...unread.keys()]) report(error)
}

/** A channel closed with `error`: report it unless a consumer is handed it (errorSeen) before the channel is dropped or Node exits. */
export function watchUnread (channel: object, gateway: Reporter, channelId: number, error: RemoteError): void {
  if (error.formatted === INTERRUPT_TEXT || unread.has(error)) return
  if (unread.size === 0) process.on('beforeExit', flushAll)
  unread.set(error, { gateway, channelId })
  dropped.register(channel, error, error)
}

/** A consumer was handed this error (a rejected receive(), waitClose() or send(), an 'error' event it listened to). */
export function errorSeen (error: unknown): void {
  if (!(error instanceof RemoteError) || !unread.delete(error)) return
  dropped.unregister(error)
  if (unread.size === 0) process.off('beforeExit', flushAll)
}

/** Report an error no channel can be handed any more (it came for a channel that is gone), as execnet warns of it. */
export function reportUnread (gateway: Reporter, channelId: number, error: RemoteError): void {
  if (error.formatted === INTERRUPT_TEXT) return
  emitReport(gateway, channelId, error)
}

function report (error: RemoteError): void {
  const entry = unread.get(error)
  if (entry === undefined) return
  errorSeen(error)
  emitReport(entry.gateway, entry.channelId, error)
}

function emitReport (gateway: Reporter, channelId: number, error: RemoteError): void {
  if (gateway.listenerCount('remoteError') > 0) {
    gateway.emit('remoteError', error, channelId)
    return
  }
  const text = error.formatted.trimEnd()
  const last = text.slice(text.lastIndexOf('\n') + 1)
  process.emitWarning(`gateway ${gateway.id}, channel ${channelId}: a remote error nobody read: ${last}`, {
    type: 'ExecnetWarning',
    code: 'EXECNET_UNREAD_REMOTE_ERROR',
    detail: text
  })
}
