#!/usr/bin/env node
// The test command (npm test): type-check, build, run every tap test, and
// end with the plain "N passed, N failed, N skipped" line CI reads (tap's
// own summary is not in that form). Extra arguments go to tap.
import { spawnSync, spawn } from 'node:child_process'

const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx'
let failedSteps = 0

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
// the build is the package's own script: it also copies lib/python/ into
// dist. It comes first: the benchmarks import the built package by its name
// ('execnet'), and the type-check reads its declarations from dist
for (const [label, cmd, args] of [['build', npm, ['run', '-s', 'build']], ['type-check', npx, ['tsc', '-p', 'tsconfig.json', '--noEmit']]]) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`${label} failed`)
    failedSteps++
  }
}

// tap's own reporters animate the terminal; CI logs want plain lines. Run
// the raw TAP and print each test file's and top-level subtest's result,
// plus the full report of anything that failed.
const tap = spawn(npx, ['tap', '--reporter=tap', ...process.argv.slice(2)], { stdio: ['inherit', 'pipe', 'inherit'] })
let summary = null
let rest = ''
let failBlock = -1 // indentation of the "not ok" whose YAML block is being printed
function line (l) {
  const indent = l.length - l.trimStart().length
  const trimmed = l.trimStart()
  if (failBlock >= 0) {
    if (trimmed === '' || indent > failBlock) {
      console.log(l)
      return
    }
    failBlock = -1
  }
  if (/^not ok /.test(trimmed)) {
    console.log(l)
    failBlock = indent
  } else if (/^ok /.test(trimmed) && indent <= 4) {
    console.log(l)
  } else if (/^# \{ total:/.test(trimmed)) {
    summary = trimmed
    console.log(l)
  } else if (/^# (time=|Subtest: test)/.test(trimmed) || /^Bail out!/.test(trimmed)) {
    console.log(l)
  } else if (/^(Statements|Branches|Functions|Lines)\s*:/.test(trimmed)) {
    console.log(l)
  }
}
tap.stdout.on('data', (chunk) => {
  rest += chunk.toString('utf8')
  const lines = rest.split('\n')
  rest = lines.pop() ?? ''
  for (const l of lines) line(l)
})
tap.on('close', (code) => {
  if (rest !== '') line(rest)
  let passed = 0
  let failed = failedSteps
  let skipped = 0
  if (summary !== null) {
    const field = (name) => Number((summary.match(new RegExp(`${name}: (\\d+)`)) ?? [])[1] ?? 0)
    passed = field('pass')
    failed += field('fail')
    skipped = field('skip') + field('todo')
    if (code !== 0 && field('fail') === 0) failed++ // tap failed without a failing assertion (a crash, a timeout)
  } else {
    failed++
  }
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
  process.exit(failed > 0 ? 1 : 0)
})
