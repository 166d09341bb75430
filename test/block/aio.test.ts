/**
 * The I/O engines (QEMU's aio=threads|io_uring|native): every engine moves the same bytes as
 * the thread pool, with more requests at once than the kernel queue holds, reports kernel errors
 * as fs-style errors that become BlockErrors, keeps no idle process alive, and aio=native is
 * refused without O_DIRECT the way QEMU refuses it. A kernel engine this host cannot run (no
 * io_uring, or a seccomp filter) is skipped with the reason the open gave.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  AIO_MODES,
  aioUnavailable,
  aioEngine,
  HostFile,
  parseAioMode,
  type AioMode,
  type CacheMode,
} from '../../src/block/index.js';
import { BlockError, UsageError } from '../../src/util/index.js';
import { directIoUnavailable, tmpDir } from '../helpers/tmp.js';

const dir = tmpDir('vdisk-aio-');
const noDirect = directIoUnavailable(dir);
const KiB = 1024;

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 7 + seed * 13) % 253;
  return b;
}

/** A cache mode each engine can run with here: native needs O_DIRECT. */
function cacheFor(mode: AioMode): CacheMode {
  return mode === 'native' ? 'none' : 'writeback';
}

for (const mode of AIO_MODES) {
  const why = aioUnavailable(mode) ?? (mode === 'native' ? noDirect : undefined);
  describe(`aio=${mode}`, { skip: why }, () => {
    test('1000 concurrent 4 KiB writes, then reads, move the same bytes (more than the queue depth)', async () => {
      const file = path.join(dir, `many-${mode}.raw`);
      fs.writeFileSync(file, '');
      fs.truncateSync(file, 1000 * 4 * KiB);
      const hf = await HostFile.open(file, { aio: mode, cache: cacheFor(mode) });
      try {
        assert.equal(hf.aio.mode, mode);
        await Promise.all(Array.from({ length: 1000 }, (_, i) => hf.write(i * 4 * KiB, pattern(4 * KiB, i))));
        await hf.flush();
        const bufs = Array.from({ length: 1000 }, () => Buffer.alloc(4 * KiB));
        await Promise.all(bufs.map((b, i) => hf.read(i * 4 * KiB, b)));
        for (let i = 0; i < 1000; i++) assert.ok(bufs[i]!.equals(pattern(4 * KiB, i)), `block ${i}`);
      } finally {
        await hf.close();
      }
      // The file really holds them (read back with plain fs).
      const all = fs.readFileSync(file);
      assert.ok(all.subarray(999 * 4 * KiB).equals(pattern(4 * KiB, 999)));
    });

    test('large transfers and reads past the end of the file', async () => {
      const file = path.join(dir, `large-${mode}.raw`);
      const data = pattern(3 * 1024 * KiB, 5);
      fs.writeFileSync(file, '');
      const hf = await HostFile.open(file, { aio: mode, cache: cacheFor(mode) });
      try {
        await hf.pwrite(0, data);
        const back = Buffer.alloc(data.length);
        await hf.pread(0, back);
        assert.ok(back.equals(data));
        const tail = Buffer.alloc(8 * KiB, 0xff);
        await hf.pread(data.length, tail);
        assert.ok(tail.equals(Buffer.alloc(8 * KiB)), 'past the end reads zeroes');
      } finally {
        await hf.close();
      }
    });

    test('a kernel error comes back as an fs-style error (code, errno, syscall)', async () => {
      const e = aioEngine(mode);
      const fd = fs.openSync(path.join(dir, `ro-${mode}.raw`), 'w');
      fs.closeSync(fd);
      await assert.rejects(e.read(fd, Buffer.alloc(4096), 0), (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'EBADF');
        assert.equal(err.syscall, 'read');
        return true;
      });
    });

    test('an idle engine does not keep the process alive', () => {
      const file = path.join(dir, `idle-${mode}.raw`);
      fs.writeFileSync(file, pattern(64 * KiB, 3));
      const blockIndex = path.resolve('dist/src/block/index.js');
      const script = `
        const { HostFile } = await import(${JSON.stringify(blockIndex)});
        const hf = await HostFile.open(${JSON.stringify(file)}, { aio: ${JSON.stringify(mode)}, cache: ${JSON.stringify(cacheFor(mode))} });
        const b = Buffer.alloc(${256 * KiB});
        await hf.read(0, b.subarray(0, ${64 * KiB}));
        await hf.close();
        console.log(b[1]);`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 });
      assert.equal(r.status, 0, r.stderr.toString());
      assert.equal(r.stdout.toString().trim(), String(pattern(64 * KiB, 3)[1]));
    });
  });
}

test('aio=native without a direct cache mode is refused, as QEMU refuses it', async () => {
  const file = path.join(dir, 'native-writeback.raw');
  fs.writeFileSync(file, Buffer.alloc(4096));
  await assert.rejects(
    HostFile.open(file, { aio: 'native', cache: 'writeback' }),
    (err: unknown) =>
      err instanceof BlockError && err.code === 'INVALID' && /requires a direct cache mode/.test(err.message),
  );
});

test('aio mode names are checked', () => {
  assert.equal(parseAioMode('io_uring'), 'io_uring');
  assert.throws(() => parseAioMode('uring'), UsageError);
});
