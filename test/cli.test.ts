// The command line, run as a user runs it (the built dist/bin/execnet.js),
// on real files: decode/encode round trips, --repr, the real execnet
// reading what encode wrote, bad usage (exit 2) and bad input (exit 1).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, writeFileSync, readFileSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { dumps, tuple, Py2Str } from '../index.js'
import { cpython, repoRoot, require, venvPython } from './helpers/interpreters.js'
import { tempDir } from './helpers/tmp.js'
import { ProgressBar } from '../lib/cli/progress.js'

const bin = join(repoRoot, 'dist', 'bin', 'execnet.js')
function run (args: string[], input?: string | Buffer): { code: number | null, stdout: string, stderr: string, raw: Buffer } {
  const r = spawnSync(process.execPath, [bin, ...args], { input, timeout: 120000, cwd: repoRoot, maxBuffer: 64 << 20 })
  return { code: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), raw: r.stdout }
}
const dir = tempDir(t, 'cli')

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

t.test('info: a spec that fails gets an error row, the others are reported', async (t) => {
  const missing = join(dir, 'no-such-python')
  const r = run(['info', `popen//python=${missing}`, 'popen', 'popen//pyhton=x', 'id=mine//popen'])
  t.equal(r.code, 2, 'a bad spec among them: bad usage')
  const rows = r.stdout.trimEnd().split('\n')
  t.equal(rows.length, 5, r.stdout)
  t.match(rows[0], /^id\s+executable\s+version\s+platform\s+pid$/)
  t.match(rows[1], new RegExp(`^gw0\\s+error: cannot start ${missing}`))
  t.match(rows[2], /^gw1\s+\S+\s+3\.\d+\.\d+\s+linux\s+\d+$/)
  t.match(rows[3], /^gw2\s+error: bad spec "popen\/\/pyhton=x": unknown key "pyhton"/)
  t.match(rows[4], /^mine\s+\S+\s+3\.\d+\.\d+\s+linux\s+\d+$/)
  t.match(r.stderr, new RegExp(`^execnet info: gw0: cannot start ${missing}`, 'm'))
  t.match(r.stderr, /^execnet info: gw2: bad spec .*\(see execnet info --help\)$/m)
  const started = run(['info', 'popen', `popen//python=${missing}`])
  t.equal(started.code, 1, 'one that does not start: exit code 1')
  t.match(started.stdout, /^gw0\s+\S+\s+3\.\d+/m)
  t.match(started.stdout, /^gw1\s+error: cannot start/m)
})

t.test('rsync: a tree to DEST on each gateway, then only what changed', async (t) => {
  const py27 = require(t, cpython('2.7'), 'CPython 2.7 (pyenv)')
  if (py27 === null) return
  const source = join(dir, 'rsync-source')
  mkdirSync(join(source, 'sub'), { recursive: true })
  writeFileSync(join(source, 'a.txt'), 'alpha')
  writeFileSync(join(source, 'sub', 'b.txt'), 'beta')
  const dest = join(dir, 'rsync-dest')
  const specs = ['popen', `popen//python=${py27.argv[0] as string}`]
  const first = run(['rsync', source, dest, ...specs])
  t.equal(first.code, 0, first.stderr)
  const lines = first.stdout.trimEnd().split('\n')
  // both gateways share one host and DEST: a file one has written, the other may find already right
  t.same([...new Set(lines.filter((l) => / <= /.test(l)).map((l) => l.replace(/^gw[01] <= /, '')))].sort(), ['a.txt', 'sub/b.txt'], 'every file sent')
  t.match(lines.filter((l) => !l.includes(' <= ')).sort(), [/^gw0: [0-2] sent \(\d+ bytes\), 0 only touched, 0 deleted$/, /^gw1: [0-2] sent \(\d+ bytes\), 0 only touched, 0 deleted$/])
  t.equal(readFileSync(join(dest, 'sub', 'b.txt'), 'utf8'), 'beta')
  writeFileSync(join(dest, 'stray'), 'x')
  const again = run(['rsync', source, dest, specs[0] as string, '--delete', '--quiet'])
  t.equal(again.code, 0, again.stderr)
  t.equal(again.stdout, 'gw0: 0 sent (0 bytes), 0 only touched, 1 deleted\n')
  const missing = run(['rsync', join(dir, 'no-such-dir'), dest, 'popen'])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /cannot read the source directory/)
})

t.test('--version and -V: the version in package.json', async (t) => {
  const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version
  for (const flag of ['--version', '-V']) {
    const r = run([flag])
    t.equal(r.code, 0, r.stderr)
    t.equal(r.stdout, `${version}\n`, `execnet ${flag}`)
  }
  t.match(run(['--help']).stdout, /execnet --version/, 'the help names it')
})

