import { createRequire } from 'node:module';

/**
 * better-sqlite3's `Database` constructor. Loaded with `require`: imported as ESM, node first
 * scans the CommonJS sources for named exports (~4 ms of every cold start of every verb).
 */
export const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
