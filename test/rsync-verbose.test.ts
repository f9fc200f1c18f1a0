// RSync's `verbose`: a line `GATEWAY <= PATH` on stdout per file whose
// content is sent, as execnet's RSync(verbose=True) prints (checked
// against execnet's own, run from the venv on the same tree). Run in a
// child process, whose stdout holds nothing else.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cpython, repoRoot, require, venvPython } from './helpers/interpreters.js'
import { tempDir } from './helpers/tmp.js'

async function run (program: string, args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(program, args, { cwd: repoRoot, timeout: 60000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${err.message}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

function tree (root: string): void {
  mkdirSync(join(root, 'sub'), { recursive: true })
  writeFileSync(join(root, 'a.txt'), 'hello\n')
  writeFileSync(join(root, 'empty.txt'), '')
  writeFileSync(join(root, 'sub', 'b.txt'), 'b\n')
}

/** Change a.txt's content, and only empty.txt's mtime: one file to send, one to check and keep. */
function change (root: string): void {
  writeFileSync(join(root, 'a.txt'), 'changed\n')
  utimesSync(join(root, 'empty.txt'), new Date('2020-01-01'), new Date('2020-01-01'))
}

const ours = async (python: string, source: string, dest: string, mode: string): Promise<string> =>
  await run(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/fixtures/rsync-verbose.ts'), python, source, dest, mode])

t.test('verbose prints GATEWAY <= PATH per file sent, exactly', async (t) => {
  const py = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (py === null) return
  const dir = tempDir(t, 'rsync-verbose')
  const source = join(dir, 'src')
  tree(source)
  const gw = '<Gateway id="gw0" receive-live, 1 active channels>'
  t.equal(await ours(py.argv[0] as string, source, join(dir, 'dst'), 'verbose'), `${gw} <= a.txt\n${gw} <= empty.txt\n${gw} <= sub/b.txt\n`, 'every file, the empty one too, in listing order')
  change(source)
  t.equal(await ours(py.argv[0] as string, source, join(dir, 'dst'), 'verbose'), `${gw} <= a.txt\n`, 'only the file whose content went; not the one only touched')
  t.equal(await ours(py.argv[0] as string, source, join(dir, 'dst2'), 'quiet'), '', 'verbose: false prints nothing')
  t.equal(await ours(py.argv[0] as string, source, join(dir, 'dst3'), 'default'), '', 'nor does the default (execnet prints by default)')
})

t.test("the same lines as execnet's RSync(verbose=True), but for the gateway's string", async (t) => {
  const py = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  const venv = require(t, venvPython(), 'the venv with execnet 2.x')
  if (py === null || venv === null) return
  const dir = tempDir(t, 'rsync-verbose')
  const source = join(dir, 'src')
  tree(source)
  const script = 'import execnet, sys\ngw = execnet.makegateway("popen")\nrs = execnet.RSync(sys.argv[1], verbose=True)\nrs.add_target(gw, sys.argv[2])\nrs.send()\ngw.exit()\n'
  const execnets = async (dest: string): Promise<string> => await run(venv.argv[0] as string, ['-c', script, source, dest])
  // execnet names the gateway by its repr, and sends in os.listdir order
  const lines = (out: string, prefix: RegExp): string[] => out.split('\n').slice(0, -1).map((l) => {
    t.match(l, prefix)
    return l.replace(prefix, '')
  }).sort()
  const theirs = /^<Gateway id='gw0' receive-live, thread model, 1 active channels> <= /
  const mine = /^<Gateway id="gw0" receive-live, 1 active channels> <= /
  t.same(lines(await ours(py.argv[0] as string, source, join(dir, 'ours'), 'verbose'), mine), lines(await execnets(join(dir, 'theirs')), theirs), 'first sync: every file')
  change(source)
  t.same(lines(await ours(py.argv[0] as string, source, join(dir, 'ours'), 'verbose'), mine), lines(await execnets(join(dir, 'theirs')), theirs), 'after a change: the changed file only')
})
