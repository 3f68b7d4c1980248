/**
 * The shapes of the event catalogue and the TypeScript types derived from it, so that
 * `emit('round_end', {...})` is checked against the same table the writer validates at run
 * time and `docs/events.md` is rendered from.
 */

/** The processes that emit events; the `unit` field of every line. */
export type EventUnit = 'runner' | 'bridge' | 'watchdog' | 'monitor' | 'cli';

/** All units, in the order docs list them. */
export const EVENT_UNITS: readonly EventUnit[] = ['runner', 'bridge', 'watchdog', 'monitor', 'cli'];

/** How much an operator should care, after syslog(3) levels (no `alert`/`emerg`). */
export type EventSeverity = 'debug' | 'info' | 'notice' | 'warning' | 'error' | 'critical';

/** All severities, least to most severe. */
export const EVENT_SEVERITIES: readonly EventSeverity[] = ['debug', 'info', 'notice', 'warning', 'error', 'critical'];

/** JSON types a payload field may have; `integer` is a `number` with no fraction. */
export type BaseFieldType = 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array';

/** A field type; the `|null` forms also accept JSON `null` (known-absent, as opposed to omitted). */
export type FieldType = BaseFieldType | `${BaseFieldType}|null`;

/** One payload field of an event kind. */
export interface FieldSpec {
  readonly type: FieldType;
  /** Required fields must be present (a `|null` type still allows `null`). */
  readonly required: boolean;
  /** One line, for docs/events.md. */
  readonly description: string;
  /** For strings: the longest value accepted, in UTF-16 code units (JS `length`). */
  readonly maxLength?: number;
}

/** One kind of event. A kind is never renamed; a breaking payload change gets a new kind. */
export interface KindSpec {
  /** Payload version, starting at 1; bumped for compatible additions (written as `v`). */
  readonly version: number;
  /** The units allowed to emit this kind. */
  readonly units: readonly EventUnit[];
  readonly severity: EventSeverity;
  /** One line, for docs/events.md. */
  readonly description: string;
  readonly fields: { readonly [name: string]: FieldSpec };
}

/**
 * The envelope fields of every line, in the order they are written:
 * `{"v":…,"ts":…,"kind":…,"unit":…,"project":…,"round":…, …payload}`.
 * Payload field names may not be any of these.
 */
export const ENVELOPE_FIELDS = ['v', 'ts', 'kind', 'unit', 'project', 'round'] as const;

/** The envelope of a line as read back. */
export interface EventEnvelope {
  /** Version of the kind's payload (the catalogue's `version` when written). */
  v: number;
  /** ISO-8601 UTC timestamp with milliseconds, e.g. `2026-05-01T12:00:00.000Z`. */
  ts: string;
  kind: string;
  unit: string;
  project: string;
  /** The round the event belongs to, when it belongs to one. */
  round?: number;
}

/**
 * An event as read back from a file: the envelope plus the flattened payload. Readers do not
 * validate payloads (lines may come from older or newer versions), only the envelope types.
 */
export type EventRecord = EventEnvelope & { [field: string]: unknown };

type BaseValue<B> = B extends 'string'
  ? string
  : B extends 'integer' | 'number'
    ? number
    : B extends 'boolean'
      ? boolean
      : B extends 'object'
        ? Readonly<Record<string, unknown>>
        : B extends 'array'
          ? readonly unknown[]
          : never;

/** The TypeScript type of a value of field type `T`. */
export type FieldValue<T> = T extends `${infer B}|null` ? BaseValue<B> | null : BaseValue<T>;

type Flatten<T> = { [K in keyof T]: T[K] };

/** The payload type of a kind spec: required fields required, others optional. */
export type PayloadOfSpec<S extends KindSpec> = keyof S['fields'] extends never
  ? Record<string, never>
  : Flatten<
      {
        -readonly [F in keyof S['fields'] as S['fields'][F]['required'] extends true ? F : never]: FieldValue<S['fields'][F]['type']>;
      } & {
        -readonly [F in keyof S['fields'] as S['fields'][F]['required'] extends true ? never : F]?: FieldValue<S['fields'][F]['type']>;
      }
    >;
