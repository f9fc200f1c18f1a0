// The seed page, from TypeScript, on the default python3: write data.py23 as
// execnet.dumps does and read it back with a stream decoder (and the real
// execnet, when python3 or the test venv has it); then the page's gateway
// examples: numpy, string coercion (Python 3, and 2.7 when found), Jython
// (when found).
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { execFileSync, spawnSync } from 'node:child_process'
import { dumps, loads, encoder, decoder, Py2Str } from '../index.js'

const dir = mkdtempSync(join(tmpdir(), 'execnet-demo-'))
const file = join(dir, 'data.py23')

// "using python2": execnet 1.x on Python 2 writes str values and version byte 1
const py2bytes = dumps([new Py2Str('hello'), new Py2Str('world')], { version: 1 })
console.log('Python 2 writes      ', py2bytes.toString('hex'))
console.log('loads() gives        ', loads(py2bytes))
console.log('py2strAsPy3str: true ', loads(py2bytes, { py2strAsPy3str: true }))

// "using Python 3": a stream encoder writes data.py23, a stream decoder reads it
await pipeline(Readable.from([['hello', 'world']]), encoder(), createWriteStream(file))
console.log(`wrote ${file}:`, readFileSync(file).toString('hex'))
for await (const value of createReadStream(file).pipe(decoder({ py2strAsPy3str: true }))) {
  console.log('decoder() read       ', value)
}

// and the real thing reads what we wrote: the default python3 if it has
// execnet, else the venv that .ci/run makes (EXECNET_PYTHON overrides both)
const candidates = [process.env.EXECNET_PYTHON ?? 'python3', join(process.cwd(), '.venv', 'bin', 'python')]
const check = `import execnet; print(execnet.loads(open(${JSON.stringify(file)}, 'rb').read(), py2str_as_py3str=True))`
let checked = false
for (const python of candidates) {
  try {
    const out = execFileSync(python, ['-c', check], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    console.log(`${python} execnet.loads:`, out.trim())
    checked = true
    break
  } catch {
    // no such interpreter, or no execnet in it: try the next
  }
}
if (!checked) console.log('(no python3 with execnet here: skipped the cross-check; `pip install execnet` to see it)')
rmSync(dir, { recursive: true, force: true })

// the gateway examples, each a standalone script under examples/
const examples: Array<[string, string, string[]]> = [
  ['Connect to Numpy', 'numpy.ts', []],
  ['Reconfiguring the string coercion (python3 worker)', 'reconfigure.ts', ['python3']],
  ['Reconfiguring the string coercion (Python 2.7 worker)', 'reconfigure.ts', []],
  ['Work with Java objects (Jython)', 'jython.ts', []]
]
for (const [title, script, args] of examples) {
  console.log(`\n== ${title}`)
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, script), ...args], { stdio: 'inherit' })
  if (run.status !== 0) process.exitCode = 1
}