t.test('--version from the packed tarball, installed', async (t) => {
  // npm pack takes what a user installs (package.json's files); its
  // dependencies come from our node_modules, one directory up
  const pack = spawnSync('npm', ['pack', '--pack-destination', dir, '--json'], { cwd: repoRoot, encoding: 'utf8', timeout: 120000 })
  t.equal(pack.status, 0, pack.stderr)
  const tarball = join(dir, (JSON.parse(pack.stdout) as Array<{ filename: string }>)[0]?.filename ?? '')
  const installed = join(dir, 'project', 'node_modules', 'execnet')
  mkdirSync(installed, { recursive: true })
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'))
  const untar = spawnSync('tar', ['xzf', tarball, '-C', installed, '--strip-components=1'], { encoding: 'utf8' })
  t.equal(untar.status, 0, untar.stderr)
  const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { version: string, bin: Record<string, string> }
  const r = spawnSync(process.execPath, [join(installed, pkg.bin.execnet ?? ''), '--version'], { cwd: join(dir, 'project'), encoding: 'utf8', timeout: 60000 })
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stdout, `${pkg.version}\n`)
})

t.test('bad usage: exit code 2 and one line', async (t) => {
  for (const args of [[], ['frob'], ['decode', '--nope'], ['decode', 'a', 'b'], ['encode', '--version', '3'], ['info'], ['rsync', 'src'], ['rsync', 'src', 'dest', 'popen//bogus']]) {
    const r = run(args)
    t.equal(r.code, 2, `execnet ${args.join(' ')}`)
    if (args.length > 0) t.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr.trim()}`)
  }
  for (const cmd of ['decode', 'encode', 'exec', 'info', 'socketserver']) {
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
  // Buffer.from(x, 'base64') skips bad characters: a typo must not encode other bytes
  for (const [text, why] of [['AP8', /length, 3, is not a multiple of 4/], ['A*8=', /"\*" at 1 is not a base64 character/], ['AP9=', /not canonical/], ['AP8=AP8=', /padding '=' at 3, before the end/], ['A===', /padding '=' at 1/], ['AP-_', /"-" at 2/], ['', null]] as const) {
    const r = run(['encode'], `[1, {"$bytes": ${JSON.stringify(text)}}]\n`)
    if (why === null) {
      t.equal(r.code, 0, 'empty base64 is empty bytes')
      continue
    }
    t.equal(r.code, 1, `${JSON.stringify(text)} refused`)
    t.equal(r.raw.length, 0, 'nothing written')
    t.match(r.stderr, /^execnet encode: line 1\[1\]: \$bytes is not base64: /)
    t.match(r.stderr, why)
  }
  const r5 = run(['info', 'popen//pyhton=x'])
  t.equal(r5.code, 2, 'a bad spec is bad usage')
  t.match(r5.stderr, /unknown key "pyhton"/)
})

t.test('exec: stdin lines to a script, what it sends to stdout as JSON lines, its prints on stderr', async (t) => {
  const script = join(dir, 'upper.py')
  writeFileSync(script, 'for line in channel:\n    channel.send((line.upper(), len(line)))\nchannel.send(b"\\x00\\xff")\nprint("finished")\n')
  const r = run(['exec', script], 'hello\nworld\n')
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, '{"$tuple":["HELLO",5]}\n{"$tuple":["WORLD",5]}\n{"$bytes":"AP8="}\n')
  t.match(r.stderr, /^finished$/m, 'the last print reached stderr before the exit')

  const py27 = require(t, cpython('2.7'), 'CPython 2.7 (pyenv)')
  if (py27 === null) return
  const echo = join(dir, 'echo.py')
  writeFileSync(echo, 'import sys\nfor item in channel:\n    channel.send((item, sys.version_info[0]))\n')
  const r2 = run(['exec', echo, '--spec', `popen//python=${py27.argv[0] as string}`, '--json-input', '--repr'], '{"$bytes":"AAE="}\n[1, {"$int": "123456789012345678901"}]\n\n"text"\n')
  t.equal(r2.code, 0, r2.stderr)
  t.equal(r2.stdout, "('\\x00\\x01', 2)\n([1, 123456789012345678901], 2)\n('text', 2)\n", 'tagged JSON in, Python 2 values back as repr')
})

