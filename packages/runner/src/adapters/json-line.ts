/**
 * Strict JSON Lines access for the classifiers: a line counts only when the whole line is one
 * JSON object. Anything else (text, partial JSON, arrays, JSON inside a longer line) is not
 * an event, which is what keeps tool output and prose from classifying a round.
 */

/** A parsed JSON object. */
export type JsonObject = Record<string, unknown>;

/**
 * Parses a line that is exactly one JSON object (leading/trailing whitespace allowed).
 * @returns the object, or undefined for any other line. Never throws.
 */
export function parseJsonObjectLine(text: string): JsonObject | undefined {
  const t = text.trim();
  // Cheap pre-check: most non-event lines are rejected without calling JSON.parse.
  if (t.length < 2 || t.charCodeAt(0) !== 123 /* { */ || t.charCodeAt(t.length - 1) !== 125 /* } */) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined; // SyntaxError: agent output that only looks like an object
  }
}

/** True for a plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `o[key]` when it is a string. */
export function str(o: JsonObject | undefined, key: string): string | undefined {
  const v = o?.[key];
  return typeof v === 'string' ? v : undefined;
}

/** `o[key]` when it is a finite number. */
export function num(o: JsonObject | undefined, key: string): number | undefined {
  const v = o?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** `o[key]` when it is a boolean. */
export function bool(o: JsonObject | undefined, key: string): boolean | undefined {
  const v = o?.[key];
  return typeof v === 'boolean' ? v : undefined;
}

/** `o[key]` when it is an object. */
export function obj(o: JsonObject | undefined, key: string): JsonObject | undefined {
  const v = o?.[key];
  return isObject(v) ? v : undefined;
}

/** `o[key]` when it is an array. */
export function arr(o: JsonObject | undefined, key: string): unknown[] | undefined {
  const v = o?.[key];
  return Array.isArray(v) ? v : undefined;
}
