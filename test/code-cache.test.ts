// The worker's compiled code is kept between start-ups (lib/python/loader.py):
// written on the first start of each interpreter, read on the next, and
// never read from a file someone else could have written or that is not
// whole; a start-up without a usable cache is one that compiles.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Gateway } from '../index.js'
import { workerSourceKey } from '../lib/bootstrap.js'
import { cpython, repoRoot, require, type Interpreter } from './helpers/interpreters.js'
import { oursTargets, specFor } from './helpers/targets.js'
import { tempDir } from './helpers/tmp.js'

const MARK = "import __main__\nchannel.send(getattr(__main__, 'CACHE_MARK', None))"

/** Start a worker with this cache directory; what CACHE_MARK its globals hold (null: compiled from source). */
async function start (interp: Interpreter, env: string, extra = ''): Promise<unknown> {
  const gw = await Gateway.start(specFor(interp, 'ours', [env, extra].filter((s) => s !== '').join('//')))
  try {
    return await gw.remoteExec(MARK).receive()
  } finally {
    await gw.terminate(10)
  }
}

/** The worker's code compiled by this interpreter with `CACHE_MARK = 1` added: a cache file that shows it was read. */
function markedCode (interp: Interpreter): Buffer {
  const program = [
    'import marshal, sys',
    "source = open(sys.argv[1]).read() + '\\nCACHE_MARK = 1\\n'",
    "getattr(sys.stdout, 'buffer', sys.stdout).write(marshal.dumps(compile(source, '<string>', 'exec', 0, True)))"
  ].join('\n')
  const [cmd, ...args] = interp.argv
  return execFileSync(cmd as string, [...args, '-c', program, join(repoRoot, 'lib', 'python', 'worker.py')], { env: { ...process.env, ...interp.env }, maxBuffer: 1 << 24 })
}

function cacheFiles (dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : []
}

const mode = (path: string): number => statSync(path).mode & 0o777

for (const target of oursTargets()) {
  t.test(target.label, async (t) => {
    const interp = require(t, target.find(), target.what)
    if (interp === null) return
    const dir = join(tempDir(t, 'cache'), 'cache')
    const env = `env:EXECNET_CACHE_DIR=${dir}`
    t.equal(await start(interp, env), null, 'the first start compiles')
    const files = cacheFiles(dir)
    if (interp.name === 'jython') {
      t.same(files, [], 'Jython compiles to Java classes: nothing to keep')
      return
    }
    t.equal(files.length, 1, 'one file kept')
    const name = files[0] as string
    t.match(name, new RegExp(`^worker-${workerSourceKey()}-[a-z0-9-]+-o0$`), 'named by worker version, interpreter and optimization')
    t.equal(mode(dir), 0o700, 'a private directory')
    t.equal(mode(join(dir, name)), 0o600, 'a private file')
    const magic = readFileSync(join(dir, name)).subarray(0, 4)
    writeFileSync(join(dir, name), Buffer.concat([magic, markedCode(interp)]), { mode: 0o600 })
    t.equal(await start(interp, env), 1, 'the next start runs the kept code')
  })
}

t.test('a kept file is used only when it is whole, ours and private', async (t) => {
  const interp = require(t, cpython('3.11'), 'CPython 3.11 (pyenv)')
  if (interp === null) return
  const dir = join(tempDir(t, 'cache'), 'cache')
  const env = `env:EXECNET_CACHE_DIR=${dir}`
  await start(interp, env)
  const name = cacheFiles(dir)[0] as string
  const path = join(dir, name)
  const good = readFileSync(path)
  const magic = good.subarray(0, 4)
  const marked = Buffer.concat([magic, markedCode(interp)])
  const plant = (bytes: Buffer, fileMode = 0o600): void => {
    writeFileSync(path, bytes)
    chmodSync(path, fileMode)
  }

  plant(marked, 0o620)
  t.equal(await start(interp, env), null, 'a file others may write is not read')
  t.equal(mode(path), 0o600, 'and is replaced by a private one')
  t.not(marked.indexOf('CACHE_MARK'), -1, 'a sanity check of the plant: the marked code names its mark')
  t.equal(readFileSync(path).indexOf('CACHE_MARK'), -1, 'the replacement holds the worker as sent')

  plant(marked)
  chmodSync(dir, 0o777)
  t.equal(await start(interp, env), null, 'nor one in a directory others may write')
  t.equal(readFileSync(path).compare(marked), 0, 'and nothing is written there')
  chmodSync(dir, 0o700)

  for (const [what, bytes] of [
    ['truncated', marked.subarray(0, marked.length >> 1)],
    ['of another magic number', Buffer.concat([Buffer.from('xxxx'), marked.subarray(4)])],
    ['empty', Buffer.alloc(0)],
    ['not a code object', Buffer.concat([magic, Buffer.from('i\x01\x00\x00\x00', 'latin1')])]
  ] as const) {
    plant(bytes)
    t.equal(await start(interp, env), null, `a file ${what} is compiled over`)
    const now = readFileSync(path)
    t.ok(now.subarray(0, 4).equals(magic) && now.length > good.length / 2 && now.indexOf('CACHE_MARK') === -1, `and rewritten whole (${what})`)
  }

  // a store that fails half-way (here its rename, onto a directory) leaves no temporary behind
  rmSync(path)
  mkdirSync(path)
  t.equal(await start(interp, env), null, 'a start whose store fails still starts')
  t.same(cacheFiles(dir), [name], 'and leaves no temporary file')
})

