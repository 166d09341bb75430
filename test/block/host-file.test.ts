/**
 * HostFile in every cache mode: the same data-path contract whatever the flags are. Byte-exact
 * round trips at unaligned offsets (checked through the file itself, not only through HostFile),
 * growth, zero reads past the end, holes from discard and write-zeroes (seen in blockStatus and in
 * st_blocks), preallocation, and which requests cost a flush of the host file.
 *
 * Direct-I/O specifics (fdinfo flags, concurrency on one block, tmpfs refusal) are in
 * host-file-direct.test.ts; locks are in image-lock.test.ts.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CACHE_MODES, cacheFlags, HostFile } from '../../src/block/index.js';
import { BlockError } from '../../src/util/index.js';
import { directIoUnavailable, tmpDir } from '../helpers/tmp.js';

const KiB = 1024;
const MiB = 1024 * KiB;

const dir = tmpDir('vdisk-hostfile-');
const noDirect = directIoUnavailable(dir);
let fileCounter = 0;

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = ((i * 131 + seed * 17) % 251) + 1; // never zero
  return b;
}

/** A new file of `content` (or `size` bytes of hole), returning its path. */
function makeFile(content: Buffer | number): string {
  const p = path.join(dir, `f${++fileCounter}.raw`);
  if (typeof content === 'number') {
    fs.writeFileSync(p, '');
    fs.truncateSync(p, content);
  } else {
    fs.writeFileSync(p, content);
  }
  return p;
}

function allocated(p: string): number {
  return fs.statSync(p).blocks * 512;
}

async function readVia(hf: HostFile, offset: number, length: number): Promise<Buffer> {
  const b = Buffer.alloc(length, 0xee);
  await hf.pread(offset, b);
  return b;
}

/** Counts fdatasync/fsync calls on the fs module that HostFile uses, for the length of a test. */
function countSyncs(t: TestContext): { readonly count: number } {
  const counter = { count: 0 };
  const origData = fs.fdatasync;
  const origSync = fs.fsync;
  t.mock.method(fs, 'fdatasync', (fd: number, cb: fs.NoParamCallback) => {
    counter.count++;
    origData(fd, cb);
  });
  t.mock.method(fs, 'fsync', (fd: number, cb: fs.NoParamCallback) => {
    counter.count++;
    origSync(fd, cb);
  });
  return counter;
}

