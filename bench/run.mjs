#!/usr/bin/env node
// Benchmarks of vdisk against the QEMU tools, run side by side on the same files in one run.
// Usage: npm run bench [-- NAME...]   (no name: every benchmark). Needs `npm run build` first.
// Not part of `npm test`: the benchmarks take minutes and need gigabytes of local disk.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCHMARKS = {
  convert: () => import('./convert.mjs'),
  nbd: () => import('./nbd.mjs'),
  iscsi: () => import('./iscsi.mjs'),
  aio: () => import('./aio.mjs'),
};

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
if (!fs.existsSync(path.join(root, 'dist', 'src', 'cli', 'index.js'))) {
  console.error('bench: dist/ is missing: run `npm run build` first');
  process.exit(1);
}
const names = process.argv.slice(2);
for (const name of names) {
  if (!(name in BENCHMARKS)) {
    console.error(`bench: unknown benchmark '${name}': use one of ${Object.keys(BENCHMARKS).join(', ')}`);
    process.exit(1);
  }
}
for (const name of names.length ? names : Object.keys(BENCHMARKS)) {
  const mod = await BENCHMARKS[name]();
  await mod.run({ root });
}
