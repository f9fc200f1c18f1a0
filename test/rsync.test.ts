// RSync: a directory tree sent to popen and ssh gateways (our worker on
// CPython 3.12, 2.7, PyPy and Jython, execnet's own worker, and ssh on 3.12
// and 2.7), the trees compared byte for byte afterwards; then only what
// changed is sent, modes and types follow, delete removes what the source
// lacks, and bad input fails with a typed error.
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, closeSync, openSync, writeSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Gateway, OptionError, RemoteError, RSync, type RSyncEvent, type RSyncResult } from '../index.js'
import { startSshd } from './helpers/sshd.js'
import { MiB, peakRss, PYTHON_MEMORY, resetPeak } from './helpers/memory.js'
import { cpython, require } from './helpers/interpreters.js'
import { execnetTargets, oursTargets, specFor, type Target } from './helpers/targets.js'

const sshd = await startSshd()
t.teardown(async () => { await sshd?.stop() })

function scratch (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'execnet-rsync-'))
  t.teardown(() => {
    // read-only directories must become writable before they can be emptied
    for (const d of walk(dir).filter((e) => e.kind === 'd')) chmodSync(join(dir, d.path), 0o755)
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

interface Seen { path: string, kind: 'd' | 'f' | 'l', text: string }

/** The tree as comparable lines: type, mode, content hash and mtime, or link target (links into `root` as root-relative). */
function walk (root: string, rel = ''): Seen[] {
  const out: Seen[] = []
  for (const name of readdirSync(join(root, rel)).sort()) {
    const path = rel === '' ? name : `${rel}/${name}`
    const full = join(root, path)
    const st = lstatSync(full, { bigint: true })
    const mode = (st.mode & 0o7777n).toString(8)
    if (st.isSymbolicLink()) {
      const target = readlinkSync(full)
      out.push({ path, kind: 'l', text: target.startsWith(root + '/') ? `-> <root>/${target.slice(root.length + 1)}` : `-> ${target}` })
    } else if (st.isDirectory()) {
      out.push({ path, kind: 'd', text: `dir ${mode}` })
      out.push(...walk(root, path))
    } else {
      const sha = createHash('sha256').update(readFileSync(full)).digest('hex')
      out.push({ path, kind: 'f', text: `file ${mode} ${sha} ${st.mtimeNs / 1000n}` })
    }
  }
  return out
}

function sameTree (t: Test, dest: string, source: string, message: string): void {
  t.same(walk(dest), walk(source), message)
}

/** A tree with what a real project has: nested and empty directories, an empty and a multi-chunk file, modes, every kind of symlink. */
function makeTree (root: string, unicodeNames: boolean): void {
  mkdirSync(join(root, 'sub', 'deeper'), { recursive: true })
  mkdirSync(join(root, 'bin'))
  mkdirSync(join(root, 'emptydir'))
  mkdirSync(join(root, 'locked'))
  writeFileSync(join(root, 'a.txt'), 'hello\n')
  writeFileSync(join(root, 'empty'), '')
  writeFileSync(join(root, 'big.bin'), randomBytes((3 << 20) + 12345))
  writeFileSync(join(root, 'bin', 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 })
  writeFileSync(join(root, 'ro.txt'), 'read only\n')
  chmodSync(join(root, 'ro.txt'), 0o444)
  writeFileSync(join(root, 'sub', 'deeper', 'x.txt'), 'x'.repeat(1000))
  writeFileSync(join(root, 'locked', 'inside.txt'), 'in a read-only directory\n')
  chmodSync(join(root, 'locked'), 0o555)
  if (unicodeNames) writeFileSync(join(root, 'caf\u00e9 \u2615.txt'), 'unicode name\n')
  symlinkSync('a.txt', join(root, 'link-relative'))
  symlinkSync(join(root, 'sub'), join(root, 'link-absolute-inside'))
  symlinkSync('/etc/hostname', join(root, 'link-outside'))
  symlinkSync('nowhere', join(root, 'link-dangling'))
  // whole seconds in the past: any mtime change below is a real change
  for (const e of walk(root)) if (e.kind === 'f') utimesSync(join(root, e.path), 1700000000, 1700000000)
}

function fileCount (root: string): number {
  return walk(root).filter((e) => e.kind === 'f').length
}

async function sync (source: string, gw: Gateway, dest: string, options: { delete?: boolean } = {}): Promise<{ result: RSyncResult, events: RSyncEvent[] }> {
  const events: RSyncEvent[] = []
  const rsync = new RSync(source, { callback: (e) => events.push(e) })
  let finished: RSyncResult | null = null
  rsync.addTarget(gw, dest, { ...options, finished: (r) => { finished = r } })
  const [result] = await rsync.send() as [RSyncResult]
  if (finished !== result) throw new Error('the finished callback did not get the result')
  return { result, events }
}

interface RsyncTarget extends Target { label: string }

const targets: RsyncTarget[] = [
  ...oursTargets().filter((x) => ['ours on CPython 3.12', 'ours on CPython 2.7', 'ours on PyPy3', 'ours on Jython'].includes(x.label)),
  ...execnetTargets(),
  ...['3.12', '2.7'].map((m): RsyncTarget => ({ ...(oursTargets().find((x) => x.label === `ours on CPython ${m}`) as Target), label: `ours over ssh on CPython ${m}`, ssh: true }))
]

for (const target of targets) {
  t.test(`rsync to ${target.label}`, async (t) => {
    const interp = require(t, target.find(), target.what)
    if (interp === null) return
    if (target.ssh === true && require(t, sshd, 'sshd (Debian openssh-server)') === null) return
    const gw = await Gateway.start(specFor(interp, target.worker, '', target.ssh === true && sshd !== null ? sshd : undefined), { stderr: 'pipe' })
    t.teardown(() => gw.terminate(5))
    const base = scratch(t)
    const source = join(base, 'source')
    const dest = join(base, 'dest', 'nested')
    mkdirSync(source)
    // Python 2 under a C locale cannot name such files: not ours to fix
    makeTree(source, !/2\.7/.test(target.label) && !/Jython/.test(target.label))

    const first = await sync(source, gw, dest)
    sameTree(t, dest, source, 'the first send copies the whole tree')
    const files = fileCount(source)
    t.equal(first.result.sent.length, files, 'every file sent')
    t.equal(first.result.bytes, walk(source).filter((e) => e.kind === 'f').reduce((n, e) => n + lstatSync(join(source, e.path)).size, 0))
    t.match(first.events[0], { type: 'list', gateway: gw, files, bytes: first.result.bytes })
    t.equal(first.events.filter((e) => e.type === 'file' && e.sent).length, files, 'a callback per file')
    t.equal(readlinkSync(join(dest, 'link-absolute-inside')), join(dest, 'sub'), 'an absolute link into the tree points into the copy')

    const again = await sync(source, gw, dest)
    t.same([again.result.sent, again.result.kept], [[], []], 'nothing changed, nothing sent')
    t.same(again.events, [{ type: 'list', gateway: gw, files: 0, bytes: 0 }])

    writeFileSync(join(source, 'a.txt'), 'HELLO\n') // same size, new content and mtime
    utimesSync(join(source, 'ro.txt'), 1800000000, 1800000000) // only the mtime
    chmodSync(join(source, 'bin', 'run.sh'), 0o700) // only the mode
    writeFileSync(join(source, 'new.txt'), 'new')
    rmSync(join(source, 'sub', 'deeper', 'x.txt'))
    writeFileSync(join(dest, 'stray.txt'), 'only on the target')
    rmSync(join(source, 'emptydir'), { recursive: true })
    writeFileSync(join(source, 'emptydir'), 'a file where a directory was') // a type change
    rmSync(join(source, 'link-dangling'))
    symlinkSync('sub/deeper', join(source, 'link-dangling'))
    const changed = await sync(source, gw, dest)
    t.same(changed.result.sent.sort(), ['a.txt', 'emptydir', 'new.txt'], 'changed content sent')
    t.same(changed.result.kept, ['ro.txt'], 'an mtime-only change: the checksum matched, no content sent')
    t.equal(changed.result.deleted, 0)
    t.ok(lstatSync(join(dest, 'stray.txt')).isFile() && lstatSync(join(dest, 'sub', 'deeper', 'x.txt')).isFile(), 'without delete, extra files stay')
    rmSync(join(dest, 'stray.txt'))
    rmSync(join(dest, 'sub', 'deeper', 'x.txt'))
    sameTree(t, dest, source, 'modes, mtimes, types and links follow the source')

    writeFileSync(join(dest, 'stray.txt'), 'only on the target')
    mkdirSync(join(dest, 'stray-dir', 'inner'), { recursive: true })
    writeFileSync(join(dest, 'stray-dir', 'inner', 'f'), 'x')
    const deleted = await sync(source, gw, dest, { delete: true })
    t.equal(deleted.result.deleted, 2)
    sameTree(t, dest, source, 'with delete, the target is the source exactly')
  })
}

t.test('one RSync to several gateways at once', async (t) => {
  const found = [require(t, cpython('3.12'), 'CPython 3.12 (pyenv)'), require(t, cpython('2.7'), 'CPython 2.7 (pyenv)')]
  if (found.some((x) => x === null)) return
  const gws = await Promise.all(found.map(async (interp) => await Gateway.start(specFor(interp as NonNullable<typeof interp>))))
  t.teardown(() => Promise.all(gws.map(async (g) => await g.terminate(5))))
  const base = scratch(t)
  mkdirSync(join(base, 'source'))
  makeTree(join(base, 'source'), false)
  const events: RSyncEvent[] = []
  const rsync = new RSync(join(base, 'source'), { callback: (e) => events.push(e), filter: (path) => !path.startsWith('sub') })
  gws.forEach((g, i) => { rsync.addTarget(g, join(base, `dest${i}`)) })
  const results = await rsync.send()
  t.same(results.map((r) => r.gateway), gws)
  for (const [i, g] of gws.entries()) {
    t.same(walk(join(base, `dest${i}`)), walk(join(base, 'source')).filter((e) => !e.path.startsWith('sub')), `${g.id}: all but the filtered out`)
    t.equal(events.filter((e) => e.gateway === g && e.type === 'file').length, fileCount(join(base, 'source')) - 1)
  }
  await t.rejects(rsync.send(), OptionError, 'the targets are used up, as in execnet')
  t.same(await rsync.send({ raises: false }), [])
})

t.test('several gateways on one host into the same directory at once', async (t) => {
  const found = [require(t, cpython('3.12'), 'CPython 3.12 (pyenv)'), require(t, cpython('2.7'), 'CPython 2.7 (pyenv)')]
  if (found.some((x) => x === null)) return
  const gws = await Promise.all([...found, ...found].map(async (interp) => await Gateway.start(specFor(interp as NonNullable<typeof interp>))))
  t.teardown(() => Promise.all(gws.map(async (g) => await g.terminate(5))))
  const base = scratch(t)
  mkdirSync(join(base, 'source'))
  makeTree(join(base, 'source'), false)
  for (let i = 0; i < 40; i++) writeFileSync(join(base, 'source', 'sub', `many-${i}`), `file ${i}\n`)
  for (let round = 0; round < 3; round++) {
    rmSync(join(base, 'dest'), { recursive: true, force: true })
    const rsync = new RSync(join(base, 'source'))
    for (const g of gws) rsync.addTarget(g, join(base, 'dest'))
    await rsync.send()
    sameTree(t, join(base, 'dest'), join(base, 'source'), `round ${round}: one tree, no temporary files left`)
    for (const e of walk(join(base, 'dest')).filter((e) => e.kind === 'd')) chmodSync(join(base, 'dest', e.path), 0o755)
  }
})

t.test('rsync errors are typed and do not hang', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const gw = await Gateway.start(specFor(interp))
  t.teardown(() => gw.terminate(5))
  const base = scratch(t)
  const missing = new RSync(join(base, 'no-such-dir'))
  missing.addTarget(gw, join(base, 'dest'))
  await t.rejects(missing.send(), OptionError)
  mkdirSync(join(base, 'source'))
  writeFileSync(join(base, 'source', 'f'), 'x')
  writeFileSync(join(base, 'a-file'), 'x')
  const blocked = new RSync(join(base, 'source'))
  blocked.addTarget(gw, join(base, 'a-file', 'dest'))
  const err = await blocked.send().catch((e: unknown) => e)
  t.type(err, RemoteError, 'a destination under a file fails remotely')
  t.match((err as RemoteError).message, /Not a directory|NotADirectoryError|errno 20/i)
  t.throws(() => { new RSync(base).addTarget(gw, '') }, OptionError)
  const ok = new RSync(join(base, 'source'))
  ok.addTarget(gw, join(base, 'dest'))
  await ok.send()
  t.equal(readFileSync(join(base, 'dest', 'f'), 'utf8'), 'x', 'the gateway still works after a failed rsync')

  // a file listed, then gone before its content is read: skipped, the rest goes
  writeFileSync(join(base, 'source', 'a-vanishing'), 'soon gone')
  writeFileSync(join(base, 'source', 'z'), 'stays')
  const racing = new RSync(join(base, 'source'), {
    filter: (path) => { if (path === 'z') rmSync(join(base, 'source', 'a-vanishing')); return true }
  })
  racing.addTarget(gw, join(base, 'dest2'))
  const [raced] = await racing.send()
  t.same(raced?.sent.sort(), ['f', 'z'], 'a file that vanished during the sync is skipped')
  t.same(readdirSync(join(base, 'dest2')).sort(), ['f', 'z'], 'no file and no temporary left for it')
})

t.test('a large file is streamed, not held in memory on either side', async (t) => {
  const interp = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (interp === null) return
  const gw = await Gateway.start(specFor(interp))
  t.teardown(() => gw.terminate(5))
  const base = scratch(t)
  mkdirSync(join(base, 'source'))
  const size = 256 * MiB
  const fd = openSync(join(base, 'source', 'large.bin'), 'w')
  const block = randomBytes(MiB)
  for (let i = 0; i < size / MiB; i++) { block[0] = i; writeSync(fd, block) }
  closeSync(fd)
  const probe = gw.remoteExec(`${PYTHON_MEMORY}\nreset_peak()\nchannel.send(hwm())\nchannel.receive()\nchannel.send(hwm())`)
  const workerStart = await probe.receive() as number
  resetPeak()
  const masterStart = peakRss()
  const rsync = new RSync(join(base, 'source'))
  rsync.addTarget(gw, join(base, 'dest'))
  const [result] = await rsync.send()
  const masterGrowth = peakRss() - masterStart
  await probe.send('done')
  const workerGrowth = (await probe.receive() as number) - workerStart
  t.equal(result?.bytes, size)
  const digest = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex')
  t.equal(digest(join(base, 'dest', 'large.bin')), digest(join(base, 'source', 'large.bin')))
  t.ok(workerGrowth < 64 * MiB, `worker peak RSS +${(workerGrowth / MiB).toFixed(1)} MiB for a 256 MiB file`)
  t.ok(masterGrowth < 64 * MiB, `master peak RSS +${(masterGrowth / MiB).toFixed(1)} MiB for a 256 MiB file`)
})
