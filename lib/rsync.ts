/**
 * RSync, as execnet's: send a directory tree to one or many gateways, only
 * what changed (size and mtime first, then a SHA-256 of the content when
 * only the mtime differs), with files, directories, symlinks and modes. The
 * receiving side is lib/python/rsync.py, run by remoteExec; the protocol is
 * described there. Files are streamed in 1 MiB chunks (flow-controlled with
 * our worker), never held whole in memory, and written under a temporary
 * name then renamed into place.
 */
import { createReadStream, type BigIntStats } from 'node:fs'
import { lstat, readdir, readlink, stat } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import type { Gateway } from './gateway.js'
import type { Channel } from './channel.js'
import { OptionError } from './errors.js'
import { pythonSource } from './bootstrap.js'
import { settleAll } from './settle.js'

const CHUNK = 1 << 20
const BATCH = 1000

/** One entry of the listing: [path, kind, mode, size, mtime in µs, symlink target]. */
type Entry = [string, 'd' | 'f' | 'l' | 'L', number, number, number, string | null]

/**
 * What the callback hears.
 * @category File sync
 */
export type RSyncEvent =
  /** A target compared the listing with its tree: this many files will be sent or checked. */
  | { type: 'list', gateway: Gateway, files: number, bytes: number }
  /** A file is in place on a target: `sent` false when its content was already right (only its mtime or mode changed). */
  | { type: 'file', gateway: Gateway, path: string, bytes: number, sent: boolean }

/**
 * Options of new RSync().
 * @category File sync
 */
export interface RSyncOptions {
  /** Called once per target with 'list', then per file written or confirmed. */
  callback?: (event: RSyncEvent) => void
  /** Whether to send an entry (its path relative to the source, "/"-separated); a directory left out is left out whole. */
  filter?: (path: string, stats: BigIntStats) => boolean
  /**
   * Print `GATEWAY <= PATH` on stdout for each file whose content is sent,
   * as execnet's RSync(verbose=True) does (GATEWAY is String(gateway)).
   * Default false, where execnet's is True: a library writing on its
   * user's stdout unasked would mix into what the program prints.
   */
  verbose?: boolean
}

/**
 * Options of addTarget().
 * @category File sync
 */
export interface RSyncTargetOptions {
  /** Delete what the target has and the source does not (default false). */
  delete?: boolean
  /** Called when this target is done. */
  finished?: (result: RSyncResult) => void
}

/**
 * What one target got.
 * @category File sync
 */
export interface RSyncResult {
  gateway: Gateway
  /** The destination directory, as given. */
  dest: string
  /** Files whose content was sent. */
  sent: string[]
  /** Files whose content was already right (only mtime or mode were set). */
  kept: string[]
  /** Bytes of file content sent. */
  bytes: number
  /** Entries the target deleted (with `delete`). */
  deleted: number
}

interface Target {
  gateway: Gateway
  dest: string
  options: RSyncTargetOptions
}

/**
 * Sends a directory tree to the targets added, as execnet's RSync: to all
 * of them at once, and only what changed (size and mtime, then a SHA-256
 * when only the mtime differs). Files stream in 1 MiB chunks and are
 * renamed into place.
 *
 * @example
 * ```ts
 * import { Group, RSync } from 'execnet'
 *
 * const group = new Group()
 * const hosts = await group.makeGateways(['ssh=build1', 'ssh=build2'])
 * const rsync = new RSync('src', { verbose: true })  // prints GATEWAY <= PATH per file sent
 * for (const gw of hosts) rsync.addTarget(gw, '/tmp/project/src', { delete: true })
 * for (const r of await rsync.send()) console.log(r.gateway.id, r.sent.length, 'files sent')
 * await group.terminate()
 * ```
 * @category File sync
 */
export class RSync {
  private readonly source: string
  private targets: Target[] = []

  constructor (sourceDir: string, private readonly options: RSyncOptions = {}) {
    this.source = resolve(sourceDir)
  }

