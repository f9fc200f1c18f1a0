// The README's first command runs examples/demo.ts: it must work and show
// the real execnet reading the file we wrote.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { repoRoot, venvPython, require } from './helpers/interpreters.js'

t.test('npm run demo', async (t) => {
  const venv = require(t, venvPython(), 'the test venv with execnet 2.x')
  const out = execFileSync(join(repoRoot, 'node_modules', '.bin', 'tsx'), [join(repoRoot, 'examples', 'demo.ts')], {
    cwd: repoRoot, encoding: 'utf8', env: { ...process.env, ...(venv !== null ? { EXECNET_PYTHON: venv.argv[0] } : {}) }
  })
  t.match(out, /Python 2 writes\s+014b0000000246000000004d0000000568656c6c6f5046000000014d00000005776f726c645051/, 'the bytes execnet 1.9 writes on Python 2')
  t.match(out, /py2strAsPy3str: true\s+\[ 'hello', 'world' \]/)
  t.match(out, /decoder\(\) read\s+\[ 'hello', 'world' \]/)
  if (venv !== null) t.match(out, /execnet\.loads: \['hello', 'world'\]/, 'real execnet loads our data.py23')
})
