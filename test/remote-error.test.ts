// RemoteError.type: the raised exception's class, read from the remote
// traceback as each interpreter prints it (CPython 2.7 and 3.6-3.13 with
// their chains, notes, carets and exception groups, PyPy, Jython; our
// worker and the real execnet's), and the texts it cannot be read from.
import t from 'tap'
import { Channel, Gateway, RemoteError } from '../index.js'
import { jython, require } from './helpers/interpreters.js'
import { execnetTargets, oursTargets, specFor } from './helpers/targets.js'

interface Case {
  name: string
  source: string
  /** The expected type, from the remote (major, minor) and whether it is Jython. */
  type: (v: { major: number, minor: number, jython: boolean }) => string | undefined
}

const cases: Case[] = [
  { name: 'a message over two lines', source: 'raise ValueError("bad\\nthing")', type: () => 'ValueError' },
  { name: 'no message', source: 'raise ValueError', type: () => 'ValueError' },
  { name: 'bare SystemExit', source: 'raise SystemExit', type: () => 'SystemExit' },
  { name: 'SystemExit(3)', source: 'raise SystemExit(3)', type: () => 'SystemExit' },
  {
    name: 'a class defined in the source',
    source: 'class MyError(Exception):\n    pass\nraise MyError("x")',
    // Python 3's traceback qualifies it by its module; Python 2's does not
    type: (v) => v.major === 3 ? '__channelexec__.MyError' : 'MyError'
  },
  {
    name: 'a class of another module',
    source: 'class MyError(Exception):\n    pass\nMyError.__module__ = "mymod"\nraise MyError("x")',
    type: (v) => v.major === 3 ? 'mymod.MyError' : 'MyError'
  },
  {
    name: 'raised while handling another: the last one',
    source: 'try:\n    1 / 0\nexcept Exception:\n    raise KeyError("k")',
    type: () => 'KeyError'
  },
  {
    name: 'raised from another (Python 3)',
    source: 'import sys\nif sys.version_info[0] >= 3:\n    exec("try:\\n    1 / 0\\nexcept Exception as e:\\n    raise LookupError(\'k\') from e")\nraise LookupError("k")',
    type: () => 'LookupError'
  },
  {
    name: 'notes after the message (3.11+)',
    source: 'e = ValueError("n")\nif hasattr(e, "add_note"):\n    e.add_note("NotAType: a note")\n    e.add_note("another")\nraise e',
    type: () => 'ValueError'
  },
  {
    name: 'caret lines under the source (3.11+)',
    source: 'def f(a):\n    return a["x"]["y"] + 1\nf({"x": {"y": None}})',
    type: () => 'TypeError'
  },
  { name: 'a SyntaxError in exec()', source: 'exec("x = (")', type: () => 'SyntaxError' },
  { name: 'a SyntaxError in the source itself', source: 'x = (', type: () => 'SyntaxError' },
  {
    name: 'an exception group (3.11+), raised while handling another',
    source: 'import sys\nif sys.version_info >= (3, 11):\n    try:\n        1 / 0\n    except Exception:\n        exec("raise ExceptionGroup(\'eg\', [ValueError(1), TypeError(2)])")\nraise ValueError(0)',
    type: (v) => v.major === 3 && v.minor >= 11 && !v.jython ? 'ExceptionGroup' : 'ValueError'
  },
  {
    name: 'a plain exception raised while handling a group (3.11+)',
    source: 'import sys\ntry:\n    if sys.version_info >= (3, 11):\n        exec("raise ExceptionGroup(\'eg\', [ValueError(1)])")\n    1 / 0\nexcept Exception:\n    raise KeyError("after")',
    type: () => 'KeyError'
  },
  {
    name: "a message holding another traceback: the outer exception's",
    source: 'raise RuntimeError("the inner call failed:\\nTraceback (most recent call last):\\n  File \\"x\\", line 1\\nValueError: inner")',
    type: () => 'RuntimeError'
  }
]

