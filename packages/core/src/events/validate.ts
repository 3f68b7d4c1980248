import { AgentRunnerError } from '../errors.js';
import { EVENT_CATALOGUE } from './catalogue.js';
import { kindSpec } from './catalogue.js';
import type { FieldType, KindSpec } from './types.js';
import { ENVELOPE_FIELDS, EVENT_SEVERITIES, EVENT_UNITS } from './types.js';

function typeMatches(type: FieldType, value: unknown): boolean {
  if (value === null) return type.endsWith('|null');
  const base = type.endsWith('|null') ? type.slice(0, -5) : type;
  switch (base) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isSafeInteger(value);
    case 'number':
      // JSON has no NaN or Infinity: JSON.stringify would silently write null.
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return typeof value === 'object' && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    default:
      return false;
  }
}

function invalid(kind: string, message: string, key?: string, expected?: string, found?: string): AgentRunnerError {
  return new AgentRunnerError('ERR_AR_EVENT_INVALID', `event ${kind}: ${message}`, {
    ...(key === undefined ? {} : { key: `${kind}.${key}` }),
    ...(expected === undefined ? {} : { expected }),
    ...(found === undefined ? {} : { found }),
  });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (typeof value === 'number' && !Number.isInteger(value)) return `number ${value}`;
  return typeof value;
}

/**
 * Checks an event before it is written: the kind is catalogued, `unit` may emit it, every
 * required field is present, no unknown field is, and each value has its field's JSON type
 * (and length limit). Nested objects and arrays are not inspected beyond their type.
 * Fields whose value is `undefined` count as absent (JSON.stringify drops them).
 *
 * @returns the kind's spec.
 * @throws AgentRunnerError ERR_AR_EVENT_INVALID naming the kind and field.
 */
export function validateEvent(kind: string, unit: string, payload: Readonly<Record<string, unknown>>): KindSpec {
  const spec = kindSpec(kind);
  if (!spec) throw invalid(kind, 'unknown event kind', undefined, 'a kind of the event catalogue (docs/events.md)');
  if (!(spec.units as readonly string[]).includes(unit)) {
    throw invalid(kind, `unit ${JSON.stringify(unit)} may not emit this kind`, undefined, spec.units.join(' | '), unit);
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw invalid(kind, 'payload must be an object', undefined, 'object', describe(payload));
  }
  for (const [name, value] of Object.entries(payload)) {
    if (value === undefined) continue;
    const field = Object.prototype.hasOwnProperty.call(spec.fields, name) ? spec.fields[name] : undefined;
    if (!field) {
      throw invalid(kind, `unknown field ${JSON.stringify(name)}`, name, Object.keys(spec.fields).join(', ') || 'no fields');
    }
    if (!typeMatches(field.type, value)) {
      throw invalid(kind, `field ${name} must be ${field.type}`, name, field.type, describe(value));
    }
    if (field.maxLength !== undefined && typeof value === 'string' && value.length > field.maxLength) {
      throw invalid(
        kind,
        `field ${name} is longer than ${field.maxLength} characters`,
        name,
        `at most ${field.maxLength} characters`,
        `${value.length} characters`,
      );
    }
  }
  for (const [name, field] of Object.entries(spec.fields)) {
    if (field.required && payload[name] === undefined) {
      throw invalid(kind, `required field ${name} is missing`, name, field.type, 'absent');
    }
  }
  return spec;
}

const SNAKE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

/**
 * Lints the catalogue itself: snake_case names, integer versions >= 1, known units and
 * severities, one-line descriptions, no payload field named like an envelope field.
 * @returns a list of problems, empty when the catalogue is sound.
 */
export function lintCatalogue(catalogue: Readonly<Record<string, KindSpec>> = EVENT_CATALOGUE): string[] {
  const problems: string[] = [];
  const envelope = new Set<string>(ENVELOPE_FIELDS);
  const oneLine = (s: string): boolean => s.trim().length > 0 && !/[\r\n]/.test(s);
  for (const [kind, spec] of Object.entries(catalogue)) {
    if (!SNAKE.test(kind)) problems.push(`${kind}: kind name is not snake_case`);
    if (!Number.isInteger(spec.version) || spec.version < 1) problems.push(`${kind}: version must be an integer >= 1`);
    if (spec.units.length === 0) problems.push(`${kind}: no emitting unit`);
    for (const u of spec.units) if (!EVENT_UNITS.includes(u)) problems.push(`${kind}: unknown unit ${u}`);
    if (!EVENT_SEVERITIES.includes(spec.severity)) problems.push(`${kind}: unknown severity ${spec.severity}`);
    if (!oneLine(spec.description)) problems.push(`${kind}: description must be one non-empty line`);
    for (const [name, field] of Object.entries(spec.fields)) {
      if (envelope.has(name)) problems.push(`${kind}.${name}: payload field collides with the envelope`);
      if (!SNAKE.test(name)) problems.push(`${kind}.${name}: field name is not snake_case`);
      if (!oneLine(field.description)) problems.push(`${kind}.${name}: description must be one non-empty line`);
      if (field.maxLength !== undefined && !field.type.startsWith('string')) {
        problems.push(`${kind}.${name}: maxLength on a non-string field`);
      }
    }
  }
  return problems;
}
