// The Transform-stream factories: values <-> execnet bytes, frames <-> bytes.
export { encoder, type EncoderOptions } from './encoder.js'
export { decoder, type DecoderOptions } from './decoder.js'
export { frameEncoder, encodeFrame, type OutgoingFrame, type FrameEncoderOptions } from './frame-encoder.js'
export { frameDecoder, FrameReader, type FrameDecoderOptions } from './frame-decoder.js'
