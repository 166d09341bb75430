// `npm run bench -- aio`: the host-file I/O engines (QEMU's aio=threads|io_uring|native) and the
// read-buffer alignment, measured in-process on one file, so that the README's figures can be
// reproduced.
//
// - 4 KiB random reads at queue depth 32 with cache=none (O_DIRECT, so every read goes to the
//   device), for each engine this host runs (native needs O_DIRECT too);
// - 1 MiB sequential reads at queue depth 8 with cache=writeback from a warm page cache, for
//   threads and io_uring;
// - 2 MiB reads from the page cache into buffers that start at different offsets within a page
//   (0, 16 = where Node's large Buffers start, 64, 2832).
//
// The file (VDISK_BENCH_AIO_SIZE, default 1G, random bytes) lives in VDISK_BENCH_DIR, default the
// OS temp dir unless it is tmpfs (O_DIRECT needs a real file system), then bench/work.tmp.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const MiB = 1024 * 1024;
const TMPFS_MAGIC = 0x01021994;

function benchDir(root) {
  if (process.env.VDISK_BENCH_DIR) return process.env.VDISK_BENCH_DIR;
  const tmp = os.tmpdir();
  if (fs.statfsSync(tmp).type !== TMPFS_MAGIC) return tmp;
  const d = path.join(root, 'bench', 'work.tmp');
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** `qd` workers issuing reads of `bs` bytes at offsets from `next` until `count` are done. */
async function readJob(hf, bs, qd, count, next) {
  const { pageAlignedBuffer } = hf.block;
  let issued = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: qd }, async () => {
      const b = pageAlignedBuffer(bs);
      while (issued < count) {
        const at = next(issued++);
        await hf.file.read(at, b);
      }
    }),
  );
  return (performance.now() - t0) / 1000;
}

export async function run({ root }) {
  const block = await import(path.join(root, 'dist', 'src', 'block', 'index.js'));
  const size = Number(process.env.VDISK_BENCH_AIO_SIZE ?? 1024 * MiB);
  const dir = fs.mkdtempSync(path.join(benchDir(root), 'vdisk-bench-aio-'));
  const file = path.join(dir, 'data.raw');
  try {
    const fd = fs.openSync(file, 'w');
    for (let at = 0; at < size; at += 8 * MiB) fs.writeSync(fd, crypto.randomBytes(8 * MiB), 0, 8 * MiB, at);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    console.log(`aio benchmark: ${size / MiB} MiB file in ${dir}, ${os.cpus().length} CPUs`);
    console.log('job                              engine      result');

    const blocks = size / 4096;
    let x = 1;
    const random = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return ((x >>> 0) % blocks) * 4096;
    };
    for (const mode of block.AIO_MODES) {
      const why = block.aioUnavailable(mode);
      if (why) {
        console.log(`4k random read QD32 cache=none    ${mode.padEnd(10)}  skipped: ${why}`);
        continue;
      }
      const hf = await block.HostFile.open(file, { readOnly: true, lock: false, cache: 'none', aio: mode });
      try {
        const n = 50_000;
        const s = await readJob({ file: hf, block }, 4096, 32, n, random);
        console.log(`4k random read QD32 cache=none    ${mode.padEnd(10)}  ${Math.round(n / s)} IOPS`);
      } finally {
        await hf.close();
      }
    }
    for (const mode of ['threads', 'io_uring']) {
      if (block.aioUnavailable(mode)) continue;
      const hf = await block.HostFile.open(file, { readOnly: true, lock: false, aio: mode });
      try {
        const n = size / MiB;
        await readJob({ file: hf, block }, MiB, 8, n, (i) => i * MiB); // warm the page cache
        const s = await readJob({ file: hf, block }, MiB, 8, n, (i) => i * MiB);
        console.log(
          `1M read QD8 cached                ${mode.padEnd(10)}  ${Math.round(size / s / 1e6)} MB/s`,
        );
      } finally {
        await hf.close();
      }
    }
    // Where the destination starts within its page. Node's large Buffers (malloc'd with mmap)
    // start 16 bytes past a page boundary; page-cache pages are page-aligned.
    const rfd = fs.openSync(file, 'r');
    try {
      const chunk = 2 * MiB;
      const base = block.pageAlignedBuffer(chunk + 4096);
      const nodeOffset = block.native().pageOffset(Buffer.allocUnsafeSlow(chunk), 4096);
      console.log(`(a Node Buffer of 2 MiB starts ${nodeOffset} bytes into a page here)`);
      for (const off of [0, 16, 64, 2832, 0, 16]) {
        const b = base.subarray(off, off + chunk);
        const t0 = performance.now();
        for (let at = 0; at + chunk <= size; at += chunk) fs.readSync(rfd, b, 0, chunk, at);
        const ms = ((performance.now() - t0) * 1024 * MiB) / size;
        console.log(
          `2M cached reads, buffer at page offset ${String(off).padEnd(5)}       ${Math.round(ms)} ms per GiB`,
        );
      }
    } finally {
      fs.closeSync(rfd);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
