// The API reference builds from the doc comments (npm run docs, typedoc),
// and every public export is documented: typedoc.json treats a missing doc
// comment as an error, so an undocumented export fails this test. The
// reference is grouped by task (@category on each export): a new export
// without one, or a category renamed, fails here too.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from './helpers/interpreters.js'

/** typedoc.json's categoryOrder, as the index page must show it. */
const CATEGORIES = ['Gateways', 'Channels', 'Groups', 'Calls and pools', 'Serializer', 'Python values', 'Streams', 'Arrays and numpy', 'File sync', 'Errors', 'Wire format (low level)']

/** Exports that must be where a user looks for them; the low-level names stay out of the way, at the end. */
const MEMBERS: Record<string, string[]> = {
  Gateways: ['makeGateway', 'Gateway', 'GatewayOptions', 'parseSpec'],
  Channels: ['Channel', 'ReceiveOptions', 'Progress'],
  Groups: ['Group', 'MultiChannel'],
  'Calls and pools': ['Pool', 'RemoteFunction', 'PoolFunction'],
  Serializer: ['dumps', 'loads', 'LoadOptions'],
  'Python values': ['Tuple', 'None', 'PyNone'],
  Streams: ['decoder', 'encoder'],
  'Arrays and numpy': ['toNumpy', 'fromNumpy'],
  'File sync': ['RSync'],
  Errors: ['RemoteError', 'DataFormatError', 'GatewayClosedError', 'ItemError'],
  'Wire format (low level)': ['OP', 'HEADER_SIZE', 'MessageCode', 'FrameReader', 'Loader', 'Encoder', 'frameDecoder']
}

/** Pages of the main entry points, each with an @example. */
const EXAMPLES = [
  'functions/makeGateway.html', 'classes/Gateway.html', 'classes/Channel.html', 'classes/Group.html',
  'functions/dumps.html', 'functions/loads.html', 'functions/decoder.html', 'functions/encoder.html',
  'functions/toNumpy.html', 'classes/RSync.html', 'classes/Pool.html'
]

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
  if (!existsSync(join(out, 'index.html'))) return

  // the index lists the exports by task, in typedoc.json's categoryOrder,
  // each with its description, and nothing falls into typedoc's "Other"
  const sections = categoriesOf(readFileSync(join(out, 'index.html'), 'utf8'))
  t.same([...sections.keys()], CATEGORIES, 'the index page lists the categories, in order')
  t.notOk(sections.has('Other'), 'every export has a category')
  const index = readFileSync(join(out, 'index.html'), 'utf8')
  t.match(index, /Start a worker/, 'category descriptions are on the index page')
  for (const [category, names] of Object.entries(MEMBERS)) {
    for (const name of names) t.ok(sections.get(category)?.has(name), `${name} is under ${category}`)
  }

  // the main entry points each show an example
  for (const page of EXAMPLES) {
    const file = join(out, page)
    t.ok(existsSync(file) && readFileSync(file, 'utf8').includes('class="tsd-tag-example"'), `${page} has an @example`)
  }
})

/** The index page's sections: each h2 heading and the names of the pages it links to. */
function categoriesOf (html: string): Map<string, Set<string>> {
  const sections = new Map<string, Set<string>>()
  for (const part of html.split(/<h2[^>]*>/).slice(1)) {
    const [heading = '', rest = ''] = part.split('</h2>')
    const body = rest.split('</details>')[0] as string // the section ends with its accordion
    const title = heading.replace(/<[^>]+>/g, '').trim()
    if (title === '' || /^(Settings|On This Page)$/.test(title)) continue
    const names = [...body.matchAll(/href="(?:[a-z]+)\/([^"#/]+)\.html/g)].map((m) => decodeURIComponent(m[1] as string))
    sections.set(title, new Set(names))
  }
  return sections
}
