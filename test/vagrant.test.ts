// vagrant_ssh=NAME gateways, as execnet's: `vagrant ssh NAME -- -C ...
// COMMAND`. Vagrant is not installed here, so the command line is checked
// word for word (against execnet's own vagrant_ssh_args too), and a
// stand-in `vagrant` on PATH, which runs the remote command with sh as the
// machine's shell would, shows that a gateway really starts through it,
// directly and via another gateway. What vagrant itself does with the
// arguments after `--` (hand them to ssh) is not tested.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { BootstrapError, DEFAULT_KEEPALIVE, Gateway, Group, SpecError } from '../index.js'
import { cpython, require, venvPython } from './helpers/interpreters.js'
import { gone } from './helpers/processes.js'
import { tempDir } from './helpers/tmp.js'
import { vagrantCommand } from '../lib/transports/ssh.js'
import { parseSpec } from '../lib/spec.js'

const BOOTSTRAP = "'import sys;exec(eval(sys.stdin.readline()))'"

t.test('the vagrant command line', async (t) => {
  t.same(vagrantCommand(parseSpec('vagrant_ssh=default')), ['vagrant', 'ssh', 'default', '--', '-C', '-o', 'BatchMode=yes', `exec python3 -u -c ${BOOTSTRAP}`])
  t.same(vagrantCommand(parseSpec('vagrant_ssh=web-1//ssh_config=/c/cfg//python=python2.7 -E//chdir=/w d//env:A=b c//dont_write_bytecode')), [
    'vagrant', 'ssh', 'web-1', '--', '-C', '-o', 'BatchMode=yes', '-F', '/c/cfg',
    `mkdir -p '/w d' && cd '/w d' && exec env 'A=b c' python2.7 -E -u -B -c ${BOOTSTRAP}`
  ], 'ssh_config, python, chdir, env and -B as for ssh=')
  t.equal(parseSpec('vagrant_ssh=default//id=box').vagrantSsh, 'default')
  t.equal(parseSpec('vagrant_ssh=default').transport, 'vagrant_ssh')
})

t.test("the same words as execnet's vagrant_ssh_args, but for BatchMode and the remote command", async (t) => {
  const venv = require(t, venvPython(), 'the venv with execnet 2.x')
  if (venv === null) return
  for (const spec of ['vagrant_ssh=default', 'vagrant_ssh=box2//ssh_config=/c/cfg//python=python3']) {
    const r = spawnSync(venv.argv[0] as string, ['-c', 'import json, sys\nfrom execnet.gateway_io import vagrant_ssh_args\nfrom execnet.xspec import XSpec\nprint(json.dumps(vagrant_ssh_args(XSpec(sys.argv[1]))))', spec], { encoding: 'utf8' })
    t.equal(r.status, 0, r.stderr)
    const theirs = JSON.parse(r.stdout) as string[]
    const ours = vagrantCommand(parseSpec(spec))
    // ours adds -o BatchMode=yes after -C; the remote command is ours
    // (exec, -u, quoting, env and chdir) where execnet's is python -c "..."
    t.same(ours.slice(0, -1), [...theirs.slice(0, 5), '-o', 'BatchMode=yes', ...theirs.slice(5, -1)], spec)
    t.match(theirs.at(-1), /^python3? -c "import sys;exec\(eval\(sys\.stdin\.readline\(\)\)\)"$/)
  }
})

t.test('vagrant_ssh specs are checked like the others', async (t) => {
  const cases: Array<[string, RegExp, string]> = [
    ['vagrant_ssh', /vagrant_ssh needs a value/, 'vagrant_ssh'],
    ['vagrant_ssh=', /vagrant_ssh needs a value/, 'vagrant_ssh='],
    ['vagrant_ssh=two boxes', /one Vagrant machine name/, 'vagrant_ssh=two boxes'],
    ['vagrant_ssh=-h', /one Vagrant machine name/, 'vagrant_ssh=-h'],
    ['popen//vagrant_ssh=box', /more than one transport: popen, vagrant_ssh/, 'vagrant_ssh=box'],
    ['vagrant_ssh=box//ssh=host', /more than one transport/, 'vagrant_ssh=box'],
    ['popen//ssh_config=/c', /ssh_config needs ssh= or vagrant_ssh=/, 'ssh_config=/c']
  ]
  for (const [spec, message, part] of cases) {
    const err = (() => { try { parseSpec(spec); return null } catch (e) { return e } })()
    t.type(err, SpecError, spec)
    t.match((err as SpecError).message, message, spec)
    t.equal((err as SpecError).part, part, `part of ${spec}`)
  }
})

