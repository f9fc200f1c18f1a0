/**
 * execnet for TypeScript: start Python interpreters (CPython 2.7 to 3.13,
 * PyPy, Jython; locally, over ssh, through a socket server or another
 * gateway), run Python source in them and exchange Python values with them
 * in execnet's wire format, on Node streams. Every duration is in seconds,
 * as in execnet; a Python None is null wherever a value is returned.
 *
 * @categoryDescription Gateways
 * Start a worker (makeGateway, a spec such as `popen//python=python2.7` or
 * `ssh=host`), run code in it (remoteExec), end it (terminate).
 * @categoryDescription Channels
 * One conversation with remote code: send/receive promises and an
 * object-mode Duplex for pipelines, flow-controlled, with progress.
 * @categoryDescription Groups
 * Many gateways at once: Group, makeGateways, MultiChannel and its items()
 * in arrival order.
 * @categoryDescription Calls and pools
 * A Python function's return value (gw.call, gw.function), and one function
 * over several workers (Pool: map, imap, a Duplex), with retries.
 * @categoryDescription Serializer
 * execnet's dumps/loads: Python values to bytes and back, format versions
 * 1 (execnet 1.x, Python 2) and 2, with execnet's string-coercion options.
 * @categoryDescription Python values
 * JavaScript types for the Python values that have no natural twin
 * (tuple, frozenset, complex, Python 2 str and long, None in streams).
 * @categoryDescription Streams
 * Transform streams over the serializer: a .py23 file to values and back.
 * @categoryDescription Arrays and numpy
 * Typed arrays as numpy's (dtype, bytes, shape), without copies.
 * @categoryDescription File sync
 * RSync: a directory tree to many gateways, only what changed.
 * @categoryDescription Errors
 * One error class per kind of failure, all ExecnetErrors.
 * @categoryDescription Wire format (low level)
 * execnet's opcodes and message frames, the codec's reusable state: for
 * tools that speak the protocol themselves.
 * @packageDocumentation
 */
// Package entry (dist/index.js): the core API and the stream factories.
// The reference keeps the declarations whole in a project whose tsconfig
// lists no types (tsc --init writes "types": []): they name Buffer and node:stream.
/// <reference types="node" preserve="true" />
export * from './lib/index.js'
export * from './transforms/index.js'
