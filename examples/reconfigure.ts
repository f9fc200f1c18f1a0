// The seed page's "Reconfiguring the string coercion between python2 and
// python3", from a TypeScript master: against a Python 2.7 worker by
// default, or the interpreter given as the first argument.
import { makeGateway, defaultGroup } from '../index.js'
import { python27 } from './pythons.js'

const python = process.argv[2] ?? python27()
if (python === null) {
  console.log('no Python 2.7 found (set PYTHON27)')
  process.exit(0)
}

const gw = await makeGateway(`popen//python=${python}`)
const show = (label: string, value: unknown): void => { console.log(label.padEnd(58), value) }

show(`gw.remoteExec("channel.send('hello')").receive()`, await gw.remoteExec("channel.send('hello')").receive())

let ch = gw.remoteExec('channel.send(type(channel.receive()).__name__)')
await ch.send('a')
show("ch.send('a') -> type name", await ch.receive())

gw.reconfigure({ py3strAsPy2str: true })
ch = gw.remoteExec('channel.send(type(channel.receive()).__name__)')
await ch.send('a')
show("after gw.reconfigure({py3strAsPy2str: true})", await ch.receive())

ch = gw.remoteExec('channel.send(type(channel.receive()).__name__)')
ch.reconfigure({ py2strAsPy3str: false })
await ch.send('a')
show('after ch.reconfigure({py2strAsPy3str: false})', await ch.receive())

await defaultGroup.terminate()
