// `npm run build`, second step: bundles the compiled command line (dist/src/cli/index.js and what
// it imports, commander included) into dist/bundle/, which bin/vdisk.js runs.
//
// Why: Node 20 loads an ES module graph file by file, resolving, reading and compiling each one.
// The 58 modules that `vdisk img convert` loads took 40-65 ms of a 0.09 s process. From the
// bundle, a 1 MiB raw -> raw convert, `img info` and `--version` each take 0.059-0.061 s where
// they took 0.090-0.094 s (hyperfine, means of 40 runs; `node -e 0` takes 0.030 s). qemu-img
// users call `vdisk img` from scripts, many times over.
//
// Code splitting keeps each verb's own code, and the server stacks behind `nbd` and `iscsi`, in
// chunks that are loaded only when that verb runs (main.ts imports them dynamically), as the
// unbundled modules were.
//
// The native addons stay outside the bundle: zstd-napi and @node-rs/crc32 are resolved from
// node_modules at run time, and block/native.ts finds build/Release/vdisk_native.node relative
// to the chunk it ends up in. commander is CommonJS and calls require() for node: built-ins,
// which an ES module does not have: the banner gives each chunk one.
//
// Tests import dist/src directly; every test that runs the `vdisk` command runs the bundle.
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'bundle');

// Chunk names carry a content hash: old ones would pile up.
fs.rmSync(outdir, { recursive: true, force: true });
await esbuild.build({
  entryPoints: [path.join(root, 'dist', 'src', 'cli', 'index.js')],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['zstd-napi', '@node-rs/crc32'],
  banner: {
    js: "import { createRequire as vdiskCreateRequire } from 'node:module'; const require = vdiskCreateRequire(import.meta.url);",
  },
  sourcemap: true,
  logLevel: 'warning',
});
