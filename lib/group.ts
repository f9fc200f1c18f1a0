/**
 * Group and MultiChannel, as in execnet's multi.py: gateways named gw0,
 * gw1... made and terminated together, and channels to several of them
 * used as one.
 */
import { Gateway, type GatewayOptions, type RemoteExecOptions, type RemoteSource } from './gateway.js'
import type { Channel, ReceiveOptions } from './channel.js'
import { expandSpecs, parseSpec, withId, type Spec } from './spec.js'
import { OptionError, TimeoutError, type ExitInfo } from './errors.js'
import { settleAll } from './settle.js'
import { Fifo } from './fifo.js'

/**
 * A set of gateways, as execnet's Group: ids (gw0, gw1... or the spec's
 * id=), lookup, remoteExec on all, terminate all. A `via=ID` spec goes
 * through the group's gateway ID.
 *
 * @example
 * ```ts
 * import { Group } from 'execnet'
 *
 * const group = new Group()
 * await group.makeGateways(['popen', 'popen//python=python3'])  // all at once
 * const mc = group.remoteExec('import os; channel.send(os.getpid())')
 * for await (const [channel, pid] of mc.items()) console.log(channel.gateway.id, pid)  // as they arrive
 * await group.terminate()
 * ```
 * @category Groups
 */
export class Group implements Iterable<Gateway> {
  /** The spec used when makeGateway gets none. */
  defaultSpec = 'popen'
  private readonly gateways: Gateway[] = []
  /** Gateways that left the group (exit() or their worker ended) but whose worker is not gone yet: terminate() still waits for them. */
  private readonly leaving = new Set<Gateway>()
  private readonly starting = new Set<string>()
  private autoId = 0

  constructor (private readonly options: GatewayOptions = {}) {}

  /** Start a gateway and add it to the group; its id is the spec's id= or the next free gwN. */
  async makeGateway (spec?: string, options: GatewayOptions = {}): Promise<Gateway> {
    const text = spec === undefined || spec === '' ? this.defaultSpec : spec
    const parsed = parseSpec(text)
    let id = parsed.id
    if (id === undefined) {
      do id = `gw${this.autoId++}`
      while (this.has(id) || this.starting.has(id))
    } else if (this.has(id) || this.starting.has(id)) {
      throw new OptionError(`the group already has a gateway with id ${JSON.stringify(id)}`)
    }
    this.starting.add(id)
    try {
      const via = parsed.via === undefined ? undefined : this.get(parsed.via)
      const installVia = parsed.installvia === undefined ? undefined : this.get(parsed.installvia)
      const gateway = await Gateway.start(withId(parsed, id).text, { ...this.options, ...options, ...(via === undefined ? {} : { via }), ...(installVia === undefined ? {} : { installVia }) }, id)
      this.gateways.push(gateway)
      // as in execnet, a gateway leaves its group as soon as it is closing:
      // remoteExec on the group skips it and its id is free again
      const leave = (): void => {
        if (gateway.phase === 'open') return
        gateway.off('phase', leave)
        this.remove(gateway)
        if (gateway.gone) return
        this.leaving.add(gateway)
        gateway.once('exit', () => { this.leaving.delete(gateway) })
      }
      gateway.on('phase', leave)
      leave()
      return gateway
    } finally {
      this.starting.delete(id)
    }
  }

  /**
   * Start gateways to all the specs at once (a fleet of hosts comes up in
   * about the time of the slowest, not the sum). All or nothing: if one
   * fails, those that started are terminated and the first error is thrown.
   * For a fleet that may come up in part, use Promise.allSettled over
   * makeGateway. A `via=ID` spec whose gateway `ID` is in the same list
   * (as `id=ID`) starts once that one is up. `N*SPEC` (as in execnet's
   * and pytest-xdist's `--tx 4*popen`) is N gateways of that spec.
   */
  async makeGateways (specs: readonly string[], options: GatewayOptions = {}): Promise<Gateway[]> {
    // every spec is checked before any gateway starts
    const parsed = expandSpecs(specs).map((spec) => parseSpec(spec === '' ? this.defaultSpec : spec))
    const indexOf = new Map(parsed.flatMap((spec, i): Array<[string, number]> => spec.id === undefined ? [] : [[spec.id, i]]))
    // the index of the gateway each spec goes through, when it is in this list
    const firstOf = parsed.map((spec) => { const through = spec.via ?? spec.installvia; return through === undefined ? undefined : indexOf.get(through) })
    const order: number[] = []
    const placed = new Set<number>()
    const place = (i: number, path: number[]): void => {
      if (placed.has(i)) return
      if (path.includes(i)) throw new OptionError(`via= goes round in a circle: ${[...path, i].map((j) => parsed[j]?.text).join(' -> ')}`)
      const first = firstOf[i]
      if (first !== undefined) place(first, [...path, i])
      placed.add(i)
      order.push(i)
    }
    parsed.forEach((_, i) => { place(i, []) })
    const starting: Array<Promise<Gateway>> = []
    for (const i of order) {
      const spec = parsed[i] as Spec
      const first = firstOf[i]
      starting[i] = first === undefined
        ? this.makeGateway(spec.text, options)
        : (starting[first] as Promise<Gateway>).then(async () => await this.makeGateway(spec.text, options))
    }
    const results = await Promise.allSettled(starting)
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    const started = results.flatMap((r) => r.status === 'fulfilled' ? [r.value] : [])
    if (failed === undefined) return started
    await Promise.all(started.map(async (g) => await g.terminate(5)))
    throw failed.reason
  }

