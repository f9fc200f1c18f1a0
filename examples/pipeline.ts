// A stream pipeline through a Python worker: records in a .py23 file are
// decoded, sent through a channel, transformed by Python, and encoded into
// another .py23 file (file -> decoder -> channel -> worker -> channel ->
// encoder -> file), each stage paced by the next.
// Usage: npx tsx examples/pipeline.ts [python]
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { makeGateway, defaultGroup, decoder, encoder, Loader } from '../index.js'

const python = process.argv[2] ?? 'python3'
const dir = mkdtempSync(join(tmpdir(), 'execnet-pipeline-'))
const input = join(dir, 'people.py23')
const output = join(dir, 'greetings.py23')

// 1000 records, one dump each, as a Python program would write them
const names = ['Ada', 'Grace', 'Guido', 'Barbara', 'Ken']
const records = Array.from({ length: 1000 }, (_, i) => new Map<string, unknown>([['name', names[i % names.length]], ['n', i]]))
await pipeline(Readable.from(records), encoder(), createWriteStream(input))

const gw = await makeGateway(`popen//python=${python}`)
const channel = gw.remoteExec(`
    import sys
    for record in channel:
        channel.send({"greeting": "Hello, %s #%d" % (record["name"], record["n"]),
                      "python": "%d.%d" % sys.version_info[:2]})
`)
await Promise.all([
  pipeline(createReadStream(input), decoder(), channel),
  pipeline(channel, encoder(), createWriteStream(output))
])

// read the result back: every dump in the output file
const bytes = readFileSync(output)
const loader = new Loader({ dict: 'object' })
const results: unknown[] = []
loader.write(bytes, (value) => { results.push(value) })
loader.end()
console.log(`${results.length} records through Python ${String((results[0] as { python: string }).python)}`)
console.log('first:', (results[0] as { greeting: string }).greeting)
console.log('last: ', (results.at(-1) as { greeting: string }).greeting)
await defaultGroup.terminate()
rmSync(dir, { recursive: true, force: true })
