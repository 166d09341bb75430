/**
 * What cache=none and cache=directsync promise beyond the common contract: O_DIRECT really is in
 * effect (seen in /proc/self/fdinfo), read-modify-write of partial blocks loses no concurrent
 * update, a padded tail block never truncates a concurrent write, and a file system that cannot
 * bypass the page cache (tmpfs) is refused loudly instead of silently degrading.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CACHE_MODES, cacheFlags, HostFile, native, pageAlignedBuffer } from '../../src/block/index.js';
import { BlockError } from '../../src/util/index.js';
import { countBounces } from '../helpers/bounces.js';
import { directIoUnavailable, tmpDir } from '../helpers/tmp.js';

const O_DIRECT = 0o40000;
const O_DSYNC = 0o10000;
const KiB = 1024;

const dir = tmpDir('vdisk-direct-');
const noDirect = directIoUnavailable(dir);
let fileCounter = 0;

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = ((i * 131 + seed * 17) % 251) + 1;
  return b;
}

function makeFile(content: Buffer | number): string {
  const p = path.join(dir, `d${++fileCounter}.raw`);
  if (typeof content === 'number') {
    fs.writeFileSync(p, '');
    fs.truncateSync(p, content);
  } else {
    fs.writeFileSync(p, content);
  }
  return p;
}

/** The open flags of one of this process's descriptors, from /proc/self/fdinfo (octal). */
function fdFlags(fd: number): number {
  const m = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  assert.ok(m, `no flags line in fdinfo of ${fd}`);
  return Number.parseInt(m[1]!, 8);
}

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

describe('open flags on the host descriptor', { skip: noDirect ?? false }, () => {
  for (const mode of CACHE_MODES) {
    const flags = cacheFlags(mode);
    test(`cache=${mode}: O_DIRECT ${flags.direct ? 'set' : 'clear'}, O_DSYNC ${flags.writethrough ? 'set' : 'clear'}`, async () => {
      for (const readOnly of [false, true]) {
        const hf = await HostFile.open(makeFile(8 * KiB), { cache: mode, readOnly, lock: false });
        try {
          const fl = fdFlags(hf.descriptor);
          assert.equal(
            (fl & O_DIRECT) !== 0,
            flags.direct,
            `O_DIRECT in ${fl.toString(8)} (readOnly ${readOnly})`,
          );
          assert.equal((fl & O_DSYNC) !== 0, flags.writethrough, `O_DSYNC in ${fl.toString(8)}`);
          assert.equal(fl & 3, readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR);
        } finally {
          await hf.close();
        }
      }
    });
  }
});

