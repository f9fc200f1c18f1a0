// The package as users get it: `npm pack`, the tarball installed into an
// empty project beside typescript 5 and @types/node 20 only, then
// - every ```ts block of README.md, extracted from the README itself, and the
//   type probes in test/fixtures/package/ type-check under `tsc --init`'s
//   strict settings, with skipLibCheck false and true;
// - each README block runs with node against python3 and exits 0;
// - require('execnet') from CommonJS, and a TypeScript CommonJS module, run
//   makeGateway.
// A test from inside the repo resolves 'execnet' to the working tree and
// hides a broken `exports` map or a types package left in devDependencies.
import t, { type Test } from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, readFileSync, readdirSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { cpython, jython, repoRoot, require as need, venvPython } from './helpers/interpreters.js'
import { tempDir } from './helpers/tmp.js'
import { startSshd } from './helpers/sshd.js'
import { slurmProblem, startCluster } from './helpers/slurm.js'

const version = (pkg: string): string => (JSON.parse(readFileSync(join(repoRoot, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version

/** The ```ts blocks of README.md, in order, with the line each starts on. */
export function readmeBlocks (text: string): Array<{ line: number, source: string }> {
  const blocks: Array<{ line: number, source: string }> = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== '```ts') continue
    const start = i + 1
    let end = start
    while (end < lines.length && lines[end]?.trim() !== '```') end++
    blocks.push({ line: start + 1, source: lines.slice(start, end).join('\n') + '\n' })
    i = end
  }
  return blocks
}

const run = (cmd: string, args: string[], cwd: string): string =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] })

/**
 * The repository's sources in `dir`, node_modules linked: `npm pack` there
 * builds (prepack) into that copy's dist, not into the dist the test files
 * running beside this one read (tap runs two at a time): the build starts
 * by removing it.
 */
function sourceCopy (dir: string): string {
  const skip = new Set(['node_modules', 'dist', '.git', '.venv', '.tap', 'coverage', 'scratch'])
  const copy = join(dir, 'source')
  cpSync(repoRoot, copy, { recursive: true, filter: (src) => !skip.has(relative(repoRoot, src).split(sep)[0] ?? '') })
  symlinkSync(join(repoRoot, 'node_modules'), join(copy, 'node_modules'))
  return copy
}

t.test('the packed package, installed into an empty project', async (t) => {
  const work = tempDir(t, 'package')
  // prepack builds dist, so the tarball is what `npm publish` would send
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], sourceCopy(work))) as Array<{ filename: string, files: Array<{ path: string }> }>
  const tarball = join(work, (packed[0] as { filename: string }).filename)
  const files = (packed[0] as { files: Array<{ path: string }> }).files.map((f) => f.path)
  t.ok(files.includes('dist/lib/python/worker.py'), 'the worker is in the tarball')
  t.ok(files.includes('dist/lib/vendor-streams.cjs'), 'and the bundle of readable-stream (lib/streams.ts)')
  t.notOk(files.some((f) => f.startsWith('test/') || f.startsWith('bench/') || f.endsWith('.ts.map')), 'no tests, benches or source maps')
  t.notOk(files.some((f) => /^dist\/(test|bench|examples)\//.test(f)), 'no built tests')

  const project = join(work, 'project')
  mkdirSync(project)
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }))
  // from npm's cache, which the repo's own install filled: no network needed
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, `typescript@${version('typescript')}`, `@types/node@${version('@types/node')}`], project)
  const installed = readdirSync(join(project, 'node_modules', '@types'))
  t.same(installed, ['node'], 'no @types package comes with execnet but @types/node')

  // the project a user gets from `tsc --init`, with a file list
  run(process.execPath, [join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '--init'], project)
  const probes = readdirSync(join(repoRoot, 'test', 'fixtures', 'package'))
  for (const f of probes) copyFileSync(join(repoRoot, 'test', 'fixtures', 'package', f), join(project, f))
  const blocks = readmeBlocks(readFileSync(join(repoRoot, 'README.md'), 'utf8'))
  t.ok(blocks.length >= 5, `README.md has ${blocks.length} TypeScript blocks`)
  const names = blocks.map((b, i) => {
    const name = `readme-${String(i + 1).padStart(2, '0')}.ts`
    writeFileSync(join(project, name), b.source)
    return name
  })
  const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc')
  const where = (out: string): string => out.replace(/readme-(\d+)\.ts\((\d+)/g, (_, n: string, l: string) => `README.md line ${(blocks[Number(n) - 1]?.line ?? 0) + Number(l) - 1} (block ${n}, line ${l}`)
  for (const skipLibCheck of ['false', 'true']) {
    const r = spawnSync(process.execPath, [tsc, '--noEmit', '--skipLibCheck', skipLibCheck, '--rootDir', '.'], { cwd: project, encoding: 'utf8', timeout: 300_000 })
    t.equal(r.status, 0, `tsc with skipLibCheck ${skipLibCheck}:\n${where(r.stdout + r.stderr)}`)
  }

  const emitted = spawnSync(process.execPath, [tsc, '--rootDir', '.', '--outDir', 'out', '--sourceMap', 'false', '--declaration', 'false', '--declarationMap', 'false'], { cwd: project, encoding: 'utf8', timeout: 300_000 })
  t.equal(emitted.status, 0, emitted.stdout)

  t.test('CommonJS: require() and a TypeScript CommonJS module', async (t) => {
    t.match(run(process.execPath, ['require.cjs'], project), /^cjs 42 2$/m)
    t.match(run(process.execPath, [join('out', 'main.cjs')], project), /^cts 3$/m)
  })

  t.test('each README block runs', async (t) => {
    const args = await blockArguments(t)
    for (const [i, name] of names.entries()) {
      const block = blocks[i] as { line: number, source: string }
      // a block that needs more than python3 says so: `// usage: node NAME.js ARGS`
      const script = /\/\/ usage: node (\S+)\.js/.exec(block.source)?.[1]
      const argv = [join('out', name.replace(/\.ts$/, '.js'))]
      if (script !== undefined) {
        const given = args[script]
        if (given === undefined) {
          t.fail(`README.md line ${block.line}: block ${i + 1} is ${script}.js, for which this test has no arguments`)
          continue
        }
        if (given === null) continue // what it needs is missing here: a named skip above
        argv.push(...given)
      }
      const r = spawnSync(process.execPath, argv, { cwd: project, encoding: 'utf8', timeout: 120_000 })
      t.equal(r.status, 0, `README.md line ${block.line} (block ${i + 1}${script === undefined ? '' : `, ${script}.js`}) exits 0:\n${r.stdout}${r.stderr}`)
      t.not(r.stdout.trim(), '', `block ${i + 1} prints something`)
      if (/^usage: /m.test(r.stdout)) t.fail(`block ${i + 1} printed its usage: the arguments below do not fit it`)
    }
  })
})

