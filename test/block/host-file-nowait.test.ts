/**
 * Small transfers that complete on the event loop (HostFile's NOWAIT path): on tmpfs with plain
 * pread/pwrite, elsewhere reads with preadv2(RWF_NOWAIT). The same bytes as the thread-pool path,
 * at the end of the file too, and a refused (-1) or short transfer finishes on the thread pool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { HostFile, native, type NativeHelper } from '../../src/block/index.js';
import { tmpDir } from '../helpers/tmp.js';

const SHM = '/dev/shm';
const bases = [undefined, fs.existsSync(SHM) ? SHM : undefined].filter((b, i) => i === 0 || b) as (
  string | undefined
)[];

function bytes(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = ((i * 31 + seed) % 255) + 1;
  return b;
}

for (const base of bases) {
  test(`small and large transfers agree with the file (${base ?? 'default temp dir'})`, async () => {
    const dir = tmpDir('vdisk-nowait-', base);
    const p = path.join(dir, 'f.raw');
    fs.writeFileSync(p, bytes(200 * 1024 + 100, 1));
    const f = await HostFile.open(p, { lock: false });
    try {
      for (const [off, len] of [
        [0, 4096],
        [1000, 65536],
        [200 * 1024, 4096], // crosses the end: the tail reads as zeroes
        [300 * 1024, 512], // past the end
        [4096, 128 * 1024], // larger than the NOWAIT size: thread pool
      ] as const) {
        const want = Buffer.alloc(len);
        fs.readFileSync(p).copy(want, 0, Math.min(off, fs.statSync(p).size));
        const got = Buffer.alloc(len, 0xaa);
        await f.pread(off, got);
        assert.deepEqual(got, want, `read ${off}+${len}`);
      }
      await f.write(5000, bytes(3000, 7));
      await f.pwrite(200 * 1024 + 100, bytes(4096, 8)); // extends the file
      const file = fs.readFileSync(p);
      assert.deepEqual(file.subarray(5000, 8000), bytes(3000, 7));
      assert.deepEqual(file.subarray(200 * 1024 + 100), bytes(4096, 8));
      assert.equal(f.size, 200 * 1024 + 100 + 4096);
    } finally {
      await f.close();
    }
  });
}

type Patchable = 'readNowait' | 'writeNowait' | 'fallocate';

/**
 * Runs `fn` on a HostFile of a new file holding `content`, with one method of the native helper
 * replaced by `impl`; the method is put back afterwards.
 */
async function withPatched<K extends Patchable>(
  key: K,
  impl: NonNullable<NativeHelper[K]>,
  content: Buffer,
  fn: (f: HostFile, file: string, dir: string) => Promise<void>,
): Promise<void> {
  const dir = tmpDir(`vdisk-${key}-`);
  const p = path.join(dir, 'f.raw');
  fs.writeFileSync(p, content);
  const helper = native();
  const saved = helper[key];
  helper[key] = impl;
  const f = await HostFile.open(p, { lock: false });
  try {
    await fn(f, p, dir);
  } finally {
    helper[key] = saved;
    await f.close();
  }
}

const onTmpfs = (dir: string): boolean => fs.statfsSync(dir).type === 0x01021994;

test('a refused non-blocking read is done by the thread pool', async () => {
  await withPatched(
    'readNowait',
    () => -1,
    bytes(8192, 3),
    async (f) => {
      const b = Buffer.alloc(8192);
      await f.read(0, b);
      assert.deepEqual(b, bytes(8192, 3));
    },
  );
});

test('a file system that never does non-blocking reads or writes (-2) is not asked again', async () => {
  let asked = 0;
  const never = (): number => {
    asked++;
    return -2;
  };
  await withPatched('readNowait', never, bytes(5 * 4096, 4), async (f, _p, dir) => {
    for (let i = 0; i < 5; i++) {
      const b = Buffer.alloc(4096);
      await f.pread(i * 4096, b);
      assert.deepEqual(b, bytes(5 * 4096, 4).subarray(i * 4096, (i + 1) * 4096));
    }
    // On tmpfs small transfers are plain pread/pwrite on the event loop and never ask.
    assert.equal(asked, onTmpfs(dir) ? 0 : 1);
  });
  asked = 0;
  await withPatched('writeNowait', never, Buffer.alloc(0), async (f, p, dir) => {
    for (let i = 0; i < 5; i++) await f.pwrite(i * 4096, bytes(4096, i));
    const file = fs.readFileSync(p);
    for (let i = 0; i < 5; i++) assert.deepEqual(file.subarray(i * 4096, (i + 1) * 4096), bytes(4096, i));
    assert.equal(asked, onTmpfs(dir) ? 0 : 1);
  });
});

test('a refused zero range is remembered, and zeroes are written instead', async () => {
  const modes: number[] = [];
  const refuse: NativeHelper['fallocate'] = (_fd, mode) => {
    modes.push(mode);
    return Promise.reject(Object.assign(new Error('fallocate: EOPNOTSUPP'), { code: 'EOPNOTSUPP' }));
  };
  await withPatched('fallocate', refuse, Buffer.alloc(64 * 1024, 0xee), async (f, p) => {
    assert.equal(f.zeroesQuickly, true);
    await f.zeroRange(4096, 8192);
    assert.equal(f.zeroesQuickly, false);
    await f.zeroRange(32 * 1024, 4096);
    await f.zeroRange(60 * 1024, 8192); // past the end: extends the file
    assert.equal(modes.length, 1, 'asked the file system once');
    const file = fs.readFileSync(p);
    assert.equal(file.length, 68 * 1024);
    assert.ok(file.subarray(4096, 12288).every((b) => b === 0));
    assert.ok(file.subarray(32 * 1024, 36 * 1024).every((b) => b === 0));
    assert.ok(file.subarray(60 * 1024).every((b) => b === 0));
    assert.ok(file.subarray(0, 4096).every((b) => b === 0xee));
    assert.ok(file.subarray(12288, 32 * 1024).every((b) => b === 0xee));
  });
});

test('writesOnLoop: buffered writes of any size go straight to pwrite, not to the I/O engine', async () => {
  const dir = tmpDir('vdisk-loop-writes-');
  const big = bytes(2 * 1024 * 1024, 9); // above every event-loop size limit without the option
  const engineWrites = async (opts: { writesOnLoop?: boolean; cache?: 'writeback' | 'writethrough' }) => {
    const p = path.join(dir, `f-${Object.values(opts).join('-')}.raw`);
    fs.writeFileSync(p, Buffer.alloc(0));
    const f = await HostFile.open(p, { lock: false, ...opts });
    const engine = f.aio as { write: HostFile['aio']['write'] };
    const saved = engine.write;
    let calls = 0;
    engine.write = (...args) => {
      calls++;
      return saved(...args);
    };
    try {
      await f.pwrite(4096, big); // extends the file
      await f.write(0, bytes(4096, 10));
      assert.equal(f.size, 4096 + big.length);
    } finally {
      engine.write = saved;
      await f.close();
    }
    const file = fs.readFileSync(p);
    assert.deepEqual(file.subarray(4096), big);
    assert.deepEqual(file.subarray(0, 4096), bytes(4096, 10));
    return calls;
  };
  assert.equal(await engineWrites({ writesOnLoop: true }), 0);
  assert.ok((await engineWrites({})) >= 1, 'without the option a 2 MiB write takes the engine');
  // O_DSYNC writes wait for the disk: never on the event loop.
  assert.ok((await engineWrites({ writesOnLoop: true, cache: 'writethrough' })) >= 2);
});
