// ssh= gateways through the system's OpenSSH client to a real sshd on
// 127.0.0.1 (test/helpers/sshd.ts): the remote interpreter is python=,
// env and chdir apply remotely, ssh's own errors reach the user in bounded
// time, and no worker outlives its gateway. The channel suite also runs
// over ssh (test/channels.test.ts).
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BootstrapError, Gateway, SpecError } from '../index.js'
import { cpython, require } from './helpers/interpreters.js'
import { startSshd } from './helpers/sshd.js'
import { gone } from './helpers/processes.js'
import { sshCommand, shellQuote } from '../lib/transports/ssh.js'
import { parseSpec } from '../lib/spec.js'

const sshd = await startSshd()
t.teardown(async () => { await sshd?.stop() })

t.test('the ssh command line', async (t) => {
  const argv = sshCommand(parseSpec("ssh=-p 2222 me@host//ssh_config=/c/cfg//python=python2.7 -E//chdir=/w d//env:A=b c"))
  t.same(argv.slice(0, 9), ['ssh', '-C', '-o', 'BatchMode=yes', '-F', '/c/cfg', '-p', '2222', 'me@host'], '-C (compression) as execnet passes it')
  t.equal(argv.length, 10)
  t.equal(argv[9], "mkdir -p '/w d' && cd '/w d' && exec env 'A=b c' python2.7 -E -u -c 'import sys;exec(eval(sys.stdin.readline()))'")
  t.equal(shellQuote("it's"), "'it'\\''s'")
  t.throws(() => parseSpec('ssh=host//ssh_config'), SpecError)
  t.same(sshCommand(parseSpec('ssh=host'), { keepAlive: 7 }).slice(0, 9), ['ssh', '-C', '-o', 'BatchMode=yes', '-o', 'ServerAliveInterval=7', '-o', 'ServerAliveCountMax=3', 'host'], 'the keep-alive as ssh options, before the destination')
  t.equal(sshCommand(parseSpec('ssh=host'), { keepAlive: 0 }).length, 6, 'keepAlive 0: no options, ssh_config decides')
  t.notOk(sshCommand(parseSpec('ssh=-o ServerAliveInterval=30 host'), { keepAlive: 7 }).includes('ServerAliveInterval=7'), "the spec's own ServerAlive option is kept")
})

for (const minor of ['3.12', '2.7']) {
  t.test(`CPython ${minor} over ssh: python=, env, chdir; the worker ends with its gateway`, async (t) => {
    const interp = require(t, cpython(minor), `CPython ${minor} (pyenv)`)
    if (interp === null || require(t, sshd, 'sshd (Debian openssh-server)') === null || sshd === null) return
    const dir = join(sshd.config, '..', `work ${minor}`)
    const gw = await Gateway.start(`ssh=${sshd.host}//ssh_config=${sshd.config}//python=${interp.argv[0] as string}//env:GREETING=hi there//chdir=${dir}`, { stderr: 'pipe' })
    const info = await gw.rinfo()
    t.equal(info.version_info.slice(0, 2).join('.'), minor)
    t.equal(info.cwd, dir, 'chdir made and entered remotely')
    t.equal(await gw.remoteExec('import os; channel.send(os.environ["GREETING"])').receive(), 'hi there')
    const ch = gw.remoteExec('for x in channel:\n    channel.send(x + 1)')
    for (let i = 0; i < 100; i++) await ch.send(i)
    ch.end()
    let sum = 0
    for await (const x of ch) sum += x as number
    t.equal(sum, 5050)
    t.same(await gw.terminate(5), { exitCode: 0, signal: null })
    t.ok(await gone(info.pid, 5000), 'the remote worker is gone')

    const killed = await Gateway.start(`ssh=${sshd.host}//ssh_config=${sshd.config}//python=${interp.argv[0] as string}`, { stderr: 'pipe' })
    const pid = (await killed.rinfo()).pid
    killed.kill()
    await killed.waitExit()
    t.ok(await gone(pid, 10000), 'killing the ssh client ends the remote worker (end of its input)')
  })
}

t.test("ssh's own errors, in bounded time", async (t) => {
  if (require(t, sshd, 'sshd (Debian openssh-server)') === null || sshd === null) return
  const started = Date.now()
  const refused = await Gateway.start(`ssh=-p 1 127.0.0.1//ssh_config=${sshd.config}`).catch((e: unknown) => e)
  t.type(refused, BootstrapError)
  t.match((refused as BootstrapError).stderr, /Connection refused/)
  t.match((refused as BootstrapError).message, /exited before it was ready \(exited with code 255\)/)

  // a key the server does not know: BatchMode makes ssh fail instead of asking for a password
  const stranger = join(sshd.config, '..', 'stranger_config')
  writeFileSync(stranger, `Host execnet-test\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  IdentityFile /nonexistent\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n`)
  const denied = await Gateway.start(`ssh=${sshd.host}//ssh_config=${stranger}`).catch((e: unknown) => e)
  t.type(denied, BootstrapError)
  t.match((denied as BootstrapError).stderr, /Permission denied/)

  // a host key nobody vouched for: BatchMode makes ssh refuse instead of asking
  const strict = join(sshd.config, '..', 'strict_config')
  writeFileSync(join(sshd.config, '..', 'empty_known_hosts'), '')
  writeFileSync(strict, readFileSync(sshd.config, 'utf8').replace(/StrictHostKeyChecking no/, 'StrictHostKeyChecking yes').replace(/UserKnownHostsFile .*/, `UserKnownHostsFile ${join(sshd.config, '..', 'empty_known_hosts')}`))
  const unverified = await Gateway.start(`ssh=${sshd.host}//ssh_config=${strict}`).catch((e: unknown) => e)
  t.type(unverified, BootstrapError)
  t.match((unverified as BootstrapError).stderr, /Host key verification failed/)

  const unknown = await Gateway.start(`ssh=${sshd.host}//ssh_config=${sshd.config}//python=/no/such/python`).catch((e: unknown) => e)
  t.type(unknown, BootstrapError)
  t.match((unknown as BootstrapError).stderr, /\/no\/such\/python/)
  t.ok(Date.now() - started < 30000, `all within ${Date.now() - started} ms`)
})
