#!/usr/bin/env node
// Prints ledgerFacts(<ledger file>) as JSON: the soak runs it inside the sandbox.
import { ledgerFacts } from './collect.js';

process.stdout.write(JSON.stringify(ledgerFacts(process.argv[2] ?? '')));
