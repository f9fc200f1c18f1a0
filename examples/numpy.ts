// The seed page's "Connect to Python2/Numpy from Python3": send items to a
// remote numpy array and get back its repr.
import { makeGateway, defaultGroup, None } from '../index.js'
import { numpyPython } from './pythons.js'

const python = process.argv[2] ?? numpyPython()
if (python === null) {
  console.log('no Python with numpy found (set NUMPY_PYTHON, or `pip install numpy`)')
  process.exit(0)
}

const gw = await makeGateway(`popen//python=${python}`)
const channel = gw.remoteExec(`
    import numpy
    array = numpy.array([1,2,3])
    while 1:
        x = channel.receive()
        if x is None:
            break
        array = numpy.append(array, x)
    channel.send(repr(array))
`)
for (let x = 0; x < 10; x++) await channel.send(x)
await channel.send(None)
console.log(await channel.receive())
await defaultGroup.terminate()