for (const mode of ['none', 'directsync'] as const) {
  describe(`cache=${mode} read-modify-write`, { skip: noDirect ?? false }, () => {
    test('the kernel really enforces alignment on this descriptor (it is not a page-cache fallback)', async () => {
      const hf = await HostFile.open(makeFile(pattern(16 * KiB, 1)), { cache: mode });
      try {
        // A direct read at an unaligned offset straight on the descriptor must fail: proof that
        // HostFile's bounce buffers are what make unaligned requests work.
        assert.throws(() => fs.readSync(hf.descriptor, Buffer.alloc(100), 0, 100, 1), { code: 'EINVAL' });
        const got = Buffer.alloc(100);
        await hf.read(1, got);
        assert.ok(got.equals(pattern(16 * KiB, 1).subarray(1, 101)));
      } finally {
        await hf.close();
      }
    });

    test('an unaligned write past an end of file that falls inside a block', async () => {
      // The head block of the write holds the end of the file: its read comes back short, and the
      // rest of the block is zeroes. Reading on from there would be an unaligned direct read:
      // EINVAL once a concurrent write has moved the end of the file (done here between the two).
      const p = makeFile(pattern(1000, 4));
      const hf = await HostFile.open(p, { cache: mode });
      const engine = hf.aio as { read: typeof hf.aio.read };
      const read = engine.read;
      engine.read = async (fd, buf, pos) => {
        const n = await read(fd, buf, pos);
        if (fd === hf.descriptor && n > 0 && n < buf.length) {
          engine.read = read;
          const other = fs.openSync(p, 'r+');
          fs.writeSync(other, Buffer.alloc(100), 0, 100, 4000); // the concurrent extension
          fs.closeSync(other);
        }
        return n;
      };
      try {
        await hf.pwrite(1010, pattern(100, 5));
        const want = Buffer.concat([pattern(1000, 4), Buffer.alloc(10), pattern(100, 5)]);
        const got = Buffer.alloc(want.length, 0xaa);
        await hf.pread(0, got);
        assert.deepEqual(got, want);
      } finally {
        engine.read = read;
        await hf.close();
      }
    });

    test('many concurrent unaligned writes into the same 4 KiB block all land', async () => {
      const size = 64 * KiB;
      const p = makeFile(pattern(size, 2));
      const want = pattern(size, 2);
      const hf = await HostFile.open(p, { cache: mode });
      try {
        const writes: Array<Promise<void>> = [];
        // 64 disjoint 64-byte pieces of block 3, issued at once.
        for (let i = 0; i < 64; i++) {
          const data = pattern(64, 10 + i);
          writes.push(hf.write(3 * 4096 + i * 64, data));
          data.copy(want, 3 * 4096 + i * 64);
        }
        // And pieces that straddle the boundaries of blocks 7/8 and 8/9, interleaved.
        for (let i = 0; i < 16; i++) {
          const off = 8 * 4096 - 8 * 100 + i * 100 + (i >= 8 ? 4096 - 800 : 0);
          const data = pattern(100, 80 + i);
          writes.push(hf.write(off, data));
          data.copy(want, off);
        }
        await Promise.all(writes);
        const got = Buffer.alloc(size);
        await hf.read(0, got);
        assert.ok(got.equals(want), 'no update was lost');
      } finally {
        await hf.close();
      }
      assert.ok(fs.readFileSync(p).equals(want));
    });

    test('a concurrent aligned write and an unaligned write to one block serialise', async () => {
      for (let round = 0; round < 20; round++) {
        const p = makeFile(16 * KiB);
        const hf = await HostFile.open(p, { cache: mode });
        const whole = pattern(4096, 30 + round);
        const piece = pattern(10, 60 + round);
        try {
          await Promise.all([hf.write(4096 + 100, piece), hf.write(4096, whole)]);
          const got = Buffer.alloc(4096);
          await hf.read(4096, got);
          const pieceLast = Buffer.from(whole);
          piece.copy(pieceLast, 100);
          assert.ok(got.equals(whole) || got.equals(pieceLast), `round ${round}: a torn or lost write`);
        } finally {
          await hf.close();
        }
      }
    });

    test('concurrent writes past the end never truncate each other', async () => {
      const p = makeFile(0);
      const hf = await HostFile.open(p, { cache: mode });
      const want = Buffer.alloc(15 * 8192 + 1100);
      try {
        const writes: Array<Promise<void>> = [];
        // Unaligned ends: each write pads its tail block and must cut the file back afterwards.
        for (let i = 0; i < 16; i++) {
          const data = pattern(1000, 100 + i);
          writes.push(hf.pwrite(i * 8192 + 100, data));
          data.copy(want, i * 8192 + 100);
        }
        await Promise.all(writes);
        assert.equal(hf.size, want.length);
        assert.equal(fs.fstatSync(hf.descriptor).size, want.length);
        const got = Buffer.alloc(want.length);
        await hf.read(0, got);
        assert.ok(got.equals(want), 'every extending write kept its data');
      } finally {
        await hf.close();
      }
      assert.ok(fs.readFileSync(p).equals(want));
    });

    test('a file whose length is not a multiple of the block reads and grows correctly', async () => {
      const content = pattern(1000, 3);
      const p = makeFile(content);
      const hf = await HostFile.open(p, { cache: mode });
      try {
        const got = Buffer.alloc(5000, 0xee);
        await hf.pread(0, got);
        assert.ok(got.subarray(0, 1000).equals(content));
        assert.ok(got.subarray(1000).equals(Buffer.alloc(4000)));
        await hf.pwrite(1000, Buffer.from('tail'));
        assert.equal(fs.fstatSync(hf.descriptor).size, 1004);
      } finally {
        await hf.close();
      }
      assert.equal(fs.readFileSync(p).subarray(1000).toString(), 'tail');
    });
  });
}

