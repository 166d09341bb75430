#!/usr/bin/env node
// Entry point: the compiled CLI, bundled into dist/bundle/ (built by `npm run build`, which
// `prepare` runs; scripts/bundle.mjs says why it is bundled).
// Image I/O runs on libuv's thread pool, 4 threads by default. The size must be set before the
// pool is first used. On Node 20 this line is too late: the loader reads an ES module entry
// point through the pool (fs/promises), so the pool has started before the first line runs, and
// it keeps 4 threads unless UV_THREADPOOL_SIZE was already in the environment (a running
// `img convert` has 11 threads, 23 with the variable set outside). Only an entry point that is
// not an ES module could set it from here. On the bench machine, convert with 16 threads was not
// reliably faster than with 4 (docs/benchmarks.md).
process.env.UV_THREADPOOL_SIZE ??= '16';
const { main } = await import('../dist/bundle/index.js');

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`vdisk: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