  /** Add a gateway and a directory there (created if missing; relative to the worker's working directory). */
  addTarget (gateway: Gateway, dest: string, options: RSyncTargetOptions = {}): void {
    if (typeof dest !== 'string' || dest === '') throw new OptionError('addTarget needs a destination directory')
    this.targets.push({ gateway, dest, options })
  }

  /**
   * Send the tree to every target at once; resolves when all are done, or
   * rejects with the first failure after all have ended. The targets are
   * used up, as in execnet: add them again to send again. With no targets,
   * an OptionError (or, with `raises: false`, nothing).
   */
  async send (options: { raises?: boolean } = {}): Promise<RSyncResult[]> {
    const targets = this.targets
    this.targets = []
    if (targets.length === 0) {
      if (options.raises === false) return []
      throw new OptionError('no targets: add them with addTarget() (each send() uses them up)')
    }
    const entries = await this.list()
    return await settleAll(targets.map(async (target) => await this.sendTo(target, entries)))
  }

  private async list (): Promise<Entry[]> {
    let root: BigIntStats
    try {
      root = await stat(this.source, { bigint: true })
    } catch (err) {
      throw new OptionError(`cannot read the source directory ${this.source}: ${(err as Error).message}`)
    }
    if (!root.isDirectory()) throw new OptionError(`the source ${this.source} is not a directory`)
    const entries: Entry[] = [['', 'd', Number(root.mode & 0o7777n), 0, 0, null]]
    await this.listDirectory(this.source, '', entries)
    return entries
  }

  private async listDirectory (dir: string, rel: string, entries: Entry[]): Promise<void> {
    const names = (await readdir(dir)).sort()
    const subdirs: Array<[string, string]> = []
    for (const name of names) {
      const path = join(dir, name)
      const relPath = rel === '' ? name : `${rel}/${name}`
      const st = await lstat(path, { bigint: true })
      if (this.options.filter !== undefined && !this.options.filter(relPath, st)) continue
      const mode = Number(st.mode & 0o7777n)
      if (st.isDirectory()) {
        entries.push([relPath, 'd', mode, 0, 0, null])
        subdirs.push([path, relPath])
      } else if (st.isFile()) {
        entries.push([relPath, 'f', mode, Number(st.size), Number(st.mtimeNs / 1000n), null])
      } else if (st.isSymbolicLink()) {
        entries.push(this.link(relPath, await readlink(path)))
      } else {
        throw new OptionError(`cannot sync ${path}: not a file, a directory or a symlink (leave it out with filter)`)
      }
    }
    for (const [path, relPath] of subdirs) await this.listDirectory(path, relPath, entries)
  }

  private link (relPath: string, target: string): Entry {
    if (isAbsolute(target)) {
      const inside = relative(this.source, target)
      if (!inside.startsWith('..') && !isAbsolute(inside)) {
        // into the tree: into the copy on the other side
        return [relPath, 'L', 0, 0, 0, inside.split(sep).join('/')]
      }
    }
    return [relPath, 'l', 0, 0, 0, target]
  }

  private async sendTo (target: Target, entries: Entry[]): Promise<RSyncResult> {
    const { gateway, dest } = target
    const channel = gateway.remoteExec(pythonSource('rsync.py'), { dest, delete: target.options.delete === true }, { call: 'serve', filename: 'execnet-rsync.py' })
    const result: RSyncResult = { gateway, dest, sent: [], kept: [], bytes: 0, deleted: 0 }
    const needs = new NeedQueue()
    const receiving = this.receive(channel, entries, needs, result)
    receiving.catch(() => {}) // awaited below; the senders stop when it fails
    try {
      for (let i = 0; i < entries.length; i += BATCH) await channel.send(['entries', entries.slice(i, i + BATCH)])
      await channel.send(['listed'])
      for (;;) {
        const need = await needs.next()
        if (need === null) break
        await this.sendFile(channel, need, entries, gateway)
      }
    } catch (err) {
      await receiving // its error, the remote one, says more
      throw err
    }
    await receiving
    target.options.finished?.(result)
    return result
  }

