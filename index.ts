// Package entry (dist/index.js): the core API and the stream factories.
export * from './lib/index.js'
export * from './transforms/index.js'
