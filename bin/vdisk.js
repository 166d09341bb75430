#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/ (built by `npm run build`, run by `prepare`).
// Image I/O runs on libuv's thread pool; its default of 4 threads leaves concurrent requests
// queued behind each other (a convert overlaps reads and writes much better with 16). It must be
// set before the pool is first used, so here, before anything is imported.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { main } = await import('../dist/src/cli/index.js');

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`vdisk: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
