// XSpec parsing: execnet's syntax, and a SpecError naming the bad part
// where execnet would silently ignore it.
import t from 'tap'
import { parseSpec, splitCommand, SpecError } from '../index.js'
import { withId } from '../lib/spec.js'

t.test('execnet specs parse to their parts', async (t) => {
  const s = parseSpec('popen//python=python2.7//chdir=/tmp/x//nice=5//env:FOO=bar=baz//dont_write_bytecode//id=w1//execmodel=thread')
  t.equal(s.transport, 'popen')
  t.equal(s.python, 'python2.7')
  t.equal(s.chdir, '/tmp/x')
  t.equal(s.nice, 5)
  t.same(s.env, { FOO: 'bar=baz' }, 'only the first = splits')
  t.equal(s.dontWriteBytecode, true)
  t.equal(s.id, 'w1')
  t.equal(s.execmodel, 'thread')
  t.equal(s.worker, 'ours')
  t.equal(parseSpec('ssh=me@host//ssh_config=/x/cfg').ssh, 'me@host')
  t.equal(parseSpec('socket=localhost:8888').socket, 'localhost:8888')
  t.equal(parseSpec('popen//via=gw0').via, 'gw0')
  t.equal(parseSpec('popen//worker=execnet').worker, 'execnet')
})

t.test("String(spec) is the spec's text, as str(XSpec)", async (t) => {
  const text = 'popen//python=python3//env:A=b//id=w1'
  const s = parseSpec(text)
  t.equal(String(s), text)
  t.equal(`${s}`, text, 'in a template string')
  t.equal(s.toString(), text)
  t.equal(`spec ${parseSpec('ssh=me@host')}`, 'spec ssh=me@host')
  // only the fields are enumerable, as before: comparisons and JSON see no method
  t.notOk(Object.keys(s).includes('toString'))
  t.equal(JSON.parse(JSON.stringify(s)).text, text)
  t.same({ ...s }, { ...parseSpec(text) })
  t.equal(String(withId(parseSpec('popen//id=a'), 'gw3')), 'popen//id=gw3', 'a group\'s renamed spec too')
})

t.test('bad specs name the part at fault', async (t) => {
  const cases: Array<[string, RegExp, string]> = [
    ['popen//pyhton=python3', /unknown key "pyhton"/, 'pyhton=python3'],
    ['popen//popen', /duplicate key "popen"/, 'popen'],
    ['python=python3', /no transport/, ''],
    ['popen//ssh=host', /more than one transport/, 'ssh=host'],
    ['popen//nice=fast', /nice must be an integer/, 'nice=fast'],
    ['popen//execmodel=gevent', /execmodel must be/, 'execmodel=gevent'],
    ['popen//python=', /python needs a value/, 'python='],
    ['popen//dont_write_bytecode=1', /takes no value/, 'dont_write_bytecode=1'],
    ['socket=nohost', /socket must be host:port/, 'socket=nohost'],
    ['popen//env:1X=2', /bad environment variable name/, 'env:1X=2'],
    ['popen//python=python3 "unclosed', /unterminated double quote/, 'python=python3 "unclosed'],
    ['popen//worker=mine', /worker must be ours or execnet/, 'worker=mine'],
    ['popen////id=x', /empty key/, ''],
    ['', /empty spec/, '']
  ]
  for (const [spec, message, part] of cases) {
    const err = (() => { try { parseSpec(spec); return null } catch (e) { return e } })()
    t.type(err, SpecError, spec)
    t.match((err as SpecError).message, message, spec)
    t.equal((err as SpecError).part, part, `part of ${spec}`)
  }
})

t.test('python= splits as a shell would', async (t) => {
  t.same(splitCommand('python3 -X dev'), ['python3', '-X', 'dev'])
  t.same(splitCommand(`"/opt/my python/bin/python" -c 'a b' x\\ y`), ['/opt/my python/bin/python', '-c', 'a b', 'x y'])
  t.same(splitCommand('a "b\\"c"'), ['a', 'b"c'])
  t.throws(() => splitCommand('  '), SpecError)
  t.throws(() => splitCommand("'x"), SpecError)
})