describe('direct I/O alignment', { skip: noDirect ?? false }, () => {
  const helper = native();
  const realDioAlign = helper.dioAlign;

  test('the alignment is what the file system reports for the file', async () => {
    const hf = await HostFile.open(makeFile(0), { cache: 'none' });
    try {
      const reported = realDioAlign?.(hf.descriptor);
      if (reported) assert.equal(hf.align, Math.max(reported.offsetAlign, reported.memAlign));
      else assert.equal(hf.align, 4096);
    } finally {
      await hf.close();
    }
  });

  describe('without statx (kernels before 6.1)', () => {
    test('an empty file proves nothing, so the safe 4096 is used', async () => {
      delete helper.dioAlign;
      try {
        const hf = await HostFile.open(makeFile(0), { cache: 'none' });
        assert.equal(hf.align, 4096);
        await hf.pwrite(100, Buffer.from('abc'));
        assert.equal(fs.fstatSync(hf.descriptor).size, 103);
        await hf.close();
      } finally {
        helper.dioAlign = realDioAlign;
      }
    });
    test('a non-empty file is probed with real reads', async () => {
      delete helper.dioAlign;
      try {
        const p = makeFile(pattern(8192, 4));
        const hf = await HostFile.open(p, { cache: 'none' });
        const expected = realDioAlign?.(hf.descriptor);
        assert.ok(hf.align === 512 || hf.align === 4096, String(hf.align));
        if (expected) assert.equal(hf.align, expected.offsetAlign);
        const got = Buffer.alloc(10);
        await hf.read(4000, got);
        assert.ok(got.equals(pattern(8192, 4).subarray(4000, 4010)));
        await hf.close();
      } finally {
        helper.dioAlign = realDioAlign;
      }
    });
  });
});

describe('direct transfers and bounce buffers', { skip: noDirect ?? false }, () => {
  const helper = native();

  /** A copy of `data`, placed `skew` bytes past a page boundary. */
  function placed(data: Buffer, skew: number): Buffer {
    const b = pageAlignedBuffer(data.length + skew).subarray(skew);
    data.copy(b);
    return b;
  }

  for (const mode of ['none', 'directsync'] as const) {
    test(`cache=${mode}: aligned buffer, offset and length go straight to the file`, async () => {
      const p = makeFile(64 * KiB);
      const hf = await HostFile.open(p, { cache: mode, lock: false });
      try {
        // A page-aligned buffer suits every device with blocks up to a page.
        const expected = hf.align <= 4096 ? 0 : 1;
        const data = placed(pattern(16 * KiB, 7), 0);
        assert.equal(await countBounces(() => hf.write(8 * KiB, data)), expected);
        const got = placed(Buffer.alloc(16 * KiB), 0);
        assert.equal(await countBounces(() => hf.read(8 * KiB, got)), expected);
        assert.ok(got.equals(pattern(16 * KiB, 7)));
      } finally {
        await hf.close();
      }
      assert.ok(
        fs
          .readFileSync(p)
          .subarray(8 * KiB, 24 * KiB)
          .equals(pattern(16 * KiB, 7)),
      );
    });

    test(`cache=${mode}: a buffer off the alignment takes a bounce buffer, with the same result`, async () => {
      const p = makeFile(64 * KiB);
      const hf = await HostFile.open(p, { cache: mode, lock: false });
      try {
        const data = placed(pattern(16 * KiB, 8), 16);
        assert.equal(await countBounces(() => hf.write(8 * KiB, data)), 1);
        const got = placed(Buffer.alloc(16 * KiB), 16);
        assert.equal(await countBounces(() => hf.read(8 * KiB, got)), 1);
        assert.ok(got.equals(pattern(16 * KiB, 8)));
        // An aligned buffer at an unaligned offset is a read-modify-write, through a bounce.
        const odd = placed(pattern(100, 9), 0);
        assert.equal(await countBounces(() => hf.write(8 * KiB + 10, odd)), 1);
      } finally {
        await hf.close();
      }
      const file = fs.readFileSync(p);
      const expected = Buffer.from(pattern(16 * KiB, 8));
      pattern(100, 9).copy(expected, 10);
      assert.ok(file.subarray(8 * KiB, 24 * KiB).equals(expected));
      assert.ok(file.subarray(0, 8 * KiB).equals(Buffer.alloc(8 * KiB)));
    });
  }

  test('a direct read that ends at the end of the file zero-fills the rest of the caller buffer', async () => {
    const p = makeFile(pattern(6 * KiB, 10));
    const hf = await HostFile.open(p, { cache: 'none', lock: false });
    try {
      const got = placed(Buffer.alloc(8 * KiB, 0xee), 0);
      assert.equal(await countBounces(() => hf.pread(4 * KiB, got)), 0);
      assert.ok(got.subarray(0, 2 * KiB).equals(pattern(6 * KiB, 10).subarray(4 * KiB)));
      assert.ok(got.subarray(2 * KiB).equals(Buffer.alloc(6 * KiB)));
    } finally {
      await hf.close();
    }
  });

  test('a helper that cannot tell an address always bounces', async () => {
    const realOffset = helper.pageOffset;
    delete helper.pageOffset;
    try {
      const p = makeFile(16 * KiB);
      const hf = await HostFile.open(p, { cache: 'none', lock: false });
      try {
        const data = placed(pattern(8 * KiB, 11), 0);
        assert.equal(await countBounces(() => hf.write(0, data)), 1);
      } finally {
        await hf.close();
      }
      assert.ok(
        fs
          .readFileSync(p)
          .subarray(0, 8 * KiB)
          .equals(pattern(8 * KiB, 11)),
      );
    } finally {
      helper.pageOffset = realOffset;
    }
  });
});

