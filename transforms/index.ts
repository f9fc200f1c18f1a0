// The Transform-stream factories: values <-> execnet bytes, frames <-> bytes.
export { encoder, type EncoderOptions } from './encoder.js'
export { decoder, type DecoderOptions } from './decoder.js'
export { frameEncoder, type FrameEncoderOptions } from './frame-encoder.js'
export { encodeFrame, type OutgoingFrame } from '../lib/wire/encode.js'
export { frameDecoder } from './frame-decoder.js'
export { FrameReader, type FrameDecoderOptions } from '../lib/wire/decode.js'
export type { ValueTransform } from '../lib/streams.js'
