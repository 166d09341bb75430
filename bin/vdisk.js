#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/ (built by `npm run build`, run by `prepare`).
import { main } from '../dist/src/cli/index.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`vdisk: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
