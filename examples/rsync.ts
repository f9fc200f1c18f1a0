// RSync: a directory tree to several interpreters at once, then only what
// changed. Each gateway gets its own copy under a temporary directory.
// Usage: npx tsx examples/rsync.ts [python ...]   (default: python3, plus
// Python 2.7 when found)
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Group, RSync, type RSyncEvent } from '../index.js'
import { python27 } from './pythons.js'

const pythons = (process.argv.length > 2 ? process.argv.slice(2) : ['python3', python27()]).filter((p): p is string => p !== null)
const base = mkdtempSync(join(tmpdir(), 'execnet-rsync-example-'))
const source = join(base, 'project')
mkdirSync(join(source, 'pkg'), { recursive: true })
writeFileSync(join(source, 'setup.py'), 'print("setup")\n')
writeFileSync(join(source, 'pkg', '__init__.py'), 'VERSION = 1\n')
writeFileSync(join(source, 'run.sh'), '#!/bin/sh\nexec python3 setup.py\n', { mode: 0o755 })
symlinkSync('pkg/__init__.py', join(source, 'version.py'))

const group = new Group()
const gateways = await group.makeGateways(pythons.map((p) => `popen//python=${p}`))

async function sync (label: string): Promise<void> {
  const events: RSyncEvent[] = []
  const rsync = new RSync(source, { callback: (e) => events.push(e) })
  for (const gw of gateways) rsync.addTarget(gw, join(base, `copy-${gw.id}`))
  const results = await rsync.send()
  const sent = results.map((r) => `${r.gateway.id}: ${r.sent.length ? r.sent.sort().join(', ') : 'nothing'}`)
  console.log(`${label}: ${sent.join(' | ')} (${events.filter((e) => e.type === 'file').length} file callbacks)`)
}

await sync('first')
await sync('again')
writeFileSync(join(source, 'pkg', '__init__.py'), 'VERSION = 2\n')
await sync('changed')
const check = group.remoteExec('import os, sys\nchannel.send(open(os.path.join(channel.receive(), "version.py")).read().strip())')
await Promise.all(check.channels.map(async (c) => { await c.send(join(base, `copy-${c.gateway.id}`)) }))
console.log('through the copied symlink:', (await check.receiveEach()).join(', '))
await group.terminate()
rmSync(base, { recursive: true, force: true })
