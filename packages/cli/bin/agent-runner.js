#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/ (built by `tsc -b`, which `npm ci` runs).
import '../dist/bin.js';
