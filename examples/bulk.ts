// Backpressure end to end: a file streams through a numpy worker and back
// (file -> channel -> numpy -> channel -> sink), read only as fast as the
// worker consumes; then a typed array goes to numpy and comes back.
// Usage: npx tsx examples/bulk.ts [python-with-numpy] [MiB]
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { makeGateway, defaultGroup, toNumpy, fromNumpy, type Progress } from '../index.js'
import { numpyPython } from './pythons.js'

const python = process.argv[2] ?? numpyPython()
if (python === null) {
  console.log('no Python with numpy found (set NUMPY_PYTHON, or `pip install numpy`)')
  process.exit(0)
}
const mib = Number(process.argv[3] ?? 64)

// a file of `mib` MiB: byte i of each MiB is i % 251
const dir = mkdtempSync(join(tmpdir(), 'execnet-bulk-'))
const file = join(dir, 'big.bin')
const block = Buffer.alloc(1 << 20)
for (let i = 0; i < block.length; i++) block[i] = i % 251
const out = createWriteStream(file)
for (let i = 0; i < mib; i++) out.write(block)
await new Promise((resolve) => out.end(resolve))

const gw = await makeGateway(`popen//python=${python}`)
// for each chunk: its sum, computed by numpy on the bytes without a copy
const sums = gw.remoteExec(`
    import numpy
    for chunk in channel:
        channel.send(int(numpy.frombuffer(chunk, 'u1').sum(dtype='u8')))
`)
let shown = 0
sums.on('progress', (p: Progress) => {
  const done = Math.floor(p.bytesSent / 2 ** 20)
  if (done >= shown + 16) { shown = done; process.stderr.write(`  ${done} MiB sent\n`) }
})
let total = 0
let chunks = 0
await Promise.all([
  pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), sums),
  pipeline(sums, new Writable({
    objectMode: true,
    write (sum: number, _enc, done) { total += sum; chunks++; done() }
  }))
])
console.log(`${chunks} chunks, byte sum ${total} (expected ${mib * block.reduce((a, b) => a + b, 0)})`)

// typed arrays: (dtype, bytes, shape) for numpy.frombuffer, and back
const matmul = gw.remoteExec(`
    import numpy
    dtype, data, shape = channel.receive()
    a = numpy.frombuffer(data, dtype).reshape(shape)
    b = a @ a.T
    channel.send((b.dtype.str, b.tobytes(), b.shape))
`)
await matmul.send(toNumpy(new Float64Array([1, 2, 3, 4, 5, 6]), [2, 3]))
console.log('a @ a.T =', Array.from(fromNumpy(await matmul.receive()) as Float64Array))
await defaultGroup.terminate()
rmSync(dir, { recursive: true, force: true })
