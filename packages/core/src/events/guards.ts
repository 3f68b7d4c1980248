import type { EventKind, EventPayload } from './catalogue.js';
import type { EventEnvelope, EventRecord } from './types.js';

/** An event of a known kind as read back: envelope plus that kind's payload fields. */
export type TypedEvent<K extends EventKind> = EventEnvelope & { kind: K } & EventPayload<K>;

/**
 * Narrows a read-back event to kind `K`. Checks only `kind`: lines written by other versions
 * may lack newer optional fields, so treat optional fields as possibly absent.
 */
export function isEventOfKind<K extends EventKind>(event: EventRecord, kind: K): event is EventRecord & TypedEvent<K> {
  return event.kind === kind;
}
