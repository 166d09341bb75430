// `npm run bench -- iscsi`: `vdisk iscsi serve` against tgtd (Debian's tgt) serving the same raw
// file, and against vdisk's own NBD server on it (the stretch reference), with the same jobs,
// one server after the other in one run.
//
// Jobs (the goal: vdisk >= 1.5x tgtd at 4 KiB random read and write QD32 and at 1 MiB
// sequential):
// - iscsi-perf (libiscsi; it only reads): 4 KiB random read QD32, 1 MiB sequential read QD1 and
//   QD8, each for VDISK_BENCH_RUNTIME seconds. The tgtd reference on tmpfs, 2 cores:
//   29-35K IOPS and 1.1-1.3 GB/s (tgtd reads 1 MiB fastest at QD1 here: with more requests in
//   flight its 16 I/O threads and the initiator compete for the 2 cores).
// - `qemu-img bench` (QEMU's libiscsi driver over iscsi://, its NBD driver over nbd:// for vdisk
//   nbd): 4 KiB random read and write QD32, 1 MiB sequential read and write QD8. qemu-img bench
//   has no random mode, so the random jobs step by 100003 x 4 KiB, which wraps at the end of the
//   image and visits every 4 KiB block once per cycle in a scattered order (the image has 2^n
//   blocks, 100003 is odd). It runs a request count, not a time: a short calibration run sizes
//   the measured run to about VDISK_BENCH_RUNTIME seconds. fio has no libiscsi engine in Debian
//   (`fio --enghelp`), so it is not used here.
//
// Setup: one raw image (VDISK_BENCH_ISCSI_SIZE, default 1G) in VDISK_BENCH_DIR (default /dev/shm,
// as the reference figures are on tmpfs), fully written with random bytes so reads hit data.
// vdisk serves it with cache=writeback; tgtd with its default rdwr backing store (pread/pwrite
// through the page cache, 16 threads); vdisk nbd with cache=writeback.
//
// tgtd: when it is missing, this installs Debian's tgt (apt-get, as root or through sudo) with a
// policy-rc.d that exits 101 in place for the install, so the package cannot start a tgtd on
// port 3260; an existing policy-rc.d is left as it is. The benchmark then runs its own tgtd on
// a free loopback port with a private management channel (see test/helpers/iscsi-targets.ts).
//
// All servers run at once (vdisk nbd on an identical copy: vdisk locks its image) and take turns
// on each job, VDISK_BENCH_REPEAT times (default 3) for VDISK_BENCH_RUNTIME seconds (default 3);
// each server's median run counts, so a burst of other load on the machine does not decide a
// ratio. Prints per job and server: IOPS, MB/s, and the ratios vdisk-iscsi/tgtd and
// vdisk-iscsi/vdisk-nbd. VDISK_BENCH_JOBS (comma-separated job names) runs a subset,
// VDISK_BENCH_SERVERS (vdisk,tgtd,nbd) a subset of servers, VDISK_BENCH_CPU_PROF=DIR starts
// vdisk iscsi serve with --cpu-prof into DIR.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const MiB = 1024 * 1024;
const RANDOM_STEP_BLOCKS = 100003;

const JOBS = [
  { name: '4k-randread-qd32', tool: 'iscsi-perf', bs: 4096, depth: 32, random: true, write: false },
  { name: '1m-read-qd1', tool: 'iscsi-perf', bs: MiB, depth: 1, random: false, write: false },
  { name: '1m-read-qd8', tool: 'iscsi-perf', bs: MiB, depth: 8, random: false, write: false },
  { name: '4k-randread-qd32', tool: 'qemu-img', bs: 4096, depth: 32, random: true, write: false },
  { name: '4k-randwrite-qd32', tool: 'qemu-img', bs: 4096, depth: 32, random: true, write: true },
  { name: '1m-read-qd8', tool: 'qemu-img', bs: MiB, depth: 8, random: false, write: false },
  { name: '1m-write-qd8', tool: 'qemu-img', bs: MiB, depth: 8, random: false, write: true },
];

function parseSize(text) {
  const m = /^(\d+)([kmg]?)$/i.exec(text.trim());
  if (!m) throw new Error(`VDISK_BENCH_ISCSI_SIZE: cannot read '${text}' (use e.g. 1G or 512M)`);
  return Number(m[1]) * { '': 1, k: 1024, m: MiB, g: 1024 * MiB }[m[2].toLowerCase()];
}

