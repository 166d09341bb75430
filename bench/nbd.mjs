// `npm run bench -- nbd`: `vdisk nbd serve` against qemu-nbd and nbdkit's file plugin, same image
// content, same fio jobs (fio's nbd engine, one connection), in one run.
//
// Jobs: 4 KiB random read at queue depth 1 and 32, 4 KiB random write at queue depth 32, 1 MiB
// sequential read and write at queue depth 8; each on a raw image and on a qcow2 copy of it
// (nbdkit serves raw only). Each job runs VDISK_BENCH_RUNTIME seconds (default 5) after one
// second of ramp, against servers started with cache=writeback (nbdkit's file plugin has no cache
// modes; it uses the page cache). The images are fully written first, so reads hit data and
// writes overwrite it.
//
// The servers of one format run side by side for the whole format, each on its own copy of the
// image (two servers cannot share one writable image: vdisk and qemu-nbd both lock it), and fio
// goes from server to server job by job, the first server rotating from job to job and from
// round to round. So the runs that a ratio compares are seconds apart, not minutes: on the bench
// machine a server's throughput drifted by a third over a minute. A server that fio is not
// talking to sits idle, waiting on its listening socket.
//
// With nbdkit there is a fourth server on the raw jobs, nbdkit's null plugin: it stores nothing,
// reads return zeroes and writes are dropped, so it costs fio the least a server can. Its rate is
// the most this client gets out of any server on this machine (fio and the server share its two
// cores), and vdisk's against it says how much of the client's reach vdisk leaves unused.
//
// Prints, per job and server: IOPS, MB/s, p99 completion latency, and vdisk's IOPS divided by
// qemu-nbd's, by nbdkit's and by the null plugin's.
//
// Environment: VDISK_BENCH_DIR (default /dev/shm when it exists, as the reference figures
// are on tmpfs; else the OS temp dir), VDISK_BENCH_NBD_SIZE (default 1G; one copy per server
// and format, so 5 of them), VDISK_BENCH_RUNTIME (seconds per job, default 5), VDISK_BENCH_JOBS
// (comma-separated job names to run), VDISK_BENCH_REPEAT=N runs every job N rounds on every
// server and prints medians; each ratio is then the median of the rounds' ratios, with their
// range. VDISK_BENCH_VERBOSE=1 also prints every run as it ends.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { median } from './stats.mjs';

const MiB = 1024 * 1024;

const JOBS = [
  { name: '4k-randread-qd1', rw: 'randread', bs: '4k', iodepth: 1 },
  { name: '4k-randread-qd32', rw: 'randread', bs: '4k', iodepth: 32 },
  { name: '4k-randwrite-qd32', rw: 'randwrite', bs: '4k', iodepth: 32 },
  { name: '1m-read-qd8', rw: 'read', bs: '1M', iodepth: 8 },
  { name: '1m-write-qd8', rw: 'write', bs: '1M', iodepth: 8 },
];

function parseSize(text) {
  const m = /^(\d+)([kmg]?)$/i.exec(text.trim());
  if (!m) throw new Error(`VDISK_BENCH_NBD_SIZE: cannot read '${text}' (use e.g. 1G or 512M)`);
  return Number(m[1]) * { '': 1, k: 1024, m: MiB, g: 1024 * MiB }[m[2].toLowerCase()];
}

function have(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function must(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr ?? r.error}`);
  return r.stdout;
}

async function freePort() {
  const s = net.createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

async function waitForPort(port, child) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nothing listens on port ${port}`);
}

