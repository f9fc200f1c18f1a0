// The library's public API: everything a user imports comes through here.
export { dumps, Encoder, type DumpOptions } from './serializer/dumps.js'
export { loads, Loader, ZERO_COPY_BYTES, type LoadOptions, type Emit } from './serializer/loads.js'
export {
  Tuple, tuple, FrozenSet, Complex, Float, float, Long, Py2Str, Unicode,
  PyNone, None, ChannelRef, channelId, type ChannelLike, type PyValue
} from './serializer/types.js'
export { OP, opcodeName, type FormatVersion } from './serializer/opcodes.js'
export { DEFAULT_MAX_DEPTH, DEFAULT_MAX_VALUE_SIZE } from './serializer/limits.js'
export {
  MessageCode, CHANNEL_CREDIT, messageCodeName, isMessageCode, HEADER_SIZE, DEFAULT_MAX_FRAME_SIZE,
  type Frame, type MessageCodeName, type MessageCodeValue
} from './wire/frame.js'
export { ExecnetError, DataFormatError, DumpError, OptionError, ItemError } from './errors.js'
export { SpecError, RemoteError, TimeoutError, ChannelClosedError, GatewayClosedError, BootstrapError, SlurmError, type ExitInfo } from './errors.js'
export { parseSpec, splitCommand, type Spec, type WorkerKind } from './spec.js'
export { Channel, PROGRESS_STEP, type StrConfig, type ResolvedStrConfig, type ReceiveOptions, type CallbackOptions, type Progress, type ChannelEvents } from './channel.js'
export { type ViaHost } from './transports/via.js'
export { type InstallHost } from './transports/socket.js'
export { type SlurmJob } from './transports/slurm.js'
export { Gateway, DEFAULT_KEEPALIVE, DEFAULT_SPIN, DEFAULT_WINDOW, type GatewayEvents, type GatewayOptions, type RemoteStatus, type RInfo, type RemoteExecOptions, type RemoteSource } from './gateway.js'
export { Group, MultiChannel, ReceiveQueue, defaultGroup, makeGateway, type ChannelItem } from './group.js'
export { dedent } from './source.js'
export { dtypeOf, toNumpy, fromNumpy, type TypedArray } from './arrays.js'
export { RSync, type RSyncOptions, type RSyncTargetOptions, type RSyncResult, type RSyncEvent } from './rsync.js'
export { type RemoteFunction, type CallOptions } from './call.js'
export { type FunctionOptions } from './function-target.js'
export { Pool, type PoolOptions, type PoolEvents } from './pool/pool.js'
export { type PoolFunction, type MapOptions, type ImapOptions, DEFAULT_WINDOW_ITEMS } from './pool/function.js'
