// `npm run bench -- convert`: `vdisk img convert` against `qemu-img convert`, same files, same run.
//
// Makes a sparse raw image (default 2 GiB) about half full of random data, in runs of 1-8 MiB
// at random places with holes (never written) between them, then converts it (and qcow2/vmdk
// copies made by qemu-img) with both tools, one after the other, and prints the wall-clock
// seconds of each, and vdisk's time divided by qemu-img's.
//
// Fairness: before every timed run the output is deleted, dirty pages are synced, and the image
// files are evicted from the page cache (POSIX_FADV_DONTNEED), so that both tools read their
// source from the disk. The programs themselves stay cached, as on any machine where they have
// run before: dropping the whole page cache (echo 3 > /proc/sys/vm/drop_caches, as this bench
// did before) also evicted Node's 100 MB binary and vdisk's modules, which then cost a 1 MiB
// convert 0.24-0.27 s against qemu-img's 0.04 s, and measured loading programs from the disk
// rather than converting. Where eviction fails, the source is read once beforehand instead, so
// that both tools start from a warm cache. Both tools run with their defaults: the target in
// cache mode unsafe (no fsync at the end), 8 requests in flight, 4 KiB sparse detection. The
// time is that of the whole process, startup included; the sync after it is not timed. Each
// vdisk output is checked with qemu-img compare.
//
// Memory: right before every timed run, a child process touches 1.5x the image size of memory
// (at most half of what is free) and exits (`prefault` below). The bench machine is a VM whose
// balloon device reports free guest memory to the host (free page reporting): memory that has
// stayed free for about 2 s goes back to the host, and the next process to use it faults it in
// again from the host. The page cache that a convert fills is fresh memory, so without this
// step a run's time depended on how long the memory had been idle before it: writing 1 GiB into
// the page cache took 0.23-0.45 s right after freeing memory and 2.33-2.90 s after 6 s idle
// (docs/benchmarks.md, "Run 10"). VDISK_BENCH_PREFAULT=0 leaves it out.
//
// Both tools run without NODE_EXTRA_CA_CERTS (see `env` below).
//
// Environment: VDISK_BENCH_SIZE (default 2G), VDISK_BENCH_DIR (default: the OS temp dir unless it
// is tmpfs, then bench/work.tmp), VDISK_BENCH_SEED (default 1), VDISK_BENCH_KEEP=1 keeps files,
// VDISK_BENCH_REPEAT=N times every case N times per tool, alternating which tool goes first, and
// prints the medians (and the range): on a shared machine one run of each says little.
// VDISK_BENCH_PREFAULT=0 skips the memory step above.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median } from './stats.mjs';

const MiB = 1024 * 1024;
const TMPFS_MAGIC = 0x01021994;

function parseSize(text) {
  const m = /^(\d+(?:\.\d+)?)([kmgt]?)i?b?$/i.exec(text.trim());
  if (!m) throw new Error(`VDISK_BENCH_SIZE: cannot read '${text}' (use e.g. 2G or 512M)`);
  const mult = { '': 1, k: 1024, m: MiB, g: 1024 * MiB, t: 1024 * 1024 * MiB }[m[2].toLowerCase()];
  return Math.floor(Number(m[1]) * mult);
}

/** xorshift32: the same layout for the same seed. */
function prng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function benchDir(root) {
  if (process.env.VDISK_BENCH_DIR) return process.env.VDISK_BENCH_DIR;
  const tmp = os.tmpdir();
  if (fs.statfsSync(tmp).type !== TMPFS_MAGIC) return tmp;
  return path.join(root, 'bench', 'work.tmp');
}

/**
 * The environment both tools run in: this one without NODE_EXTRA_CA_CERTS. Where it is set (some
 * build sandboxes set it for every process), Node parses that whole CA bundle when it starts,
 * before any of our code runs: 60 ms per start on the bench machine, for certificates that
 * `img convert` never uses. qemu-img ignores the variable either way.
 */
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB, env, ...opts });
  if (r.error) throw r.error;
  return r;
}

function must(cmd, args) {
  const r = sh(cmd, args);
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r;
}

