/**
 * `vdisk io` against qemu-io 7.2, on every format under test: what one writes the other reads
 * back, pattern checks fail the way qemu-io's do, and the map/alloc/length outputs are qemu-io's.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { native } from '../../src/block/index.js';
import {
  formatsUnderTest,
  makeImage,
  makeScattered,
  ok,
  oneLineError,
  qemuIo,
  tmpDir,
  vdisk,
  vdiskInput,
} from './harness.js';

const MiB = 1024 * 1024;

/** Whether another process holds QEMU's "write" permission lock byte (100 + 1) on the file. */
function writeLocked(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    return native().ofdTest(fd, 101);
  } finally {
    fs.closeSync(fd);
  }
}
const cases = await formatsUnderTest();
const STATS =
  /^64 KiB, 1 ops; \d\d\.\d\d sec \(\d+(\.\d+)? (bytes|KiB|MiB|GiB|TiB)\/sec and \d+\.\d{4} ops\/sec\)$/;

for (const { format, skip } of cases) {
  describe(`vdisk io on ${format}`, { skip, concurrency: true }, () => {
    const dir = tmpDir();

    test('data written by vdisk io reads back in qemu-io, and the other way round', async () => {
      await makeImage(path.join(dir, 'a.img'), format, 16 * MiB);
      const w = ok(await vdisk(dir, 'io', '-f', format, '-c', 'write -P 0xab 0 64k', 'a.img'));
      const lines = w.stdout.split('\n');
      assert.equal(lines[0], 'wrote 65536/65536 bytes at offset 0');
      assert.match(lines[1]!, STATS);
      ok(await qemuIo(dir, '-f', format, '-c', 'read -P 0xab 0 64k', 'a.img'), 'qemu-io read');

      ok(await qemuIo(dir, '-f', format, '-c', 'write -P 0x5a 1M 64k', 'a.img'), 'qemu-io write');
      const r = ok(await vdisk(dir, 'io', '-c', 'read -P 90 1M 64k', '-c', 'read -P 0 2M 4k', 'a.img'));
      assert.match(r.stdout, /^read 65536\/65536 bytes at offset 1048576\n/);
      assert.match(r.stdout, /\nread 4096\/4096 bytes at offset 2097152\n/);
    });

    test('a pattern mismatch is reported like qemu-io and fails the run', async () => {
      await makeScattered(path.join(dir, 'p.img'), format, 16 * 1024 * 1024);
      const args = ['-f', format, '-c', 'read -P 0xab 1M 64k', '-c', 'read -P 0xac 1M 4k', 'p.img'];
      const ours = await vdisk(dir, 'io', ...args);
      const theirs = await qemuIo(dir, ...args);
      assert.equal(ours.code, 1);
      assert.equal(theirs.code, 1);
      const firstLines = (s: string): string[] => s.split('\n').filter((l) => !/ops\/sec/.test(l));
      assert.deepEqual(firstLines(ours.stdout), firstLines(theirs.stdout));
      assert.match(ours.stdout, /\nPattern verification failed at offset 1048576, 4096 bytes\n/);
    });

    test('write -z, write -z -u and discard leave zeroes qemu-io sees', async () => {
      await makeScattered(path.join(dir, 'z.img'), format, 16 * 1024 * 1024);
      const r = ok(
        await vdisk(
          dir,
          'io',
          '-c',
          'write -z 1M 32k',
          '-c',
          'write -z -u 1056k 32k',
          '-c',
          'discard 10M 192k',
          'z.img',
        ),
      );
      assert.match(r.stdout, /^wrote 32768\/32768 bytes at offset 1048576\n/);
      assert.match(r.stdout, /\ndiscard 196608\/196608 bytes at offset 10485760\n/);
      ok(await qemuIo(dir, '-c', 'read -P 0 1M 64k', '-c', 'read -P 0 10M 192k', 'z.img'));
    });

    test('map, alloc and length print what qemu-io prints', async () => {
      await makeScattered(path.join(dir, 'm.img'), format, 16 * 1024 * 1024);
      const cmds = [
        '-c',
        'map',
        '-c',
        'alloc 0 2M',
        '-c',
        'alloc 1M 64k',
        '-c',
        'alloc 5000',
        '-c',
        'length',
      ];
      const ours = ok(await vdisk(dir, 'io', '-f', format, ...cmds, 'm.img'));
      const theirs = ok(await qemuIo(dir, '-f', format, ...cmds, 'm.img'));
      assert.equal(ours.stdout, theirs.stdout);
    });

    test('commands run in order, a failure does not stop the rest, and the exit code says so', async () => {
      await makeImage(path.join(dir, 'o.img'), format, MiB);
      const r = await vdisk(
        dir,
        'io',
        '-c',
        'read 1M 4k',
        '-c',
        'write -q -P 3 0 4k',
        '-c',
        'read -q -P 3 0 4k',
        'o.img',
      );
      oneLineError(r, /^vdisk: read failed: .*past the end/, 1);
      ok(await qemuIo(dir, '-c', 'read -P 3 0 4k', 'o.img'));
      const q = ok(await vdisk(dir, 'io', '-c', 'quit', '-c', 'write 0 4k', 'o.img'));
      assert.equal(q.stdout, '');
    });

    test('-r opens read-only, and commands can come from stdin', async () => {
      await makeImage(path.join(dir, 's.img'), format, MiB);
      oneLineError(await vdisk(dir, 'io', '-r', '-c', 'write 0 4k', 's.img'), /write failed: .*read-only/);
      const r = ok(await vdiskInput(dir, 'write -P 0x11 0 4k\nflush\nread -q -P 0x11 0 4k\n', 'io', 's.img'));
      assert.match(r.stdout, /^wrote 4096\/4096 bytes at offset 0\n/);
      ok(await vdisk(dir, 'io', '-r', '-c', 'read -P 0x11 0 4k', 's.img'));
    });

    test('cache modes: -n and --cache open the image as asked', async () => {
      await makeImage(path.join(dir, 'c.img'), format, MiB);
      for (const mode of ['writethrough', 'unsafe']) {
        ok(await vdisk(dir, 'io', '--cache', mode, '-c', 'write -q -f 0 4k', '-c', 'flush', 'c.img'), mode);
      }
      const none = await vdisk(
        dir,
        'io',
        '-n',
        '-c',
        'write -q -P 5 512 4k',
        '-c',
        'read -q -P 5 512 4k',
        'c.img',
      );
      // cache=none needs O_DIRECT; on a file system without it, opening must fail loudly, in one line.
      if (none.code !== 0) oneLineError(none, /O_DIRECT|direct/i);
      oneLineError(
        await vdisk(dir, 'io', '-t', 'bogus', '-c', 'flush', 'c.img'),
        /invalid cache mode 'bogus'/,
      );
    });

    test('an image in use by qemu-io is refused, and -U -r reads it anyway', async () => {
      await makeImage(path.join(dir, 'l.img'), format, MiB);
      // Interactive qemu-io on a pipe keeps the image (and its lock) open until it is killed,
      // however slowly this machine runs.
      const holder = spawn('qemu-io', ['-f', format, path.join(dir, 'l.img')], {
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      try {
        // Wait until qemu-io holds its lock (tested without taking one, so as not to race it).
        for (let i = 0; i < 200 && !writeLocked(path.join(dir, 'l.img')); i++) await sleep(50);
        oneLineError(await vdisk(dir, 'io', '-c', 'flush', 'l.img'), /lock/);
        ok(await vdisk(dir, 'io', '-r', '-U', '-c', 'read -q 0 4k', 'l.img'));
        ok(await vdisk(dir, 'img', 'info', '-U', 'l.img'));
      } finally {
        holder.kill();
      }
    });
  });
}
