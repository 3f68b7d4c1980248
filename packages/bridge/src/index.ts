/**
 * `@agent-runner/bridge/index`: the bridge daemon (`start`) and its building blocks (the
 * package exports only these modules and `daemon`, `dispatcher`, `http`, `transports/index`).
 */
export { start, type BridgeDeps } from './daemon.js';
export { Dispatcher, type DispatcherDeps, type DispatchStats } from './dispatcher.js';
export { createTransport } from './transports/index.js';
export type { InboundMessage, OutMessage, PollResult, ReplyTarget, SendResult, Transport, TransportContext } from './transport.js';
export { SendError } from './send-error.js';
