import { redactStrings, redactText } from '../redact.js';

/**
 * JSON columns are TEXT with a `json_valid` CHECK. `undefined` and `null` are stored as SQL
 * NULL, so "no evidence" and "evidence: null" read back the same way (as `null`). Strings are
 * redacted (core/redact): the ledger persists.
 */
export function toJsonColumn(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return JSON.stringify(redactStrings(value));
}

/** A free-text column (a title, a reason, an error), redacted: the ledger persists. */
export function textColumn(value: string): string;
export function textColumn(value: string | null | undefined): string | null;
export function textColumn(value: string | null | undefined): string | null {
  return value === undefined || value === null ? null : redactText(value);
}

/** Parses a JSON column; SQL NULL reads as `null`. */
export function fromJsonColumn(text: string | null): unknown {
  return text === null ? null : (JSON.parse(text) as unknown);
}

/** SQLite returns integers as numbers (safe below 2^53, which ms timestamps and counts are). */
export type Row = Record<string, unknown>;

/** Reads a nullable number column. */
export function num(row: Row, col: string): number | null {
  const v = row[col];
  return v === null || v === undefined ? null : Number(v);
}

/** Reads a nullable text column. */
export function str(row: Row, col: string): string | null {
  const v = row[col];
  return v === null || v === undefined ? null : String(v);
}

/**
 * Rounds a number bound to an INTEGER column. Tables are STRICT, which rejects a fractional
 * REAL there (a monotonic `performance.now()` duration would otherwise fail the write).
 */
export function int(v: number | null | undefined): number | null {
  return v === null || v === undefined ? null : Math.round(v);
}