  /** A gateway by id or position. */
  get (key: string | number): Gateway {
    const gateway = typeof key === 'number' ? this.gateways[key] : this.gateways.find((g) => g.id === key)
    if (gateway === undefined) throw new OptionError(`no gateway ${JSON.stringify(key)} in the group`)
    return gateway
  }

  /** Whether a gateway with this id is in the group. */
  has (id: string): boolean {
    return this.gateways.some((g) => g.id === id)
  }

  /** How many gateways the group holds. */
  get size (): number {
    return this.gateways.length
  }

  /** The gateways, in the order they were made. */
  [Symbol.iterator] (): Iterator<Gateway> {
    return [...this.gateways][Symbol.iterator]()
  }

  /** Run the source on every gateway of the group. */
  remoteExec (source: RemoteSource, kwargs?: Record<string, unknown>, options?: RemoteExecOptions): MultiChannel {
    return new MultiChannel(this.gateways.map((g) => g.remoteExec(source, kwargs, options)))
  }

  /** Exit every gateway and wait for their workers; those still running after `timeout` seconds are killed. */
  async terminate (timeout = 10): Promise<ExitInfo[]> {
    const all = [...this.gateways]
    const results = new Map<Gateway, ExitInfo>()
    // a gateway others go through (via=, installvia=) ends after them: its
    // end would cut theirs short, and their channels would fail, not close
    let left = [...all, ...this.leaving]
    while (left.length > 0) {
      const hosts = new Set(left.flatMap((g) => [g.spec.via, g.spec.installvia]).filter((id) => id !== undefined))
      let layer = left.filter((g) => !hosts.has(g.id))
      if (layer.length === 0) layer = left // a cycle cannot be made, but never loop on one
      await Promise.all(layer.map(async (g) => { results.set(g, await g.terminate(timeout)) }))
      left = left.filter((g) => !layer.includes(g))
    }
    for (const g of all) this.remove(g)
    return all.map((g) => results.get(g) as ExitInfo)
  }

  toString (): string {
    return `<Group ${JSON.stringify(this.gateways.map((g) => g.id))}>`
  }

  private remove (gateway: Gateway): void {
    const i = this.gateways.indexOf(gateway)
    if (i !== -1) this.gateways.splice(i, 1)
  }
}

/**
 * A (channel, item) pair from MultiChannel's receive queue.
 * @category Groups
 */
export type ChannelItem = [Channel, unknown]

/**
 * Channels to several gateways, as execnet's MultiChannel.
 * @category Groups
 */
export class MultiChannel implements Iterable<Channel> {
  readonly channels: readonly Channel[]
  private queue: ReceiveQueue | null = null

  constructor (channels: readonly Channel[]) {
    this.channels = channels
  }

  /** How many channels. */
  get length (): number {
    return this.channels.length
  }

  /** The channels, in gateway order. */
  [Symbol.iterator] (): Iterator<Channel> {
    return this.channels[Symbol.iterator]()
  }

  /** Send the same value on every channel. */
  async sendEach (value: unknown): Promise<void> {
    await Promise.all(this.channels.map(async (c) => { await c.send(value) }))
  }

  /** One item from each channel, in channel order. */
  async receiveEach (options?: ReceiveOptions): Promise<unknown[]> {
    return await Promise.all(this.channels.map(async (c) => await c.receive(options)))
  }

  /** One item from each channel with its channel. */
  async receiveEachWithChannel (options?: ReceiveOptions): Promise<ChannelItem[]> {
    return await Promise.all(this.channels.map(async (c): Promise<ChannelItem> => [c, await c.receive(options)]))
  }