/**
 * The arguments each README recipe that needs more than python3 gets, by the
 * script name its `// usage:` line gives; null where the interpreter or
 * service is missing (each a named skip, a failure under CI).
 */
async function blockArguments (t: Test): Promise<Record<string, string[] | null>> {
  const venv = need(t, venvPython(), 'the test venv with numpy')
  const py27 = need(t, cpython('2.7'), 'CPython 2.7 (pyenv)')
  const jy = need(t, jython(), 'jython (Debian package)')
  const sshd = need(t, await startSshd(), 'sshd (openssh-server)')
  const problem = slurmProblem()
  if (sshd !== null) t.teardown(async () => { await sshd.stop() })
  const cluster = problem === null ? await startCluster() : need(t, null, problem)
  if (cluster !== null) {
    t.teardown(async () => { await cluster.stop() })
    process.env.SLURM_CONF = cluster.conf
  }
  const numpy = venv === null ? null : [venv.argv[0] as string]
  return {
    numpy,
    bulk: numpy,
    reconfigure: py27 === null ? null : [py27.argv[0] as string], // the seed page's session is on 2.7
    jython: jy === null ? null : ['jython'],
    pool: [], // its default: popen, one worker per CPU
    // the test's sshd answers to the host name execnet-test through its ssh_config
    fanout: py27 === null || sshd === null ? null : [`popen//python=${py27.argv[0] as string}`, `ssh=-F ${sshd.config} execnet-test//python=python3`, 'popen'],
    // two workers on the test cluster (the recipe's srun inherits SLURM_CONF)
    slurm: cluster === null ? null : ['2', '--time=5']
  }
}

t.test('the README is for users: short, install first, the two commands CI and a new user run', async (t) => {
  const lines = readFileSync(join(repoRoot, 'README.md'), 'utf8').split('\n')
  t.ok(lines.length <= 401, `at most 400 lines (${lines.length})`)
  t.ok(lines.slice(0, 40).some((l) => l.trim() === 'npm install execnet'), '`npm install execnet` in the first 40 lines')
  const top = lines.slice(0, 8).join('\n')
  t.match(top, /npm install && npm run demo/, 'the demo command first')
  t.match(top, /^npm test\b/m, 'then the test command, which .ci/run runs')
  t.match(readFileSync(join(repoRoot, '.ci', 'run'), 'utf8'), /\nnpm test\n/, '.ci/run runs that very command')
  const engines = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node
  t.match(lines.slice(0, 40).join('\n'), new RegExp(`Node\\.js ${engines.replace('>=', '').replace('.', '\\.')}`), `the requirement matches engines (${engines})`)
})