/** Starts one server for `file` in `format`; resolves to { uri, stop }. */
async function startServer(kind, { root, file, format, size }) {
  const port = await freePort();
  let child;
  if (kind === 'vdisk') {
    const vdisk = path.join(root, 'bin', 'vdisk.js');
    child = spawn(
      process.execPath,
      [vdisk, 'nbd', 'serve', '-f', format, '-b', '127.0.0.1', '-p', String(port), '-x', 'disk', file],
      { stdio: 'ignore' },
    );
  } else if (kind === 'qemu-nbd') {
    child = spawn(
      'qemu-nbd',
      [
        '-f',
        format,
        '-b',
        '127.0.0.1',
        '-p',
        String(port),
        '-x',
        'disk',
        '-t',
        '-e',
        '8',
        '--cache=writeback',
        file,
      ],
      { stdio: 'ignore' },
    );
  } else {
    const plugin = kind === 'null' ? ['null', `size=${size}`] : ['file', file];
    child = spawn('nbdkit', ['-f', '-i', '127.0.0.1', '-p', String(port), '-e', 'disk', ...plugin], {
      stdio: 'ignore',
    });
  }
  await waitForPort(port, child);
  return {
    uri: `nbd://127.0.0.1:${port}/disk`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function fio(uri, job, size, runtime) {
  const out = must('fio', [
    '--name=bench',
    '--ioengine=nbd',
    `--uri=${uri}`,
    `--rw=${job.rw}`,
    `--bs=${job.bs}`,
    `--iodepth=${job.iodepth}`,
    `--size=${size}`,
    '--time_based',
    '--ramp_time=1',
    `--runtime=${runtime}`,
    '--output-format=json',
  ]);
  const j = JSON.parse(out.slice(out.indexOf('{'))).jobs[0];
  const side = job.rw.includes('write') ? j.write : j.read;
  const p99 = side.clat_ns?.percentile?.['99.000000'] ?? NaN;
  return { iops: side.iops, mbps: side.bw_bytes / 1e6, p99us: p99 / 1000 };
}

function pad(s, n, right = false) {
  s = String(s);
  return right ? s.padEnd(n) : s.padStart(n);
}

export async function run({ root }) {
  for (const tool of ['fio', 'qemu-img', 'qemu-nbd']) {
    if (!have(tool)) throw new Error(`bench nbd: ${tool} is not installed (bash scripts/setup.sh)`);
  }
  const withNbdkit = have('nbdkit');
  const size = parseSize(process.env.VDISK_BENCH_NBD_SIZE ?? '1G');
  const runtime = Number(process.env.VDISK_BENCH_RUNTIME ?? 5);
  const repeat = Number(process.env.VDISK_BENCH_REPEAT ?? 1);
  if (!(Number.isInteger(repeat) && repeat >= 1))
    throw new Error(`VDISK_BENCH_REPEAT: '${process.env.VDISK_BENCH_REPEAT}' is not a count of runs`);
  const verbose = process.env.VDISK_BENCH_VERBOSE === '1';
  const only = process.env.VDISK_BENCH_JOBS?.split(',');
  const jobs = JOBS.filter((j) => !only || only.includes(j.name));
  const base = process.env.VDISK_BENCH_DIR ?? (fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
  const dir = fs.mkdtempSync(path.join(base, 'vdisk-bench-nbd-'));
  try {
    const raw = path.join(dir, 'disk.raw');
    const fd = fs.openSync(raw, 'w');
    const buf = Buffer.allocUnsafe(8 * MiB);
    for (let pos = 0; pos < size; pos += buf.length) {
      crypto.randomFillSync(buf);
      fs.writeSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
    }
    fs.closeSync(fd);
    const qcow2 = path.join(dir, 'disk.qcow2');
    must('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
    console.log(
      `nbd benchmark: ${size / MiB} MiB images in ${base}, ${runtime} s per job` +
        (repeat > 1 ? `, medians of ${repeat} rounds` : '') +
        `, fio ${must('fio', ['--version']).trim()}, ` +
        `${os.cpus().length} CPUs${withNbdkit ? '' : ' (nbdkit not installed)'}`,
    );
    const header =
      pad('format', 7, true) +
      pad('job', 19, true) +
      pad('server', 9, true) +
      pad('IOPS', 9) +
      pad('MB/s', 9) +
      pad('p99 us', 9) +
      pad('vdisk/qemu-nbd', repeat > 1 ? 22 : 16) +
      pad('vdisk/nbdkit', repeat > 1 ? 20 : 14) +
      (withNbdkit ? pad('vdisk/null', repeat > 1 ? 20 : 14) : '');
    console.log(header);
    for (const [format, file] of [
      ['raw', raw],
      ['qcow2', qcow2],
    ]) {
      const kinds = ['vdisk', 'qemu-nbd', ...(withNbdkit && format === 'raw' ? ['nbdkit', 'null'] : [])];
      const servers = {};
      const results = {}; // job name -> server -> one result per round
      try {
        for (const kind of kinds) {
          const copy = `${file}.${kind}`;
          if (kind !== 'null') fs.copyFileSync(file, copy);
          servers[kind] = await startServer(kind, { root, file: copy, format, size });
        }
        for (let round = 0; round < repeat; round++) {
          for (const [j, job] of jobs.entries()) {
            for (let k = 0; k < kinds.length; k++) {
              const kind = kinds[(k + round + j) % kinds.length];
              const r = fio(servers[kind].uri, job, size, runtime);
              ((results[job.name] ??= {})[kind] ??= []).push(r);
              if (verbose) {
                const what = `round ${round + 1} ${format} ${job.name} ${kind}`;
                console.log(`  ${what}: ${Math.round(r.iops)} IOPS, ${r.mbps.toFixed(0)} MB/s`);
              }
            }
          }
        }
      } finally {
        for (const server of Object.values(servers)) await server.stop();
        for (const kind of kinds) fs.rmSync(`${file}.${kind}`, { force: true });
      }
      for (const job of jobs) {
        const r = results[job.name];
        for (const kind of kinds) {
          const runs = r[kind];
          const ratio = (other) => {
            if (kind !== 'vdisk' || !r[other]) return '';
            const each = runs.map((x, i) => x.iops / r[other][i].iops);
            const text = median(each).toFixed(2);
            return repeat > 1
              ? `${text} (${Math.min(...each).toFixed(2)}-${Math.max(...each).toFixed(2)})`
              : text;
          };
          console.log(
            pad(format, 7, true) +
              pad(job.name, 19, true) +
              pad(kind, 9, true) +
              pad(Math.round(median(runs.map((x) => x.iops))), 9) +
              pad(median(runs.map((x) => x.mbps)).toFixed(0), 9) +
              pad(median(runs.map((x) => x.p99us)).toFixed(0), 9) +
              pad(ratio('qemu-nbd'), repeat > 1 ? 22 : 16) +
              pad(ratio('nbdkit'), repeat > 1 ? 20 : 14) +
              (withNbdkit ? pad(ratio('null'), repeat > 1 ? 20 : 14) : ''),
          );
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