/** A sparse raw file of `size` bytes, about half of it random data in 1-8 MiB runs. */
function makeSource(file, size, seed) {
  const rand = prng(seed);
  const fd = fs.openSync(file, 'w');
  let data = 0;
  try {
    fs.ftruncateSync(fd, size);
    const buf = Buffer.allocUnsafe(8 * MiB);
    const runLength = () => Math.max(4096, Math.floor((1 + rand() * 7) * (MiB / 4096)) * 4096);
    for (let pos = Math.floor((rand() * MiB) / 4096) * 4096; pos < size;) {
      const len = Math.min(runLength(), size - pos);
      crypto.randomFillSync(buf, 0, len);
      fs.writeSync(fd, buf, 0, len, pos);
      data += len;
      pos += len + runLength(); // the hole after it is never written
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return data;
}

/**
 * Evicts one file's pages from the page cache (posix_fadvise POSIX_FADV_DONTNEED, through GNU
 * dd's documented `iflag=nocache count=0`); false when that failed. Clean pages only: the caller
 * syncs first.
 */
function evict(file) {
  return sh('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']).status === 0;
}

/** Before a timed run: the images cold (evicted), or, where eviction failed, warm for both tools. */
function coldCache(images) {
  sh('sync', []);
  for (const file of images) {
    if (!evict(file)) sh('cat', [file], { stdio: ['ignore', 'ignore', 'ignore'] });
  }
}

/**
 * Touches `bytes` of memory in a child process that then exits, so that the timed run after it
 * finds that much free memory backed by the host (see the header).
 */
function prefault(bytes) {
  const chunks = Math.max(1, Math.round(bytes / (128 * MiB)));
  must(process.execPath, [
    '-e',
    `const keep = []; for (let i = 0; i < ${chunks}; i++) keep.push(Buffer.alloc(${128 * MiB}, 1));`,
  ]);
}

function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = sh(cmd, args);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  sh('sync', []);
  return { seconds, ok: r.status === 0, error: (r.stderr || r.stdout).trim().split('\n')[0] };
}

function hasVmdk(root) {
  const image = fs.readFileSync(path.join(root, 'dist', 'src', 'formats', 'image.js'), 'utf8');
  return /IMAGE_FORMATS\s*=\s*\[[^\]]*'vmdk'/.test(image);
}

