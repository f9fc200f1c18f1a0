// The command line, run as a user runs it (the built dist/bin/execnet.js),
// on real files: decode/encode round trips, --repr, the real execnet
// reading what encode wrote, bad usage (exit 2) and bad input (exit 1).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dumps, tuple, Py2Str } from '../index.js'
import { cpython, repoRoot, require, venvPython } from './helpers/interpreters.js'

const bin = join(repoRoot, 'dist', 'bin', 'execnet.js')
function run (args: string[], input?: string | Buffer): { code: number | null, stdout: string, stderr: string, raw: Buffer } {
  const r = spawnSync(process.execPath, [bin, ...args], { input, timeout: 120000, cwd: repoRoot })
  return { code: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), raw: r.stdout }
}
const dir = mkdtempSync(join(tmpdir(), 'execnet-cli-'))

t.test('decode: one JSON line per value, tags for what JSON lacks', async (t) => {
  const file = join(dir, 'many.py23')
  writeFileSync(file, Buffer.concat([
    dumps(['hello', 'world']),
    dumps(new Map<unknown, unknown>([['a', 1], ['b', tuple(1, Buffer.from([0, 255]))]])),
    dumps(new Map<unknown, unknown>([[1, 'x']])),
    dumps(2n ** 70n),
    dumps(null),
    dumps([new Py2Str('caf\xe9')], { version: 1 })
  ]))
  const r = run(['decode', file])
  t.equal(r.code, 0, r.stderr)
  t.same(r.stdout.trimEnd().split('\n'), [
    '["hello","world"]',
    '{"a":1,"b":{"$tuple":[1,{"$bytes":"AP8="}]}}',
    '{"$dict":[[1,"x"]]}',
    '{"$int":"1180591620717411303424"}',
    'null',
    '[{"$bytes":"Y2Fm6Q=="}]'
  ])
  t.equal(run(['decode', '--py2str-as-py3str', '-'], readFileSync(file)).stdout.trimEnd().split('\n')[5], '["café"]')
  const repr = run(['decode', '--repr', file])
  t.same(repr.stdout.trimEnd().split('\n'), ["['hello', 'world']", "{'a': 1, 'b': (1, b'\\x00\\xff')}", "{1: 'x'}", '1180591620717411303424', 'None', "[b'caf\\xe9']"])
})

t.test('encode: JSON lines to dumps that decode gives back, and that real execnet loads', async (t) => {
  const lines = ['[1,"a",{"$bytes":"AAE="},{"$tuple":[1,2]},{"k":{"$int":"123456789012345678901234"}}]', '{"$dict":[[1,2],[{"$tuple":[1]},null]]}', 'null', '{"$set":[1]}']
  const enc = run(['encode'], lines.join('\n') + '\n')
  t.equal(enc.code, 0, enc.stderr)
  const file = join(dir, 'enc.py23')
  writeFileSync(file, enc.raw)
  t.same(run(['decode', file]).stdout.trimEnd().split('\n'), lines)
  const venv = require(t, venvPython(), 'the test venv with execnet 2.x')
  if (venv === null) return
  const py = spawnSync(venv.argv[0] as string, ['-c', `import execnet, io\ndata = open(${JSON.stringify(file)}, 'rb').read()\nf = io.BytesIO(data)\nwhile f.tell() < len(data): print(repr(execnet.load(f)))`])
  t.same(py.stdout.toString().trimEnd().split('\n'), ["[1, 'a', b'\\x00\\x01', (1, 2), {'k': 123456789012345678901234}]", '{1: 2, (1,): None}', 'None', '{1}'])
  const v1 = run(['encode', '--version', '1'], '[1]\n')
  t.equal(v1.raw[0], 1, 'format version 1 on request')
})

t.test('info: a table of the gateways', async (t) => {
  const py27 = require(t, cpython('2.7'), 'CPython 2.7 (pyenv)')
  if (py27 === null) return
  const r = run(['info', 'popen', `popen//python=${py27.argv[0] as string}`])
  t.equal(r.code, 0, r.stderr)
  const rows = r.stdout.trimEnd().split('\n')
  t.match(rows[0], /^id\s+executable\s+version\s+platform\s+pid$/)
  t.match(rows[1], /^gw0\s+\S+\s+3\.\d+\.\d+\s+linux\s+\d+$/)
  t.match(rows[2], /^gw1\s+\S+\s+2\.7\.18\s+linux2\s+\d+$/)
})

t.test('bad usage: exit code 2 and one line', async (t) => {
  for (const args of [[], ['frob'], ['decode', '--nope'], ['decode', 'a', 'b'], ['encode', '--version', '3'], ['info']]) {
    const r = run(args)
    t.equal(r.code, 2, `execnet ${args.join(' ')}`)
    if (args.length > 0) t.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr.trim()}`)
  }
  for (const cmd of ['decode', 'encode', 'info']) {
    const r = run([cmd, '--help'])
    t.equal(r.code, 0)
    t.match(r.stdout, new RegExp(`^usage: execnet ${cmd}`))
  }
})

t.test('bad input: exit code 1 and the error', async (t) => {
  const r1 = run(['decode', '-'], Buffer.from([0x02, 0x4b, 0, 0, 0]))
  t.equal(r1.code, 1)
  t.match(r1.stderr, /DataFormatError|input ends inside/)
  const r2 = run(['decode', join(dir, 'missing.py23')])
  t.equal(r2.code, 1)
  t.match(r2.stderr, /ENOENT/)
  const r3 = run(['encode'], '[1]\nnot json\n')
  t.equal(r3.code, 1)
  t.match(r3.stderr, /line 2: not JSON/)
  const r4 = run(['encode'], '{"$nope": 1}\n')
  t.equal(r4.code, 1)
  t.match(r4.stderr, /unknown tag \$nope/)
  const r5 = run(['info', 'popen//pyhton=x'])
  t.equal(r5.code, 1)
  t.match(r5.stderr, /unknown key "pyhton"/)
})
