/**
 * The package's version for `execnet --version`, read from its
 * package.json. The command runs as bin/execnet.ts (tsx), as the built
 * dist/bin/execnet.js, and from an installed package
 * (node_modules/execnet/dist/bin/execnet.js): package.json is one or two
 * directories up, so it is looked for upwards from this module, and only
 * this package's counts (a project's own package.json lies further up).
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ExecnetError } from '../errors.js'

const PACKAGE_NAME = 'execnet'

/** The version in the package.json of the package this module belongs to. */
export function packageVersion (from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    let text: string | null = null
    try {
      text = readFileSync(join(dir, 'package.json'), 'utf8')
    } catch {
      // none here: one directory up
    }
    if (text !== null) {
      const pkg = JSON.parse(text) as { name?: unknown, version?: unknown }
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === 'string') return pkg.version
    }
    if (dirname(dir) === dir) throw new ExecnetError(`no package.json of ${PACKAGE_NAME} above ${from}`)
  }
}