function have(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** Runs a tool without blocking the event loop (vdisk nbd's output is read meanwhile). */
function exec(cmd, args, timeoutMs = 600_000) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${out.slice(-2000)}`));
    });
  });
}

/** Installs Debian's tgt without letting the package start a tgtd on port 3260. */
function ensureTgtd() {
  if (have('tgtd', ['-V'])) return;
  const policy = '/usr/sbin/policy-rc.d';
  const script = [
    'set -e',
    `created=0; if [ ! -e ${policy} ]; then printf '#!/bin/sh\\nexit 101\\n' > ${policy}; chmod 755 ${policy}; created=1; fi`,
    `trap '[ $created = 1 ] && rm -f ${policy}' EXIT`,
    'apt-get update -qq',
    'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tgt >/dev/null',
  ].join('\n');
  console.log('bench iscsi: installing Debian tgt (tgtd), with services kept from starting');
  const root = process.getuid?.() === 0;
  const r = spawnSync(root ? 'sh' : 'sudo', root ? ['-c', script] : ['sh', '-c', script], {
    stdio: 'inherit',
  });
  if (r.status !== 0 || !have('tgtd', ['-V'])) throw new Error('bench iscsi: could not install tgt');
}

function iscsiPerfArgs(job, url, runtime, blockSize) {
  const args = ['-m', String(job.depth), '-b', String(job.bs / blockSize), '-t', String(runtime)];
  return [...args, ...(job.random ? ['-r'] : []), url];
}

async function iscsiPerf(job, url, runtime, blockSize) {
  const out = await exec('iscsi-perf', iscsiPerfArgs(job, url, runtime, blockSize), (runtime + 60) * 1000);
  const m = /iops average (\d+) \((\d+) MB\/s\)\s*$/m.exec(out.replace(/\r/g, '\n').trimEnd());
  if (!m) throw new Error(`iscsi-perf printed no average: ${out.slice(-500)}`);
  return { iops: Number(m[1]), mbps: (Number(m[1]) * job.bs) / 1e6 };
}

async function qemuBench(job, url, count) {
  const step = job.random ? job.bs * RANDOM_STEP_BLOCKS : job.bs;
  const args = ['bench', '-f', 'raw', '-c', String(count), '-d', String(job.depth), '-s', String(job.bs)];
  args.push('-S', String(step), ...(job.write ? ['-w', '--pattern=0x5a'] : []), url);
  const out = await exec('qemu-img', args);
  const m = /Run completed in ([\d.]+) seconds/.exec(out);
  if (!m) throw new Error(`qemu-img bench printed no time: ${out}`);
  const iops = count / Number(m[1]);
  return { iops, mbps: (iops * job.bs) / 1e6, seconds: Number(m[1]) };
}

/** The LU's logical block length (iscsi-perf counts in blocks); 512 for nbd:// URLs. */
async function logicalBlockSize(url) {
  if (!url.startsWith('iscsi://')) return 512;
  const out = await exec('iscsi-readcapacity16', [url], 30_000);
  const m = /LOGICAL BLOCK LENGTH IN BYTES:(\d+)/.exec(out);
  if (!m) throw new Error(`iscsi-readcapacity16 ${url}: no block length in ${out}`);
  return Number(m[1]);
}

/** One job against one URL: iscsi-perf for its time, qemu-img bench calibrated to it. */
async function measure(job, url, { runtime, blockSize }) {
  if (job.tool === 'iscsi-perf') return iscsiPerf(job, url, runtime, blockSize);
  const probe = await qemuBench(job, url, job.bs === MiB ? 200 : 5000);
  const count = Math.max(100, Math.round(probe.iops * runtime));
  return qemuBench(job, url, count);
}

/** `vdisk nbd serve` on a free port; resolves once it printed its URI. */
async function startVdiskNbd(root, file, targets) {
  const port = await targets.freePort();
  const args = [path.join(root, 'bin', 'vdisk.js'), 'nbd', 'serve', '-f', 'raw', '-b', '127.0.0.1'];
  args.push('-p', String(port), '--cache', 'writeback', '-x', 'disk', file);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  for (let i = 0; !/^nbd:\/\//m.test(out); i++) {
    if (child.exitCode !== null || i > 1500) throw new Error(`vdisk nbd serve did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url: () => `nbd://127.0.0.1:${port}/disk`, stop: () => targets.stopChild(child) };
}

function pad(s, n, right = false) {
  s = String(s);
  return right ? s.padEnd(n) : s.padStart(n);
}

