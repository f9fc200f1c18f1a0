#!/usr/bin/env node
// Part of `npm run build`: the worker's source deflated and its version key,
// made once here instead of in every process's first gateway start-up
// (lib/bootstrap.ts reads them from dist/lib/python/worker.pack.json).
import { writeFileSync } from 'node:fs'
import { packWorker, WORKER_PACK_FILE } from '../dist/lib/bootstrap.js'

writeFileSync(new URL(`../dist/lib/python/${WORKER_PACK_FILE}`, import.meta.url), JSON.stringify(packWorker()) + '\n')