  private async receive (channel: Channel, entries: Entry[], needs: NeedQueue, result: RSyncResult): Promise<void> {
    const { gateway } = result
    try {
      for (;;) {
        const message = await channel.receive()
        if (!Array.isArray(message)) throw new OptionError(`rsync: unexpected message from ${gateway.id}: ${String(message)}`)
        const [tag, a, b] = message as [unknown, unknown, unknown]
        switch (String(tag)) {
          case 'need':
            needs.put({ index: Number(a), checksum: b === null || b === undefined ? null : String(b) })
            break
          case 'listed': {
            needs.total(Number(a))
            const files = needs.all.map((n) => entries[n.index] as Entry)
            this.options.callback?.({ type: 'list', gateway, files: files.length, bytes: files.reduce((sum, e) => sum + e[3], 0) })
            break
          }
          case 'wrote':
          case 'kept': {
            const path = (entries[Number(a)] as Entry)[0]
            const sent = String(tag) === 'wrote'
            const bytes = sent ? Number(b) : 0
            ;(sent ? result.sent : result.kept).push(path)
            result.bytes += bytes
            this.options.callback?.({ type: 'file', gateway, path, bytes, sent })
            break
          }
          case 'done':
            result.deleted = Number(a)
            await channel.waitClose()
            return
          default:
            throw new OptionError(`rsync: unexpected message from ${gateway.id}: ${String(tag)}`)
        }
      }
    } catch (err) {
      needs.fail(err as Error)
      throw err
    }
  }

  private async sendFile (channel: Channel, need: Need, entries: Entry[], gateway: Gateway): Promise<void> {
    const relPath = (entries[need.index] as Entry)[0]
    const path = join(this.source, ...relPath.split('/'))
    // reported when the content goes, as execnet's _report_send_file: not
    // for a file whose checksum matched, nor one that could not be read
    const begin = async (): Promise<void> => {
      if (this.options.verbose === true) process.stdout.write(`${String(gateway)} <= ${relPath}\n`)
      await channel.send(['data', need.index])
    }
    if (need.checksum !== null) {
      const ours = await sha256(path).catch(() => null)
      if (ours === need.checksum) {
        await channel.send(['same', need.index])
        return
      }
    }
    let started = false
    try {
      for await (const chunk of createReadStream(path, { highWaterMark: CHUNK })) {
        if (!started) {
          await begin()
          started = true
        }
        await channel.send(chunk as Buffer)
      }
    } catch (err) {
      // vanished or unreadable since it was listed: the target keeps what it had
      if ((err as NodeJS.ErrnoException).code === undefined) throw err
      await channel.send(['gone', need.index])
      return
    }
    if (!started) await begin()
    await channel.send(['end', need.index])
  }
}

interface Need { index: number, checksum: string | null }

/** The target's needs as they come, until it says how many there are. */
class NeedQueue {
  readonly all: Need[] = []
  private taken = 0
  private count: number | null = null
  private error: Error | null = null
  private wake: (() => void) | null = null

  put (need: Need): void {
    this.all.push(need)
    this.notify()
  }

  total (count: number): void {
    this.count = count
    this.notify()
  }

  fail (error: Error): void {
    this.error = error
    this.notify()
  }

  async next (): Promise<Need | null> {
    for (;;) {
      if (this.error !== null) throw this.error
      const need = this.all[this.taken]
      if (need !== undefined) {
        this.taken++
        return need
      }
      if (this.count !== null && this.taken >= this.count) return null
      await new Promise<void>((resolve) => { this.wake = resolve })
    }
  }

  private notify (): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }
}

async function sha256 (path: string): Promise<string> {
  // node:crypto when a file is hashed, not at the package's import: it cost
  // every cold start 3-4 ms
  const hash = process.getBuiltinModule('node:crypto').createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