t.test('workers starting at once on an empty cache', async (t) => {
  const interp = require(t, cpython('3.11'), 'CPython 3.11 (pyenv)')
  if (interp === null) return
  const dir = join(tempDir(t, 'cache'), 'cache')
  const env = `env:EXECNET_CACHE_DIR=${dir}`
  // each compiles and stores: the renames race, and none sees half a file
  for (let round = 0; round < 2; round++) {
    const marks = await Promise.all(Array.from({ length: 6 }, async () => await start(interp, env)))
    t.same(marks, Array(6).fill(null), `round ${round}: all six start`)
    t.equal(cacheFiles(dir).length, 1, `round ${round}: one file, no temporary left`)
  }
})

t.test('where the cache is, and when nothing is written', async (t) => {
  const interp = require(t, cpython('3.11'), 'CPython 3.11 (pyenv)')
  if (interp === null) return
  const home = tempDir(t, 'cache')
  await start(interp, `env:XDG_CACHE_HOME=${home}`)
  t.equal(cacheFiles(join(home, 'execnet-worker')).length, 1, 'by default under XDG_CACHE_HOME (else ~/.cache)')

  // a cache home in a tree another user owns (root with a user's HOME, as
  // under sudo) is left alone: as root, a directory given to nobody; as
  // anyone else, a path not made yet under /tmp, which root owns
  const uid = process.getuid?.() ?? 0
  let theirs: string
  if (uid === 0) {
    theirs = tempDir(t, 'cache')
    chownSync(theirs, 65534, 65534)
  } else {
    theirs = join('/tmp', `execnet-cache-${process.pid}-${Date.now()}`)
    const made = theirs
    t.teardown(() => { rmSync(made, { recursive: true, force: true }) })
    t.not(statSync('/tmp').uid, uid, '/tmp belongs to another user')
  }
  await start(interp, `env:XDG_CACHE_HOME=${join(theirs, '.cache')}`)
  t.same(cacheFiles(theirs), [], "no directory made in another user's tree")
  const named = join(theirs, 'named', 'cache')
  await start(interp, `env:EXECNET_CACHE_DIR=${named}`)
  t.equal(cacheFiles(named).length, 1, 'unless EXECNET_CACHE_DIR names it')

  const off = tempDir(t, 'cache')
  await start(interp, `env:XDG_CACHE_HOME=${off}//env:EXECNET_CACHE_DIR=`)
  t.same(cacheFiles(off), [], 'EXECNET_CACHE_DIR= (empty) turns it off')

  const dir = join(tempDir(t, 'cache'), 'cache')
  await start(interp, `env:EXECNET_CACHE_DIR=${dir}`, 'dont_write_bytecode')
  t.same(cacheFiles(dir), [], 'a spec with dont_write_bytecode writes nothing')
  await start(interp, `env:EXECNET_CACHE_DIR=${dir}//env:PYTHONDONTWRITEBYTECODE=1`)
  t.equal(cacheFiles(dir).length, 1, 'PYTHONDONTWRITEBYTECODE alone does not turn it off (it is about .pyc files beside modules)')

  const name = cacheFiles(dir)[0] as string
  const older = `worker-0123456789abcdef0123-${name.slice(`worker-${workerSourceKey()}-`.length)}`
  const otherInterpreter = 'worker-0123456789abcdef0123-cpython-399-o0'
  const stale = `${older}.4242.tmp`
  for (const f of [older, otherInterpreter, stale]) writeFileSync(join(dir, f), 'x', { mode: 0o600 })
  writeFileSync(join(dir, name), '') // a miss: the store prunes
  await start(interp, `env:EXECNET_CACHE_DIR=${dir}`)
  t.same(cacheFiles(dir), [name, otherInterpreter].sort(), "a store removes older versions' code for the same interpreter, keeps other interpreters'")
})