describe('tmpfs cannot honour cache=none or directsync', () => {
  const shm = '/dev/shm';
  const shmUsable = fs.existsSync(shm) && fs.statfsSync(shm).type === 0x01021994;
  const shmDir = shmUsable ? tmpDir('vdisk-shm-', shm) : '';

  for (const mode of ['none', 'directsync'] as const) {
    test(
      `cache=${mode} on tmpfs fails with NOT_SUPPORTED and says why`,
      { skip: !shmUsable && 'no tmpfs at /dev/shm' },
      async () => {
        const p = path.join(shmDir, `${mode}.raw`);
        fs.writeFileSync(p, pattern(8192, 5));
        const fds = openFds();
        await assert.rejects(HostFile.open(p, { cache: mode }), (err: unknown) => {
          assert.ok(err instanceof BlockError);
          assert.equal(err.code, 'NOT_SUPPORTED');
          assert.match(err.message, new RegExp(`cache=${mode}`));
          assert.match(err.message, /O_DIRECT/);
          assert.match(err.message, /tmpfs/);
          assert.ok(err.message.includes(p));
          return true;
        });
        assert.equal(openFds(), fds, 'the descriptor of the failed open was closed');
        // Nothing was left locked, and the buffered modes work on the same file.
        const hf = await HostFile.open(p, { cache: 'writeback' });
        await hf.write(0, Buffer.from('ok'));
        await hf.close();
      },
    );
  }

  test(
    'the refusal also holds where statx cannot tell (file system type check)',
    { skip: !shmUsable && 'no tmpfs at /dev/shm' },
    async () => {
      const helper = native();
      const realDioAlign = helper.dioAlign;
      delete helper.dioAlign;
      try {
        const p = path.join(shmDir, 'nostatx.raw');
        fs.writeFileSync(p, pattern(8192, 6));
        await assert.rejects(HostFile.open(p, { cache: 'none' }), {
          code: 'NOT_SUPPORTED',
          message: /tmpfs/,
        });
      } finally {
        helper.dioAlign = realDioAlign;
      }
    },
  );
});
