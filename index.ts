// Package entry (dist/index.js): the core API and the stream factories.
// The reference keeps the declarations whole in a project whose tsconfig
// lists no types (tsc --init writes "types": []): they name Buffer and node:stream.
/// <reference types="node" preserve="true" />
export * from './lib/index.js'
export * from './transforms/index.js'
