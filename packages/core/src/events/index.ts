/**
 * `@agent-runner/core/events`: the typed JSONL event stream — catalogue, writer, readers,
 * follower, retention and the docs renderer.
 */
export type { EventKind, EventPayload } from './catalogue.js';
export { EVENT_CATALOGUE, EVENT_KINDS, kindSpec } from './catalogue.js';
export type {
  BaseFieldType,
  EventEnvelope,
  EventRecord,
  EventSeverity,
  EventUnit,
  FieldSpec,
  FieldType,
  FieldValue,
  KindSpec,
} from './types.js';
export { ENVELOPE_FIELDS, EVENT_SEVERITIES, EVENT_UNITS } from './types.js';
export { lintCatalogue, validateEvent } from './validate.js';
export type { EmitMeta, EventWriterOptions } from './writer.js';
export { EventWriter } from './writer.js';
export type { EventCursor } from './files.js';
export { EVENT_FILE_RE, MAX_EVENT_LINE_BYTES, dayOfFile, eventFileName, listEventFiles, utcDay } from './files.js';
export type { ScanStats } from './lines.js';
export { parseEventLine } from './lines.js';
export type { EventsSinceOptions, EventsSinceResult, LastEventsOptions, LastEventsResult } from './reader.js';
export { DEFAULT_SKEW_MS, endCursor, eventsSince, lastEvents } from './reader.js';
export type { FollowedEvent, FollowOptions } from './follower.js';
export { followEvents } from './follower.js';
export type { PrunedFile, PruneOptions, PruneResult } from './retention.js';
export { pruneEvents } from './retention.js';
export { renderEventsDoc } from './docs.js';
export { isEventOfKind } from './guards.js';
export type { TypedEvent } from './guards.js';
