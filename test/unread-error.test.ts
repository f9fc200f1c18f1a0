// A remote exception that no consumer of its channel was handed is
// reported once: the gateway's 'remoteError' event, or a process warning
// (ExecnetWarning) when nobody listens; when its channel is collected, or
// when Node is about to exit. A consumer that got it (receive, waitClose,
// for await, pipeline, an 'error' listener) means no report.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { Gateway, RemoteError, type Channel } from '../index.js'
import { repoRoot } from './helpers/interpreters.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const gw = await Gateway.start('popen', { stderr: 'pipe' })
t.teardown(async () => { await gw.terminate(5) })

const reports: Array<[RemoteError, number]> = []
const onReport = (error: RemoteError, channelId: number): void => { reports.push([error, channelId]) }
const warnings: Error[] = []
process.on('warning', (w) => { if (w.name === 'ExecnetWarning') warnings.push(w) })

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Start `source`, let `use` do what it does with the channel, and wait until the gateway no longer routes to it; the channel is not kept. */
async function run (source: string, use: (ch: Channel) => Promise<void> = async () => {}): Promise<number> {
  const ch = gw.remoteExec(source)
  const id = ch.id
  await use(ch)
  for (let i = 0; i < 200 && gw.channelCount > 0; i++) await sleep(10)
  return id
}

/** Collect garbage until `done`, `rounds` times at most. */
async function collect (done: () => boolean, rounds = 50): Promise<void> {
  for (let i = 0; i < rounds && !done(); i++) {
    gc()
    await sleep(20)
  }
}

t.test("a channel nobody touches: 'remoteError' once, when it is collected", async (t) => {
  gw.on('remoteError', onReport)
  t.teardown(() => { gw.off('remoteError', onReport); reports.length = 0 })
  const id = await run('raise ValueError("nobody reads me")')
  t.equal(reports.length, 0, 'not while the channel may still be read')
  await collect(() => reports.length > 0)
  t.equal(reports.length, 1, 'reported once the channel is collected')
  const [error, channelId] = reports[0] ?? []
  t.ok(error instanceof RemoteError)
  t.equal(error?.type, 'ValueError')
  t.match(error?.formatted, /ValueError: nobody reads me/)
  t.equal(channelId, id, 'with its channel id')
  await collect(() => false, 5)
  t.equal(reports.length, 1, 'once per channel')
  t.equal(warnings.length, 0, 'no warning while the gateway has a listener')
})

t.test('consumers that were handed the error: no report', async (t) => {
  gw.on('remoteError', onReport)
  t.teardown(() => { gw.off('remoteError', onReport); reports.length = 0 })
  const uses: Record<string, (ch: Channel) => Promise<void>> = {
    'a receive() waiting': async (ch) => { t.equal(await ch.receive(), 1); await t.rejects(ch.receive(), RemoteError) },
    'a receive() after the close': async (ch) => { await sleep(300); t.equal(await ch.receive(), 1); await t.rejects(ch.receive(), RemoteError) },
    'waitClose()': async (ch) => { await t.rejects(ch.waitClose(), RemoteError) },
    'a send() after the close': async (ch) => { await sleep(300); await t.rejects(ch.send(1), RemoteError) },
    'for await': async (ch) => { await t.rejects((async () => { for await (const x of ch) t.equal(x, 1) })(), RemoteError) },
    pipeline: async (ch) => { await t.rejects(pipeline(ch, new Writable({ objectMode: true, write (_x, _e, cb) { cb() } })), RemoteError) },
    "an 'error' listener beside 'data'": async (ch) => { await new Promise<void>((resolve) => { ch.on('error', () => { resolve() }); ch.on('data', () => {}) }) }
  }
  for (const [name, use] of Object.entries(uses)) await run('channel.send(1)\nraise ValueError("read")', use).then(() => t.pass(name))
  await collect(() => reports.length > 0, 5)
  t.same(reports.map(([e]) => e.formatted), [], 'none reported')
})

t.test("consumers that never get errors ('data', setCallback): reported", async (t) => {
  gw.on('remoteError', onReport)
  t.teardown(() => { gw.off('remoteError', onReport); reports.length = 0 })
  await run('channel.send(1)\nraise KeyError("data only")', async (ch) => { ch.on('data', () => {}) })
  await run('channel.send(1)\nraise KeyError("callback")', async (ch) => { ch.setCallback(() => {}, { endMarker: null }) })
  await collect(() => reports.length >= 2)
  t.same(reports.map(([e]) => e.type).sort(), ['KeyError', 'KeyError'])
})

t.test('an execution ended by KeyboardInterrupt is not reported, as in execnet', async (t) => {
  gw.on('remoteError', onReport)
  t.teardown(() => { gw.off('remoteError', onReport); reports.length = 0 })
  await run('raise KeyboardInterrupt')
  await collect(() => reports.length > 0, 5)
  t.equal(reports.length, 0)
})

t.test('without a listener: one ExecnetWarning with the last line, the traceback as detail', async (t) => {
  t.teardown(() => { warnings.length = 0 })
  const id = await run('raise ValueError("warn me")')
  const mine = (): Error[] => warnings.filter((w) => w.message.includes(`channel ${id}:`))
  await collect(() => mine().length > 0)
  await collect(() => false, 5)
  t.equal(mine().length, 1, 'once')
  const w = mine()[0] as Error & { code?: string, detail?: string }
  t.equal(w.code, 'EXECNET_UNREAD_REMOTE_ERROR')
  t.equal(w.message, `gateway ${gw.id}, channel ${id}: a remote error nobody read: ValueError: warn me`)
  t.match(w.detail, /^Traceback \(most recent call last\):\n[\s\S]*ValueError: warn me$/)
})

// a channel still held when the program ends is reported as Node exits;
// one that was read, never
const script = (read: boolean): string => `
import { Gateway } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'dist', 'index.js')).href)}
const gw = await Gateway.start('popen')
globalThis.held = gw.remoteExec('raise ValueError("at exit")')
${read ? 'await globalThis.held.waitClose().catch(() => {})' : 'while (gw.channelCount > 0) await new Promise((resolve) => setTimeout(resolve, 10))'}
await gw.terminate(5)
`
t.test("at Node's exit: reported for a channel still held and unread", async (t) => {
  const unread = spawnSync(process.execPath, ['--input-type=module', '-e', script(false)], { encoding: 'utf8', timeout: 60000 })
  t.equal(unread.status, 0, unread.stderr)
  t.equal(unread.stderr.match(/ExecnetWarning/g)?.length, 1, unread.stderr)
  t.match(unread.stderr, /ExecnetWarning: gateway gw, channel 1: a remote error nobody read: ValueError: at exit\nTraceback/)
  const read = spawnSync(process.execPath, ['--input-type=module', '-e', script(true)], { encoding: 'utf8', timeout: 60000 })
  t.equal(read.status, 0, read.stderr)
  t.notMatch(read.stderr, /ExecnetWarning/, 'read: not reported')
})
