// Fan-out over several interpreters at once: a Group starts a gateway per
// interpreter concurrently (makeGateways), one remoteExec runs the same code
// on all, work is dealt out round-robin, and MultiChannel.items() yields the
// results as they arrive, whichever interpreter answers first.
// Usage: npx tsx examples/fanout.ts [python ...]   (default: python3, plus
// Python 2.7 and PyPy3 when found)
import { Group } from '../index.js'
import { python27, pypy3 } from './pythons.js'

const found = process.argv.length > 2 ? process.argv.slice(2) : ['python3', python27(), pypy3()]
const pythons = found.filter((p): p is string => p !== null)
const group = new Group()
await group.makeGateways(pythons.map((p) => `popen//python=${p}`))

const workers = group.remoteExec(`
    import sys, hashlib
    impl = "%s %d.%d" % (getattr(sys, "implementation", None) and sys.implementation.name or "cpython", sys.version_info[0], sys.version_info[1])
    for n in channel:
        digest = hashlib.sha256(("item %d" % n).encode("ascii")).hexdigest()
        channel.send((n, digest[:12], impl))
`)
const ITEMS = 30
const channels = [...workers]
for (let n = 0; n < ITEMS; n++) await (channels[n % channels.length])?.send(n)
for (const channel of channels) channel.end()

const results: Array<[number, string, string]> = []
// ends when every interpreter has closed its channel
for await (const [, item] of workers.items()) results.push(Array.from(item as Iterable<unknown>) as [number, string, string])
const perInterpreter = new Map<string, number>()
for (const [, , impl] of results) perInterpreter.set(impl, (perInterpreter.get(impl) ?? 0) + 1)
console.log(`${results.length} items on ${channels.length} interpreters`)
for (const [impl, count] of [...perInterpreter].sort()) console.log(`  ${impl}: ${count}`)
results.sort((a, b) => a[0] - b[0])
console.log('item 0:', results[0]?.[1], '| item 29:', results.at(-1)?.[1])
await group.terminate()
