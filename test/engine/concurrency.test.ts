/**
 * Concurrency of the qcow2 engine (STYLE.md convention 8): many requests in flight on one image
 * give the result of some serial order, and the metadata stays consistent (`qemu-img check`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createImage, openImage, type Image } from '../../src/formats/index.js';
import { pattern, qemuAvailable, qemuImg } from './model.js';

const skip = qemuAvailable() ? false : 'qemu-img is not installed (run scripts/setup.sh)';
const CS = 65536;

async function withImage(
  fn: (img: Image, file: string) => Promise<void>,
  opts: Record<string, string> = {},
): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vdisk-conc-'));
  const file = path.join(dir, 'c.qcow2');
  try {
    await createImage(file, {
      format: 'qcow2',
      size: 256 * 1024 * 1024,
      options: { cluster_size: String(CS), ...opts },
    });
    const img = await openImage(file);
    try {
      await fn(img, file);
    } finally {
      await img.close();
    }
    const chk = qemuImg(['check', file]);
    assert.equal(chk.status, 0, `qemu-img check: ${chk.stdout}${chk.stderr}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('writers allocating the same cluster at once all land, and it is allocated once', { skip }, async () => {
  await withImage(async (img) => {
    // 16 writers, each 4 KiB of one unallocated cluster, all started together.
    const parts = Array.from({ length: 16 }, (_, i) => pattern(i, 4096));
    await Promise.all(parts.map((p, i) => img.write(5 * CS + i * 4096, p)));
    const got = Buffer.alloc(CS);
    await img.read(5 * CS, got);
    assert.ok(got.equals(Buffer.concat(parts)));
    const ext = await img.blockStatus(5 * CS, CS);
    assert.equal(ext.length, 1);
    assert.equal(ext[0]!.data, true);
  });
});

test(
  'overlapping concurrent writes leave one whole write per cluster, never a mix within a sector',
  { skip },
  async () => {
    await withImage(async (img) => {
      for (let round = 0; round < 20; round++) {
        const off = round * 3 * CS + 1000;
        const writes = Array.from({ length: 8 }, (_, i) => pattern(round * 100 + i, 2 * CS));
        await Promise.all(writes.map((w) => img.write(off, w)));
        const got = Buffer.alloc(2 * CS);
        await img.read(off, got);
        for (let s = 0; s < got.length; s += 512) {
          const sector = got.subarray(s, s + 512);
          assert.ok(
            writes.some((w) => w.subarray(s, s + 512).equals(sector)),
            `round ${round}: sector at ${s} is not from any single write`,
          );
        }
      }
    });
  },
);

test(
  'a write racing a discard of the same cluster ends as one or the other, with consistent metadata',
  { skip },
  async () => {
    await withImage(async (img) => {
      const data = pattern(7, CS);
      for (let i = 0; i < 50; i++) {
        const off = i * CS;
        await img.write(off, pattern(1000 + i, CS));
        await Promise.all([img.write(off, data), img.discard(off, CS)]);
        const got = Buffer.alloc(CS);
        await img.read(off, got);
        assert.ok(
          got.equals(data) || got.equals(Buffer.alloc(CS)),
          `cluster ${i}: neither the write nor the discard`,
        );
      }
    });
  },
);

test('writes racing a resize all land and the image grows', { skip }, async () => {
  await withImage(async (img) => {
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 64; i++) writes.push(img.write(i * CS + 17, pattern(i, 3000)));
    const grown = img.resize(8 * 1024 * 1024 * 1024);
    for (let i = 64; i < 128; i++) writes.push(img.write(i * CS + 17, pattern(i, 3000)));
    await Promise.all([...writes, grown]);
    assert.equal(img.size, 8 * 1024 * 1024 * 1024);
    await img.write(7 * 1024 * 1024 * 1024, pattern(999, 5000));
    for (let i = 0; i < 128; i++) {
      const got = Buffer.alloc(3000);
      await img.read(i * CS + 17, got);
      assert.ok(got.equals(pattern(i, 3000)), `write ${i} lost`);
    }
  });
});

test(
  'readers during allocation see the old or the new cluster content, never anything else',
  { skip },
  async () => {
    await withImage(async (img) => {
      const old = pattern(1, CS);
      const next = pattern(2, CS);
      for (let i = 0; i < 40; i++) {
        const off = (100 + i) * CS;
        await img.write(off, old.subarray(0, 512)); // partially allocated: rest reads as zero
        const expectOld = Buffer.alloc(CS);
        old.copy(expectOld, 0, 0, 512);
        const reads = Array.from({ length: 6 }, () => Buffer.alloc(CS));
        await Promise.all([
          img.writeZeroes(off, CS, { mayUnmap: true }).then(() => img.write(off, next)),
          ...reads.map((r) => img.read(off, r)),
        ]);
        for (const r of reads) {
          assert.ok(
            r.equals(expectOld) || r.equals(next) || r.equals(Buffer.alloc(CS)),
            `cluster ${i}: a read saw a mixture`,
          );
        }
      }
    });
  },
);

test(
  'many concurrent allocating writers with lazy refcounts keep refcounts consistent after close',
  { skip },
  async () => {
    await withImage(
      async (img) => {
        await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            img.write(((i * 7919) % 4000) * CS + (i % 3) * 700, pattern(i, 9000)),
          ),
        );
        await img.flush();
      },
      { lazy_refcounts: 'on' },
    );
  },
);