  /**
   * All items of all channels as they arrive, as [channel, item] pairs;
   * with endMarker, each channel's close adds [channel, endMarker].
   */
  makeReceiveQueue (options: { endMarker?: unknown } = {}): ReceiveQueue {
    if (this.queue !== null) return this.queue
    const queue = new ReceiveQueue()
    for (const channel of this.channels) {
      const put = (item: unknown): void => { queue.put([channel, item]) }
      channel.setCallback(put, 'endMarker' in options ? { endMarker: options.endMarker } : {})
    }
    this.queue = queue
    return queue
  }

  /**
   * Every item of every channel as it arrives, as [channel, item] pairs,
   * until all channels have ended: results come back in the order the
   * hosts finish, not the order of the channels. One item per channel is
   * taken ahead of the loop, so a slow loop still holds the senders back
   * (flow control). A channel closed by a remote error throws its
   * RemoteError from the loop; leaving the loop early leaves the channels
   * open, less the item each may have had taken ahead.
   */
  async * items (): AsyncGenerator<ChannelItem, void, undefined> {
    const iterators = this.channels.map((c) => c[Symbol.asyncIterator]())
    const pending = new Map<number, Promise<[number, IteratorResult<unknown>]>>()
    const arm = (i: number): void => {
      const next = (iterators[i] as AsyncIterator<unknown>).next().then((r): [number, IteratorResult<unknown>] => [i, r])
      next.catch(() => {}) // raced below; a late rejection is not unhandled
      pending.set(i, next)
    }
    iterators.forEach((_, i) => { arm(i) })
    while (pending.size > 0) {
      const [i, result] = await Promise.race(pending.values())
      if (result.done === true) {
        pending.delete(i)
        continue
      }
      arm(i)
      yield [this.channels[i] as Channel, result.value]
    }
  }

  /** Wait until every channel is closed; rejects with the first RemoteError after all have closed. */
  async waitClose (timeout?: number): Promise<void> {
    await settleAll(this.channels.map(async (c) => { await c.waitClose(timeout) }))
  }
}

/**
 * An unbounded queue of [channel, item], readable by get() or for await.
 * @category Groups
 */
export class ReceiveQueue implements AsyncIterable<ChannelItem> {
  private readonly items = new Fifo<ChannelItem>()
  private readonly waiters: Array<(item: ChannelItem) => void> = []

  /** Add an item (done by the channels' callbacks). */
  put (item: ChannelItem): void {
    const waiter = this.waiters.shift()
    if (waiter !== undefined) waiter(item)
    else this.items.push(item)
  }

  /** Items waiting to be taken. */
  get size (): number {
    return this.items.length
  }

  /** The next item; rejects with TimeoutError after `timeout` seconds. */
  async get (timeout?: number): Promise<ChannelItem> {
    const item = this.items.shift()
    if (item !== undefined) return item
    return await new Promise<ChannelItem>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const waiter = (value: ChannelItem): void => { clearTimeout(timer); resolve(value) }
      this.waiters.push(waiter)
      if (timeout !== undefined) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(waiter)
          if (i !== -1) this.waiters.splice(i, 1)
          reject(new TimeoutError(`no item after ${timeout} seconds`))
        }, timeout * 1000)
      }
    })
  }

  /** Every item as it arrives (end the loop yourself, e.g. at an end marker). */
  async * [Symbol.asyncIterator] (): AsyncIterator<ChannelItem> {
    for (;;) yield await this.get()
  }
}

/**
 * The group behind the module-level makeGateway.
 * @category Groups
 */
export const defaultGroup = new Group()

/**
 * Start a gateway in the default group: `makeGateway()` is a popen gateway
 * to python3; `makeGateway('popen//python=python2.7')` another interpreter.
 * Rejects with SpecError for a bad spec, BootstrapError when the worker
 * does not start within `startTimeout` seconds.
 *
 * @example
 * ```ts
 * import { makeGateway } from 'execnet'
 *
 * const gw = await makeGateway('popen//python=python3')
 * const ch = gw.remoteExec('import sys; channel.send(sys.version_info[:2])')
 * console.log(await ch.receive())  // Tuple(2) [ 3, 12 ]
 * await gw.terminate()
 * ```
 * @category Gateways
 */
export async function makeGateway (spec?: string, options?: GatewayOptions): Promise<Gateway> {
  return await defaultGroup.makeGateway(spec, options)
}