export async function run({ root }) {
  const size = parseSize(process.env.VDISK_BENCH_SIZE ?? '2G');
  const seed = Number(process.env.VDISK_BENCH_SEED ?? 1);
  const repeat = Number(process.env.VDISK_BENCH_REPEAT ?? 1);
  if (!(Number.isInteger(repeat) && repeat >= 1))
    throw new Error(`VDISK_BENCH_REPEAT: '${process.env.VDISK_BENCH_REPEAT}' is not a count of runs`);
  const prefaultBytes = process.env.VDISK_BENCH_PREFAULT === '0' ? 0 : Math.min(1.5 * size, os.freemem() / 2);
  const dir = fs.mkdtempSync(path.join(benchDir(root), 'vdisk-bench-'));
  const vdisk = path.join(root, 'bin', 'vdisk.js');
  const f = (name) => path.join(dir, name);
  try {
    console.log(
      `convert benchmark in ${dir} (${fs.statfsSync(dir).type === TMPFS_MAGIC ? 'tmpfs' : 'disk'})`,
    );
    const data = makeSource(f('src.raw'), size, seed);
    console.log(
      `source: ${(size / MiB).toFixed(0)} MiB raw, ${(data / MiB).toFixed(0)} MiB of random data ` +
        `in 1-8 MiB runs (seed ${seed}); ${os.cpus().length} CPUs; ` +
        'images evicted from the page cache before every run',
    );
    console.log(
      prefaultBytes > 0
        ? `memory: ${(prefaultBytes / MiB).toFixed(0)} MiB touched and freed by a child process ` +
            'right before every run (VDISK_BENCH_PREFAULT=0 skips it)'
        : 'memory: not prefaulted (VDISK_BENCH_PREFAULT=0)',
    );
    if (process.env.NODE_EXTRA_CA_CERTS !== undefined)
      console.log('NODE_EXTRA_CA_CERTS is set here: both tools run without it (see bench/convert.mjs)');
    must('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', f('src.raw'), f('src.qcow2')]);
    const vmdk = hasVmdk(root);
    if (vmdk) must('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', f('src.raw'), f('src.vmdk')]);
    const images = [f('src.raw'), f('src.qcow2'), ...(vmdk ? [f('src.vmdk')] : [])];

    const cases = [
      { name: 'qcow2 -> raw', src: 'src.qcow2', args: ['-f', 'qcow2', '-O', 'raw'], out: 'out.raw' },
      { name: 'raw -> qcow2', src: 'src.raw', args: ['-f', 'raw', '-O', 'qcow2'], out: 'out.qcow2' },
      { name: 'raw -> qcow2 -c', src: 'src.raw', args: ['-f', 'raw', '-O', 'qcow2', '-c'], out: 'out.qcow2' },
      {
        name: 'vmdk -> qcow2',
        src: 'src.vmdk',
        args: ['-f', 'vmdk', '-O', 'qcow2'],
        out: 'out.qcow2',
        skip: vmdk ? undefined : 'skipped: the vmdk driver has not landed (vmdk is not in IMAGE_FORMATS)',
      },
    ];
    const rows = [];
    for (const [i, c] of cases.entries()) {
      if (c.skip) {
        rows.push({ name: c.name, note: c.skip });
        console.log(`${c.name}: ${c.skip}`);
        continue;
      }
      const runs = { vdisk: [], 'qemu-img': [] };
      for (let r = 0; r < repeat; r++) {
        // Alternate which tool goes first, so neither always gets the fresher disk.
        const order = (i + r) % 2 ? ['qemu-img', 'vdisk'] : ['vdisk', 'qemu-img'];
        for (const tool of order) {
          fs.rmSync(f(c.out), { force: true });
          coldCache(images);
          if (prefaultBytes > 0) prefault(prefaultBytes);
          const argv = [...c.args, f(c.src), f(c.out)];
          let run =
            tool === 'vdisk'
              ? timed(process.execPath, [vdisk, 'img', 'convert', ...argv])
              : timed('qemu-img', ['convert', ...argv]);
          if (tool === 'vdisk' && run.ok) {
            const cmp = sh('qemu-img', ['compare', '-f', c.args[1], f(c.src), f(c.out)]);
            if (cmp.status !== 0) run = { ...run, ok: false, error: `wrong output: ${cmp.stdout.trim()}` };
          }
          runs[tool].push(run);
          console.log(
            `${c.name}: ${tool} ${run.ok ? `${run.seconds.toFixed(2)} s` : `failed: ${run.error}`}`,
          );
        }
      }
      rows.push({ name: c.name, vdisk: summary(runs.vdisk), 'qemu-img': summary(runs['qemu-img']) });
    }
    printTable(rows, repeat);
  } finally {
    if (process.env.VDISK_BENCH_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The median of a case's runs of one tool (all must have succeeded), with their spread. */
function summary(runs) {
  const failed = runs.find((r) => !r.ok);
  if (failed) return failed;
  const seconds = runs.map((r) => r.seconds);
  return { ok: true, seconds: median(seconds), min: Math.min(...seconds), max: Math.max(...seconds) };
}

function printTable(rows, repeat) {
  const cell = (r) =>
    r
      ? r.ok
        ? r.seconds.toFixed(2) + (repeat > 1 ? ` (${r.min.toFixed(2)}-${r.max.toFixed(2)})` : '')
        : 'failed'
      : '-';
  const unit = repeat > 1 ? `s, median of ${repeat} (range)` : 's';
  // With repeats, the best runs' ratio too: on the bench machine the disk under the VM made
  // qemu-img bimodal (qcow2 -> raw: 0.61-0.87 s or 1.08-1.77 s; docs/benchmarks.md), which a median hides.
  const head = ['case', `vdisk ${unit}`, `qemu-img ${unit}`, 'vdisk/qemu-img'];
  const lines = [repeat > 1 ? [...head, 'best/best'] : head];
  for (const r of rows) {
    if (r.note) {
      lines.push([r.name, '-', '-', r.note]);
      continue;
    }
    const both = r.vdisk?.ok && r['qemu-img']?.ok;
    const ratio = both ? (r.vdisk.seconds / r['qemu-img'].seconds).toFixed(2) : '-';
    const best = both ? (r.vdisk.min / r['qemu-img'].min).toFixed(2) : '-';
    lines.push([r.name, cell(r.vdisk), cell(r['qemu-img']), ratio, ...(repeat > 1 ? [best] : [])]);
  }
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  console.log('');
  for (const l of lines)
    console.log(
      l
        .map((v, i) => (i === 0 ? v.padEnd(widths[i]) : i >= 3 ? v.padEnd(widths[i]) : v.padStart(widths[i])))
        .join('  ')
        .trimEnd(),
    );
}
