/** The native helper's primitives, checked directly against the kernel's behaviour. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { alignedBuffer, native } from '../../src/block/index.js';
import { directIoUnavailable, tmpDir } from '../helpers/tmp.js';

const dir = tmpDir('vdisk-native-');
const n = native();

test('allocAligned gives zeroed memory that O_DIRECT accepts, and checks its arguments', (t) => {
  const buf = alignedBuffer(8192, 4096);
  assert.equal(buf.length, 8192);
  assert.ok(buf.equals(Buffer.alloc(8192)));
  for (const [size, align] of [
    [0, 4096],
    [-1, 4096],
    [4096, 3],
    [4096, 4],
    [4096, 3000],
  ]) {
    assert.throws(() => n.allocAligned(size!, align!), RangeError, `${size}/${align}`);
  }
  const why = directIoUnavailable(dir);
  if (why) {
    t.diagnostic(`skipping the O_DIRECT part: ${why}`);
    return;
  }
  const p = path.join(dir, 'direct.bin');
  fs.writeFileSync(p, Buffer.alloc(8192, 7));
  const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
  try {
    assert.equal(fs.readSync(fd, buf, 0, 4096, 0), 4096, 'an aligned buffer works for direct reads');
    assert.equal(buf[0], 7);
    // The same memory one byte off is refused: the alignment is real, not luck.
    assert.throws(() => fs.readSync(fd, buf.subarray(1), 0, 4096, 0), { code: 'EINVAL' });
  } finally {
    fs.closeSync(fd);
  }
});

test('fallocate punches holes, seek finds data and holes, errors carry errno names', async () => {
  const p = path.join(dir, 'sparse.bin');
  fs.writeFileSync(p, Buffer.alloc(1024 * 1024, 1));
  const fd = fs.openSync(p, 'r+');
  try {
    await n.fallocate(fd, 0x01 | 0x02, 0, 512 * 1024); // KEEP_SIZE | PUNCH_HOLE
    assert.equal(n.seek(fd, 0, 3), 512 * 1024, 'SEEK_DATA skips the hole');
    assert.equal(n.seek(fd, 0, 4), 0, 'SEEK_HOLE at a hole stays');
    assert.equal(n.seek(fd, 512 * 1024, 4), 1024 * 1024, 'the end of the file is a hole');
    assert.equal(n.seek(fd, 2 * 1024 * 1024, 3), -1, 'no data past the end');
    assert.throws(() => n.seek(fd, 0, 1 as 3), RangeError);
    await assert.rejects(n.fallocate(fd, 0, 0, -1), { code: 'EINVAL', syscall: 'fallocate' });
  } finally {
    fs.closeSync(fd);
  }
  const ro = fs.openSync(p, 'r');
  try {
    await assert.rejects(n.fallocate(ro, 0, 0, 4096), { code: 'EBADF' });
  } finally {
    fs.closeSync(ro);
  }
});

test('OFD locks conflict between two descriptors of one process, not within one', () => {
  const p = path.join(dir, 'locks.bin');
  fs.writeFileSync(p, '');
  const a = fs.openSync(p, 'r+');
  const b = fs.openSync(p, 'r+');
  try {
    assert.equal(n.ofdLock(a, 100, false), true);
    assert.equal(n.ofdTest(a, 100), false, 'own locks are not conflicts');
    assert.equal(n.ofdTest(b, 100), true, 'another description sees the lock');
    assert.equal(n.ofdTest(b, 101), false);
    assert.equal(n.ofdLock(b, 100, false), true, 'shared locks coexist');
    assert.equal(n.ofdLock(b, 100, true), false, 'an exclusive lock is refused, not thrown');
    n.ofdUnlock(a, 100);
    assert.equal(n.ofdLock(b, 100, true), true);
    assert.equal(n.ofdTest(a, 100), true);
  } finally {
    fs.closeSync(a);
    fs.closeSync(b);
  }
});

test('dioAlign reports direct-I/O alignment, or null when the kernel cannot tell', () => {
  const p = path.join(dir, 'dio.bin');
  fs.writeFileSync(p, 'x');
  const fd = fs.openSync(p, 'r');
  try {
    const r = n.dioAlign?.(fd);
    if (r === undefined || r === null) return; // old kernel: HostFile falls back to probing
    if (!directIoUnavailable(dir)) {
      assert.ok(r.offsetAlign >= 1 && (r.offsetAlign & (r.offsetAlign - 1)) === 0, JSON.stringify(r));
      assert.ok(r.memAlign >= 1 && (r.memAlign & (r.memAlign - 1)) === 0, JSON.stringify(r));
    }
  } finally {
    fs.closeSync(fd);
  }
  assert.throws(() => n.dioAlign?.(fd), { code: 'EBADF' });
});
