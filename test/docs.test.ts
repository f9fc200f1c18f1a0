// The API reference builds from the doc comments (npm run docs, typedoc),
// and every public export is documented: typedoc.json treats a missing doc
// comment as an error, so an undocumented export fails this test.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from './helpers/interpreters.js'

t.test('npm run docs: every export documented', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'execnet-docs-'))
  t.teardown(() => { rmSync(out, { recursive: true, force: true }) })
  const r = spawnSync(process.execPath, [join(repoRoot, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out], { cwd: repoRoot, encoding: 'utf8', timeout: 120000 })
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '').trim())
  for (const page of ['classes/Channel.html', 'classes/Gateway.html', 'functions/toNumpy.html', 'functions/decoder.html', 'interfaces/GatewayOptions.html']) {
    t.ok(existsSync(join(out, page)), page)
  }
  if (existsSync(join(out, 'classes/Channel.html'))) {
    t.match(readFileSync(join(out, 'classes/Channel.html'), 'utf8'), /bytesSent/, 'members are there too')
  }
})