for (const target of [...oursTargets(), ...execnetTargets()]) {
  t.test(target.label, async (t) => {
    const interp = require(t, target.find(), target.what)
    if (interp === null) return
    const gw = await Gateway.start(specFor(interp, target.worker), { stderr: 'pipe' })
    t.teardown(async () => { await gw.terminate(5) })
    const info = await gw.rinfo()
    const version = { major: info.version_info[0] as number, minor: info.version_info[1] as number, jython: info.platform.startsWith('java') }
    for (const c of cases) {
      const error = await gw.remoteExec(c.source).waitClose().then(() => null, (err: unknown) => err)
      if (!(error instanceof RemoteError)) {
        t.fail(`${c.name}: a RemoteError, not ${String(error)}`)
        continue
      }
      t.equal(error.type, c.type(version), `${c.name}: ${JSON.stringify(error.type)} from\n${error.formatted}`)
    }
    if (target.worker === 'ours') {
      // execnet's workers re-raise a KeyboardInterrupt, which ends them
      const error = await gw.remoteExec('raise KeyboardInterrupt').waitClose().then(() => null, (err: unknown) => err)
      t.equal((error as RemoteError).formatted, 'keyboard-interrupted', "execnet's fixed text")
      t.equal((error as RemoteError).type, 'KeyboardInterrupt')
    }
  })
}

t.test('texts without a traceback have no type', async (t) => {
  const gw = await Gateway.start('popen', { stderr: 'pipe' })
  t.teardown(async () => { await gw.terminate(5) })
  // remote code cannot close its own channel: it closes one it made
  const ch = gw.remoteExec('other = channel.gateway.newchannel()\nchannel.send(other)\nother.close("ValueError: only a text")')
  const other = await ch.receive()
  const error = await (other as Channel).waitClose().then(() => null, (err: unknown) => err)
  t.ok(error instanceof RemoteError)
  t.equal((error as RemoteError).formatted, 'ValueError: only a text')
  t.equal((error as RemoteError).type, undefined, 'a text given to channel.close(text) names no class')
})

t.test('the parse, on texts', async (t) => {
  const tb = (...lines: string[]): string => ['Traceback (most recent call last):', '  File "<remote exec>", line 1, in <module>', ...lines, ''].join('\n')
  t.equal(new RemoteError(tb('ValueError: x')).type, 'ValueError')
  t.equal(new RemoteError(tb('ValueError: x').replace(/\n/g, '\r\n')).type, 'ValueError', 'CRLF line ends')
  t.equal(new RemoteError(tb('\tat java.base/java.lang.Integer.parseInt(Integer.java:668)', 'java.lang.NumberFormatException: java.lang.NumberFormatException: For input string: "x"')).type, 'java.lang.NumberFormatException', "Jython's Java frames are skipped")
  t.equal(new RemoteError(tb('Outer$Inner: x')).type, 'Outer$Inner', "a Java inner class's $")
  t.equal(new RemoteError(tb('Fehler\u00e4: x')).type, 'Fehler\u00e4', 'a non-ASCII identifier')
  t.equal(new RemoteError(tb('<unprintable exception>')).type, undefined, 'an exception line without a class name')
  t.equal(new RemoteError(tb('ValueError:x')).type, undefined, "Python always writes ': ' after the class")
  t.equal(new RemoteError('Traceback (most recent call last):\n  File "x", line 1\n').type, undefined, 'a text cut before its exception line')
  t.equal(new RemoteError('').type, undefined)
  t.equal(new RemoteError('keyboard-interrupted').type, 'KeyboardInterrupt')
  // a chain sentence inside a message does not start a new traceback unless a header follows it
  t.equal(new RemoteError(tb('ValueError: a', '', 'During handling of the above exception, another exception occurred:', '', 'not a header')).type, 'ValueError')
  t.equal(new RemoteError(tb('ValueError: a', '', 'The above exception was the direct cause of the following exception:', '', ...tb('KeyError: b').split('\n'))).type, 'KeyError')
})

t.test('Jython: a Java exception in remote code fails its channel, not the worker', async (t) => {
  const jy = require(t, jython(), 'jython (Debian package)')
  if (jy === null) return
  const gw = await Gateway.start(specFor(jy), { stderr: 'pipe' })
  t.teardown(async () => { await gw.terminate(10) })
  const err = await gw.remoteExec('from java.lang import Integer\nInteger.parseInt("x")').receive().catch((e: unknown) => e)
  t.type(err, RemoteError)
  t.equal((err as RemoteError).type, 'NumberFormatException')
  t.match((err as RemoteError).formatted, /For input string: "x"/)
  // the same from a receiver callback, which runs on the worker's reading thread
  const ch = gw.remoteExec('import time\nfrom java.lang import Integer\nchannel.setcallback(lambda item: Integer.parseInt(item))\nchannel.send("ready")\nwhile not channel.isclosed():\n    time.sleep(0.05)')
  t.equal(await ch.receive(), 'ready')
  ch.send('y')
  await t.rejects(ch.waitClose(20), /NumberFormatException/)
  t.equal(await gw.remoteExec('channel.send(6 * 7)').receive(), 42, 'the worker goes on')
})
