// The seed page's "Work with Java objects from CPython": fill a
// java.util.Vector in Jython and iterate its items back over the channel.
import { makeGateway, defaultGroup } from '../index.js'
import { jython } from './pythons.js'

const python = process.argv[2] ?? jython()
if (python === null) {
  console.log('no jython found (set JYTHON, or install Debian\'s jython)')
  process.exit(0)
}

const gw = await makeGateway(`popen//python=${python}`)
const channel = gw.remoteExec(`
    from java.util import Vector
    v = Vector()
    v.add('aaa')
    v.add('bbb')
    for val in v:
        channel.send(val)
`)
for await (const item of channel) console.log(item)
await defaultGroup.terminate()