t.test('without vagrant: a BootstrapError naming the command', async (t) => {
  const saved = process.env.PATH
  process.env.PATH = tempDir(t, 'empty-path')
  t.teardown(() => { process.env.PATH = saved })
  const err = await Gateway.start('vagrant_ssh=default').catch((e: unknown) => e)
  t.type(err, BootstrapError)
  t.match((err as BootstrapError).message, /^cannot start vagrant ssh default -- -C -o BatchMode=yes -o ServerAliveInterval=5 -o ServerAliveCountMax=3 exec python3 .*ENOENT/)
})

/** A directory holding a stand-in `vagrant`, put first on PATH for the rest of this file's process. */
function fakeVagrant (t: Test): { dir: string, argv: () => string[] } {
  const dir = tempDir(t, 'vagrant')
  const script = join(dir, 'vagrant')
  writeFileSync(script, [
    '#!/bin/sh',
    '# `vagrant ssh NAME -- SSH_ARGS... COMMAND`: record the arguments, then',
    '# run COMMAND (the last one) with sh, as the machine\'s shell would',
    'printf \'%s\\n\' "$@" > "$(dirname "$0")/argv"',
    'for last; do :; done',
    'exec sh -c "$last"',
    ''
  ].join('\n'))
  chmodSync(script, 0o755)
  const saved = process.env.PATH
  process.env.PATH = `${dir}${delimiter}${saved ?? ''}`
  t.teardown(() => { process.env.PATH = saved })
  return { dir, argv: () => readFileSync(join(dir, 'argv'), 'utf8').split('\n').slice(0, -1) }
}

t.test('a gateway starts through a stand-in vagrant on PATH', async (t) => {
  const py = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (py === null) return
  const fake = fakeVagrant(t)
  const work = join(fake.dir, 'work dir')
  const spec = `vagrant_ssh=default//python=${py.argv[0] as string}//env:GREETING=hi there//chdir=${work}`
  const gw = await Gateway.start(spec, { stderr: 'pipe' })
  t.same(fake.argv(), vagrantCommand(parseSpec(spec), { keepAlive: DEFAULT_KEEPALIVE }).slice(1), 'vagrant got exactly the arguments built, the keep-alive too')
  t.equal(String(gw.spec), spec)
  const info = await gw.rinfo()
  t.equal(info.version_info.slice(0, 2).join('.'), '3.12')
  t.equal(info.cwd, work, 'chdir made and entered by the remote shell')
  t.equal(await gw.remoteExec('import os; channel.send(os.environ["GREETING"])').receive(), 'hi there')
  const ch = gw.remoteExec('for x in channel:\n    channel.send(x * 2)')
  for (let i = 0; i < 50; i++) await ch.send(i)
  ch.end()
  let sum = 0
  for await (const x of ch) sum += x as number
  t.equal(sum, 2450)
  t.same(await gw.terminate(5), { exitCode: 0, signal: null })
  t.ok(await gone(info.pid, 5000), 'the worker is gone')
})

t.test('vagrant_ssh via popen, through the stand-in', async (t) => {
  const py = require(t, cpython('3.12'), 'CPython 3.12 (pyenv)')
  if (py === null) return
  const fake = fakeVagrant(t)
  const group = new Group({ stderr: 'pipe' })
  t.teardown(() => group.terminate(5))
  // the jump worker inherits our PATH, so its relay finds the stand-in
  const jump = await group.makeGateway(`popen//id=jump//python=${py.argv[0] as string}`)
  const gw = await group.makeGateway(`vagrant_ssh=box//via=jump//python=${py.argv[0] as string}`)
  t.same(fake.argv().slice(0, 2), ['ssh', 'box'])
  const info = await gw.rinfo()
  t.not(info.pid, (await jump.rinfo()).pid, 'a process of its own')
  const ch = gw.remoteExec('channel.send(channel.receive() * 3)')
  await ch.send(14)
  t.equal(await ch.receive(), 42)
  await gw.terminate(5)
  t.ok(await gone(info.pid, 5000), 'the relayed worker is gone')
})
