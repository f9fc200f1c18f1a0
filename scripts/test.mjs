#!/usr/bin/env node
// The test command (npm test): type-check, build, run every tap test, and
// end with the plain "N passed, N failed, N skipped" line CI reads (tap's
// own summary is not in that form). Extra arguments go to tap.
import { spawnSync, spawn } from 'node:child_process'

const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx'
let failedSteps = 0

for (const [label, args] of [['type-check', ['tsc', '-p', 'tsconfig.json', '--noEmit']], ['build', ['tsc', '-p', 'tsconfig.build.json']]]) {
  const r = spawnSync(npx, args, { stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`${label} failed`)
    failedSteps++
  }
}

const tap = spawn(npx, ['tap', ...process.argv.slice(2)], { stdio: ['inherit', 'pipe', 'inherit'] })
let summary = null
let tail = ''
tap.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  tail = (tail + chunk.toString('utf8')).slice(-4096)
  const m = tail.match(/# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?(?:, todo: (\d+))?/g)
  if (m) summary = m[m.length - 1]
})
tap.on('close', (code) => {
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