for (const mode of CACHE_MODES) {
  const flags = cacheFlags(mode);
  describe(`HostFile cache=${mode}`, { skip: flags.direct && noDirect ? noDirect : false }, () => {
    const open = (p: string, readOnly = false): Promise<HostFile> =>
      HostFile.open(p, { cache: mode, readOnly });

    test('caps and flags follow the cache mode', async () => {
      const hf = await open(makeFile(64 * KiB));
      try {
        assert.deepEqual(hf.flags, flags);
        assert.equal(hf.caps.canFlush, !flags.noFlush);
        assert.equal(hf.caps.readOnly, false);
        assert.equal(hf.size, 64 * KiB);
        if (flags.direct)
          assert.ok(hf.align >= 512 && (hf.align & (hf.align - 1)) === 0, `align ${hf.align}`);
        else assert.equal(hf.align, 1);
      } finally {
        await hf.close();
      }
    });

    test('unaligned writes round-trip, byte-exact, through HostFile and through the file', async () => {
      const size = 64 * KiB;
      const model = pattern(size, 1);
      const p = makeFile(model);
      const hf = await open(p);
      const writes: Array<[number, number]> = [
        [1000, 3000], // inside one 4 KiB block
        [4095, 2], // straddles a 4 KiB boundary by one byte each side
        [8191, 8194], // crosses three boundaries, unaligned both ends
        [0, 1],
        [size - 1, 1],
        [12 * KiB, 4 * KiB], // aligned
        [20 * KiB + 512, 512], // 512-aligned, not 4 KiB-aligned
      ];
      try {
        for (const [i, [off, len]] of writes.entries()) {
          const data = pattern(len, 100 + i);
          await hf.write(off, data);
          data.copy(model, off);
        }
        for (const [off, len] of [
          ...writes,
          [0, size] as [number, number],
          [333, 7777] as [number, number],
        ]) {
          const got = Buffer.alloc(len, 0xee);
          await hf.read(off, got);
          assert.ok(got.equals(model.subarray(off, off + len)), `read ${off}+${len}`);
        }
        assert.equal(hf.size, size);
      } finally {
        await hf.close();
      }
      assert.ok(fs.readFileSync(p).equals(model), 'the file holds exactly the written bytes');
    });

    test('writes past the end extend the file to exactly their end', async () => {
      const start = pattern(5000, 2);
      const p = makeFile(start);
      const hf = await open(p);
      const data = pattern(3000, 3);
      try {
        await hf.pwrite(9000, data);
        assert.equal(hf.size, 12000);
        assert.equal(fs.fstatSync(hf.descriptor).size, 12000, 'no padding past the written end');
        const got = await readVia(hf, 0, 12000);
        assert.ok(got.subarray(0, 5000).equals(start));
        assert.ok(got.subarray(5000, 9000).equals(Buffer.alloc(4000)), 'the gap reads as zeroes');
        assert.ok(got.subarray(9000).equals(data));
        // write() is the device-level call: it refuses to go past the end.
        await assert.rejects(hf.write(11999, Buffer.alloc(2)), { code: 'OUT_OF_RANGE' });
      } finally {
        await hf.close();
      }
      assert.equal(fs.statSync(p).size, 12000);
    });

    test('reads past the end of the file return zeroes', async () => {
      const content = pattern(6000, 4);
      const hf = await open(makeFile(content));
      try {
        const straddle = await readVia(hf, 5990, 100);
        assert.ok(straddle.subarray(0, 10).equals(content.subarray(5990)));
        assert.ok(straddle.subarray(10).equals(Buffer.alloc(90)));
        assert.ok((await readVia(hf, 6000, 1)).equals(Buffer.alloc(1)));
        assert.ok((await readVia(hf, 100 * KiB + 3, 10000)).equals(Buffer.alloc(10000)));
        await assert.rejects(hf.read(5990, Buffer.alloc(100)), { code: 'OUT_OF_RANGE' });
      } finally {
        await hf.close();
      }
    });

    test('discard punches a hole: blockStatus shows it, st_blocks drops, it reads as zeroes', async () => {
      const p = makeFile(pattern(MiB, 5));
      const hf = await open(p);
      try {
        await hf.flush();
        const before = allocated(p);
        assert.ok(before >= MiB, `fully allocated first (${before})`);
        await hf.discard(256 * KiB, 512 * KiB);
        assert.equal(hf.size, MiB, 'discard keeps the size');
        assert.ok(before - allocated(p) >= 512 * KiB, `st_blocks dropped by the hole (${allocated(p)})`);
        assert.deepEqual(
          (await hf.blockStatus(0, MiB)).map((e) => [e.offset, e.length, e.data, e.zero]),
          [
            [0, 256 * KiB, true, false],
            [256 * KiB, 512 * KiB, false, true],
            [768 * KiB, 256 * KiB, true, false],
          ],
        );
        const got = await readVia(hf, 0, MiB);
        const want = pattern(MiB, 5);
        want.fill(0, 256 * KiB, 768 * KiB);
        assert.ok(got.equals(want));
        await assert.rejects(hf.discard(MiB - 1, 2), { code: 'OUT_OF_RANGE' });
      } finally {
        await hf.close();
      }
    });

    test('writeZeroes with mayUnmap deallocates; without it the blocks stay allocated', async () => {
      const p = makeFile(pattern(MiB, 6));
      const hf = await open(p);
      try {
        await hf.flush();
        const full = allocated(p);
        await hf.writeZeroes(0, 256 * KiB);
        assert.ok(allocated(p) >= full, `plain writeZeroes keeps blocks (${allocated(p)} < ${full})`);
        await hf.writeZeroes(512 * KiB, 256 * KiB, { mayUnmap: true });
        assert.ok(full - allocated(p) >= 256 * KiB, `mayUnmap released the range (${allocated(p)})`);
        const st = await hf.blockStatus(512 * KiB, 256 * KiB);
        assert.deepEqual(
          st.map((e) => [e.offset, e.length, e.data, e.zero]),
          [[512 * KiB, 256 * KiB, false, true]],
        );
        const got = await readVia(hf, 0, MiB);
        const want = pattern(MiB, 6);
        want.fill(0, 0, 256 * KiB);
        want.fill(0, 512 * KiB, 768 * KiB);
        assert.ok(got.equals(want));
        assert.equal(hf.size, MiB);
      } finally {
        await hf.close();
      }
    });

    test('writeZeroes at unaligned offsets zeroes exactly the range', async () => {
      const size = 64 * KiB;
      const p = makeFile(pattern(size, 7));
      const hf = await open(p);
      const want = pattern(size, 7);
      try {
        for (const [off, len, opts] of [
          [1000, 3000, {}],
          [4095, 2, { mayUnmap: true }],
          [8191, 8194, { mayUnmap: true }],
          [30000, 1, { fast: true }],
        ] as const) {
          await hf.writeZeroes(off, len, opts);
          want.fill(0, off, off + len);
        }
        assert.ok((await readVia(hf, 0, size)).equals(want));
      } finally {
        await hf.close();
      }
      assert.ok(fs.readFileSync(p).equals(want));
    });

    test('zeroRange past the end extends the file with zeroes', async () => {
      const p = makeFile(pattern(4000, 8));
      const hf = await open(p);
      try {
        await hf.zeroRange(10000, 5000);
        assert.equal(hf.size, 15000);
        assert.equal(fs.fstatSync(hf.descriptor).size, 15000);
        assert.ok((await readVia(hf, 4000, 11000)).equals(Buffer.alloc(11000)));
      } finally {
        await hf.close();
      }
    });

    test('blockStatus on a sparse file reports data and holes exactly', async () => {
      const p = makeFile(MiB); // all hole
      const hf = await open(p);
      try {
        assert.deepEqual(
          (await hf.blockStatus(0, MiB)).map((e) => [e.offset, e.length, e.data]),
          [[0, MiB, false]],
        );
        await hf.write(64 * KiB, pattern(4 * KiB, 9));
        await hf.write(512 * KiB, pattern(8 * KiB, 10));
        const ext = await hf.blockStatus(0, MiB);
        assert.deepEqual(
          ext.map((e) => [e.offset, e.length, e.data, e.zero]),
          [
            [0, 64 * KiB, false, true],
            [64 * KiB, 4 * KiB, true, false],
            [68 * KiB, 444 * KiB, false, true],
            [512 * KiB, 8 * KiB, true, false],
            [520 * KiB, 504 * KiB, false, true],
          ],
        );
        for (const e of ext) {
          assert.equal(e.present, true);
          assert.equal(e.depth, 0);
          assert.equal(e.hostOffset, e.offset);
          assert.equal(e.hostFile, p);
        }
        // A sub-range starting inside a data extent and ending inside a hole is clipped to itself.
        assert.deepEqual(
          (await hf.blockStatus(66 * KiB, 10 * KiB)).map((e) => [e.offset, e.length, e.data]),
          [
            [66 * KiB, 2 * KiB, true],
            [68 * KiB, 8 * KiB, false],
          ],
        );
        assert.deepEqual(await hf.blockStatus(100, 0), []);
        await assert.rejects(hf.blockStatus(0, MiB + 1), { code: 'OUT_OF_RANGE' });
      } finally {
        await hf.close();
      }
    });

    test('truncate: prealloc off leaves a hole, falloc and full allocate, shrinking cuts', async () => {
      const grow = 8 * MiB;
      for (const prealloc of ['off', 'falloc', 'full'] as const) {
        const p = makeFile(0);
        const hf = await open(p);
        try {
          await hf.truncate(grow, prealloc);
          assert.equal(hf.size, grow);
          assert.equal(fs.fstatSync(hf.descriptor).size, grow, prealloc);
          const blocks = hf.allocatedBytes();
          assert.equal(blocks, allocated(p));
          if (prealloc === 'off') assert.ok(blocks < 64 * KiB, `off allocates nothing (${blocks})`);
          else assert.ok(blocks >= grow, `${prealloc} allocates the whole file (${blocks})`);
          if (prealloc === 'full') {
            assert.deepEqual(
              (await hf.blockStatus(0, grow)).map((e) => [e.offset, e.length, e.data]),
              [[0, grow, true]],
              'full writes the zeroes',
            );
          }
          const sample = await readVia(hf, grow - 5000, 5000);
          assert.ok(sample.equals(Buffer.alloc(5000)), `${prealloc} reads zeroes`);
          await hf.write(grow - 10, pattern(10, 11));
          await hf.truncate(grow - 5);
          assert.equal(hf.size, grow - 5);
          assert.equal(fs.fstatSync(hf.descriptor).size, grow - 5);
          await hf.truncate(grow);
          assert.ok(
            (await readVia(hf, grow - 10, 10)).equals(
              Buffer.concat([pattern(10, 11).subarray(0, 5), Buffer.alloc(5)]),
            ),
            'bytes cut by shrinking do not come back',
          );
        } finally {
          await hf.close();
        }
      }
    });

    test('flush syncs the host file unless the mode ignores flushes', async (t) => {
      const hf = await open(makeFile(64 * KiB));
      try {
        await hf.write(100, pattern(100, 12));
        const syncs = countSyncs(t);
        await hf.flush();
        assert.equal(syncs.count, flags.noFlush ? 0 : 1);
      } finally {
        await hf.close();
      }
    });

    test('FUA writes are durable before they complete: a sync, or O_DSYNC in writethrough modes', async (t) => {
      const p = makeFile(64 * KiB);
      const hf = await open(p);
      try {
        const syncs = countSyncs(t);
        await hf.write(1000, pattern(3000, 13));
        assert.equal(syncs.count, 0, 'a plain write does not sync');
        await hf.write(5000, pattern(3000, 14), { fua: true });
        await hf.writeZeroes(9000, 100, { fua: true });
        // writethrough opens with O_DSYNC, so a sync on top would be wasted; unsafe ignores FUA.
        const perFua = flags.writethrough || flags.noFlush ? 0 : 1;
        assert.equal(syncs.count, 2 * perFua);
        if (flags.writethrough) {
          const fl = Number.parseInt(
            /flags:\s*(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${hf.descriptor}`, 'utf8'))![1]!,
            8,
          );
          assert.ok(fl & fs.constants.O_DSYNC, 'writethrough must rely on O_DSYNC for FUA');
        }
        const got = await readVia(hf, 5000, 3000);
        assert.ok(got.equals(pattern(3000, 14)));
      } finally {
        await hf.close();
      }
    });

    test('a read-only open reads but refuses every change with READ_ONLY', async (t) => {
      const content = pattern(16 * KiB, 15);
      const p = makeFile(content);
      const hf = await open(p, true);
      try {
        assert.equal(hf.caps.readOnly, true);
        assert.ok((await readVia(hf, 1000, 3000)).equals(content.subarray(1000, 4000)));
        for (const op of [
          () => hf.write(0, Buffer.alloc(1)),
          () => hf.writeZeroes(0, 1),
          () => hf.discard(0, 4096),
          () => hf.truncate(1),
        ]) {
          await assert.rejects(op(), (err: unknown) => err instanceof BlockError && err.code === 'READ_ONLY');
        }
        const syncs = countSyncs(t);
        await hf.flush();
        assert.equal(syncs.count, 0, 'nothing to flush on a read-only file');
      } finally {
        await hf.close();
      }
      assert.ok(fs.readFileSync(p).equals(content));
    });

    test('close waits for the requests in flight', async () => {
      const p = makeFile(64 * KiB);
      const hf = await open(p);
      const want = Buffer.alloc(64 * KiB);
      const writes: Array<Promise<void>> = [];
      // Unaligned writes into one block: in direct modes they queue on the read-modify-write lock.
      for (let i = 0; i < 32; i++) {
        const data = pattern(100, 200 + i);
        writes.push(hf.write(4096 + i * 100, data));
        data.copy(want, 4096 + i * 100);
      }
      let settled = 0;
      for (const w of writes)
        w.then(
          () => settled++,
          () => settled++,
        );
      const closing = hf.close();
      // A second close resolves no earlier than the first: only after the writes are done.
      await hf.close();
      assert.equal(settled, writes.length, 'close resolved before the writes in flight finished');
      const results = await Promise.allSettled(writes);
      await closing;
      assert.deepEqual(
        results
          .filter((r) => r.status === 'rejected')
          .map((r) => String((r as PromiseRejectedResult).reason)),
        [],
      );
      assert.ok(fs.readFileSync(p).equals(want), 'every write in flight at close landed');
    });

    test('after close, requests fail with a clear error and close is idempotent', async () => {
      const hf = await open(makeFile(64 * KiB));
      await hf.close();
      for (const op of [
        () => hf.write(0, Buffer.alloc(1)),
        () => hf.read(0, Buffer.alloc(1)),
        () => hf.pwrite(0, Buffer.alloc(1)),
        () => hf.flush(),
        () => hf.writeZeroes(0, 10),
        () => hf.blockStatus(0, 10),
      ]) {
        await assert.rejects(op(), { code: 'IO', message: /is closed/ });
      }
      await hf.close();
    });
  });
}

describe('HostFile.open', () => {
  test('a missing file is NOT_FOUND and names the path', async () => {
    const p = path.join(dir, 'does-not-exist.raw');
    await assert.rejects(HostFile.open(p), (err: unknown) => {
      return err instanceof BlockError && err.code === 'NOT_FOUND' && err.message.includes(p);
    });
  });

  test('create makes a new empty file, refuses an existing one, truncate empties it', async () => {
    const p = path.join(dir, 'created.raw');
    const hf = await HostFile.open(p, { create: true });
    assert.equal(hf.size, 0);
    await hf.pwrite(0, Buffer.from('hello'));
    await hf.close();
    await assert.rejects(HostFile.open(p, { create: true }), BlockError);
    const again = await HostFile.open(p, { create: true, truncate: true });
    assert.equal(again.size, 0);
    await again.close();
    assert.equal(fs.statSync(p).size, 0);
  });

  test('a directory is refused', async () => {
    await assert.rejects(HostFile.open(dir, { readOnly: true }), { code: 'INVALID', message: /directory/ });
  });
});

describe('readahead: false', { skip: noDirect ?? false }, () => {
  /** An 8 MiB file whose pages are not in the page cache (written with O_DIRECT). */
  async function coldFile(name: string): Promise<string> {
    const p = path.join(dir, name);
    const w = await HostFile.open(p, { create: true, truncate: true, cache: 'none' });
    try {
      const chunk = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < 8; i++) {
        chunk.fill(i + 1);
        await w.pwrite(i * chunk.length, chunk);
      }
    } finally {
      await w.close();
    }
    return p;
  }

  function resident(p: string): number {
    const out = execFileSync('fincore', ['--bytes', '--raw', '--noheadings', '-o', 'RES', p]);
    return Number(out.toString().trim());
  }

  test('reads bring in what they ask for and no more; the default reads ahead', async () => {
    for (const readahead of [false, true]) {
      const p = await coldFile(`ra-${readahead}.raw`);
      assert.equal(resident(p), 0, 'written past the page cache');
      const f = await HostFile.open(p, { readOnly: true, readahead });
      try {
        const b = Buffer.alloc(128 * 1024);
        await f.pread(0, b);
        assert.ok(b.every((x) => x === 1));
        await f.pread(128 * 1024, b);
        assert.ok(b.every((x) => x === 1));
      } finally {
        await f.close();
      }
      const r = resident(p);
      if (readahead) assert.ok(r > 256 * 1024, `the default read ahead: ${r} bytes resident`);
      else assert.equal(r, 256 * 1024, 'exactly the two reads');
    }
  });
});
