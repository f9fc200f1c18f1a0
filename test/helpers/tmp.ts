// Temporary directories that go away with the test that made them: a suite
// run many times a day must not leave a directory per run in /tmp.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

interface Teardown { teardown: (fn: () => void) => void }

/** A new directory under the system temp dir, removed when `t` ends. */
export function tempDir (t: Teardown, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `execnet-${prefix}-`))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}