export async function run({ root }) {
  const targetsModule = path.join(root, 'dist', 'test', 'helpers', 'iscsi-targets.js');
  if (!fs.existsSync(targetsModule))
    throw new Error(`bench iscsi: ${targetsModule} is missing: npm run build`);
  const targets = await import(pathToFileURL(targetsModule).href);
  for (const [tool, args] of [
    ['iscsi-perf', ['-h']],
    ['qemu-img', ['--version']],
  ]) {
    if (spawnSync(tool, args, { stdio: 'ignore' }).error) {
      throw new Error(`bench iscsi: ${tool} is not installed (bash scripts/setup.sh)`);
    }
  }
  const servers = (process.env.VDISK_BENCH_SERVERS ?? 'vdisk,tgtd,nbd').split(',');
  if (servers.includes('vdisk') && !targets.vdiskIscsiAvailable()) {
    console.log('bench iscsi: this build has no `vdisk iscsi serve`: measuring tgtd and vdisk nbd only');
    servers.splice(servers.indexOf('vdisk'), 1);
  }
  if (servers.includes('tgtd')) ensureTgtd();
  const size = parseSize(process.env.VDISK_BENCH_ISCSI_SIZE ?? '1G');
  const runtime = Number(process.env.VDISK_BENCH_RUNTIME ?? 3);
  const repeat = Number(process.env.VDISK_BENCH_REPEAT ?? 3);
  const only = process.env.VDISK_BENCH_JOBS?.split(',');
  const jobs = JOBS.filter((j) => !only || only.includes(j.name));
  const base = process.env.VDISK_BENCH_DIR ?? (fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
  const dir = fs.mkdtempSync(path.join(base, 'vdisk-bench-iscsi-'));
  const profDir = process.env.VDISK_BENCH_CPU_PROF;
  const results = {};
  try {
    const file = path.join(dir, 'disk.raw');
    const fd = fs.openSync(file, 'w');
    const buf = Buffer.allocUnsafe(8 * MiB);
    for (let pos = 0; pos < size; pos += buf.length) {
      crypto.randomFillSync(buf);
      fs.writeSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
    }
    fs.closeSync(fd);
    console.log(
      `iscsi benchmark: ${size / MiB} MiB raw image in ${base}, ${runtime} s per run, median of ${repeat}, ` +
        `${os.cpus().length} CPUs, servers: ${servers.join(', ')}`,
    );
    // vdisk nbd locks its image as vdisk iscsi does, so it serves an identical copy.
    const nbdFile = path.join(dir, 'disk-nbd.raw');
    fs.copyFileSync(file, nbdFile);
    const lun = { file, format: 'raw', options: ['cache=writeback'] };
    const running = {};
    try {
      for (const kind of servers) {
        if (kind === 'nbd') running[kind] = await startVdiskNbd(root, nbdFile, targets);
        else {
          const nodeArgs = kind === 'vdisk' && profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
          const t = await targets.startTarget(kind, { luns: [lun], nodeArgs });
          running[kind] = { url: () => t.url(0), stop: () => t.stop() };
        }
        running[kind].blockSize = await logicalBlockSize(running[kind].url());
      }
      // Servers take turns on each job, `repeat` times; the median of each server's runs counts,
      // so a burst of other load on the machine does not decide a ratio.
      for (const job of jobs) {
        const key = `${job.tool} ${job.name}`;
        const runs = {};
        for (let rep = 0; rep < repeat; rep++) {
          for (const kind of servers) {
            if (kind === 'nbd' && job.tool !== 'qemu-img') continue;
            const r = await measure(job, running[kind].url(), {
              runtime,
              blockSize: running[kind].blockSize,
            });
            (runs[kind] ??= []).push(r);
          }
        }
        results[key] = Object.fromEntries(
          Object.entries(runs).map(([kind, list]) => [
            kind,
            list.sort((x, y) => x.iops - y.iops)[list.length >> 1],
          ]),
        );
      }
    } finally {
      for (const server of Object.values(running)) await server.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    pad('tool', 11, true) +
      pad('job', 19, true) +
      pad('server', 11, true) +
      pad('IOPS', 9) +
      pad('MB/s', 8) +
      pad('vdisk/tgtd', 12) +
      pad('iscsi/nbd', 11),
  );
  for (const [key, r] of Object.entries(results)) {
    const [tool, name] = key.split(' ');
    for (const kind of servers) {
      const x = r[kind];
      if (!x) continue;
      const ratio = (other) => (kind === 'vdisk' && r[other] ? (x.iops / r[other].iops).toFixed(2) : '');
      console.log(
        pad(tool, 11, true) +
          pad(name, 19, true) +
          pad(kind === 'nbd' ? 'vdisk-nbd' : kind, 11, true) +
          pad(Math.round(x.iops), 9) +
          pad(x.mbps.toFixed(0), 8) +
          pad(ratio('tgtd'), 12) +
          pad(ratio('nbd'), 11),
      );
    }
  }
  if (profDir) console.log(`vdisk iscsi serve CPU profiles: ${profDir}`);
}