t.test('exec: errors', async (t) => {
  const failing = join(dir, 'failing.py')
  writeFileSync(failing, 'channel.send(1)\nraise ValueError("no good")\n')
  const r = run(['exec', failing], '')
  t.equal(r.code, 1)
  t.equal(r.stdout, '1\n', 'what came before the error is written')
  t.match(r.stderr, /Traceback[\s\S]*failing\.py", line 2[\s\S]*ValueError: no good/)
  const missing = run(['exec', join(dir, 'nope.py')])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /ENOENT/)
  for (const args of [['exec'], ['exec', failing, '--spec', 'popen//pyhton=x'], ['exec', 'a.py', 'b.py'], ['exec', failing, '--spec']]) {
    const bad = run(args, '')
    t.equal(bad.code, 2, `execnet ${args.join(' ')}`)
    t.equal(bad.stderr.trimEnd().split('\n').length, 1, `one line: ${bad.stderr.trim()}`)
  }
  const help = run(['exec', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /^usage: execnet exec/)
})

t.test('progress bars on stderr: with --progress, never on stdout', async (t) => {
  const file = join(dir, 'progress.py23')
  writeFileSync(file, Buffer.concat(Array.from({ length: 64 }, (_, i) => dumps(Buffer.alloc(65536, i)))))
  const r = run(['decode', file, '--progress'])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout.trimEnd().split('\n').length, 64, 'stdout has only the values')
  t.match(r.stderr, /decode \[=+\] 100% 4\.0 MiB\/4\.0 MiB/)
  const quiet = run(['decode', file])
  t.equal(quiet.stderr, '', 'no bar when stderr is not a terminal')
  const script = join(dir, 'flood.py')
  writeFileSync(script, 'for i in range(48):\n    channel.send(b"x" * 65536)\n')
  const r2 = run(['exec', script, '--progress'], '')
  t.equal(r2.code, 0, r2.stderr)
  t.match(r2.stderr, /exec \d+\.\d MiB/)
  t.notMatch(r2.stderr, /%/, 'stdin a pipe: no total, no percentage')
})

/** What a terminal shows for text with '\r' and erase-to-end-of-line (ESC [K): its lines. */
function screen (text: string): string[] {
  return text.split('\n').map((line) => {
    let shown = ''
    let at = 0
    for (const part of line.split(/(\r|\x1b\[K)/)) {
      if (part === '\r') at = 0
      else if (part === '\x1b[K') shown = shown.slice(0, at)
      else {
        shown = shown.slice(0, at) + part + shown.slice(at + part.length)
        at += part.length
      }
    }
    return shown
  })
}

t.test('exec --progress with stdin a file: a percentage, and the prints above the bar, whole', async (t) => {
  const script = join(dir, 'slow.py')
  writeFileSync(script, 'import sys, time\nn = 0\nfor line in channel:\n    n += 1\n    if n % 50 == 0:\n        print("print %d" % n)\n    time.sleep(0.002)\n    channel.send(len(line))\nsys.stderr.write("no newline")\n')
  const file = join(dir, 'lines.txt')
  writeFileSync(file, Array.from({ length: 500 }, (_, i) => `${i}\n`).join(''))
  const stdin = openSync(file, 'r')
  t.teardown(() => { closeSync(stdin) })
  const r = spawnSync(process.execPath, [bin, 'exec', script, '--progress'], { stdio: [stdin, 'pipe', 'pipe'], encoding: 'utf8', timeout: 120000, cwd: repoRoot })
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stdout.trimEnd().split('\n').length, 500)
  t.match(r.stderr, /\rexec \[[= ]{30}\] +\d+% /, 'a percentage of the file')
  t.match(r.stderr, /exec \[={30}\] 100% 1\.8 KiB\/1\.8 KiB/, 'all of it, at the end')
  const shown = screen(r.stderr).filter((l) => l !== '')
  const prints = shown.filter((l) => !l.startsWith('exec ['))
  t.same(prints, [...Array.from({ length: 10 }, (_, i) => `print ${(i + 1) * 50}`), 'no newline'], `every print on a line of its own, none drawn over:\n${shown.join('\n')}`)
  t.match(shown[shown.length - 1], /^exec \[={30}\] 100%/, 'the bar last')
})

t.test('ProgressBar: prints and other streams pass the bar without tearing it', async (t) => {
  let written = ''
  const stream = { write: (s: string) => { written += s; return true } } as unknown as NodeJS.WritableStream
  const bar = new ProgressBar({ label: 'x', total: 100, stream, width: 4 })
  bar.update(50)
  bar.print('half a li')
  t.notMatch(written, /half/, 'an unfinished line waits for its end')
  bar.print('ne\nand one more\nrest')
  bar.pause()
  written += 'a line on stdout\n' // another stream on the same terminal, between pause() and resume()
  bar.resume()
  bar.finish()
  const lines = screen(written)
  t.same(lines.filter((l) => !l.startsWith('x [')), ['half a line', 'and one more', 'a line on stdout', 'rest', ''])
  t.match(lines[lines.length - 2], /^x \[==  \]  50%/, 'the bar last, then a newline')
  bar.print('after\n')
  t.ok(written.endsWith('after\n'), 'after finish(), straight through')
})
