/**
 * vdisk -> QEMU: images created and written by vdisk, then judged by qemu-img and qemu-io.
 *
 * - A creation matrix over compat 0.10/1.1, cluster sizes 512 B to 2 MiB, refcount widths 1/16/64,
 *   the four preallocation modes and lazy refcounts (a covering subset: every cluster size meets
 *   every preallocation mode, every mode and every width meets lazy refcounts on and off). Each
 *   image gets writes, an overwrite, write-zeroes and a discard through the API; then
 *   `qemu-img check` must be clean, `qemu-img info` must agree with `Image.info()`, and qemu-io
 *   verifies every byte against a model.
 * - Backing chains (raw and qcow2 bases) with copy-on-write of partial clusters.
 * - Resize: growth that needs a bigger L1 table, shrink of an unallocated tail, refused shrink.
 * - Refcount table growth with 512-byte clusters and 64-bit refcounts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createImage, decodeHeader, openImage, Qcow2Image, type Image } from '../../src/formats/index.js';
import { tmpDir } from '../helpers/tmp.js';
import {
  assertQemuCheckClean,
  expectBlockError,
  pattern,
  qemuImgJson,
  qemuImgOk,
  qemuIoOk,
  qemuMap,
  readAt,
  skipWithoutQemu,
} from '../helpers/qemu.js';

const skip = skipWithoutQemu();
/** A hang (an allocator that never finds room) must fail the test, not stall the suite. */
const timeout = 60_000;
const KiB = 1024;
const MiB = 1024 * 1024;

type Prealloc = 'off' | 'metadata' | 'falloc' | 'full';
interface Combo {
  compat: '0.10' | '1.1';
  cs: number;
  rb: number;
  prealloc: Prealloc;
  lazy: boolean;
}

// [cluster size, refcount bits, preallocation, lazy refcounts] for compat 1.1, then compat 0.10.
const V3: Array<[number, number, Prealloc, boolean]> = [
  [512, 1, 'off', true],
  [512, 16, 'metadata', false],
  [512, 64, 'falloc', true],
  [4 * KiB, 1, 'metadata', true],
  [4 * KiB, 16, 'falloc', false],
  [4 * KiB, 64, 'full', false],
  [64 * KiB, 1, 'falloc', true],
  [64 * KiB, 16, 'full', true],
  [64 * KiB, 64, 'off', false],
  [2 * MiB, 1, 'full', false],
  [2 * MiB, 16, 'off', true],
  [2 * MiB, 64, 'metadata', true],
];
const V2: Array<[number, Prealloc]> = [
  [512, 'full'],
  [4 * KiB, 'off'],
  [64 * KiB, 'metadata'],
  [2 * MiB, 'falloc'],
];
const COMBOS: Combo[] = [
  ...V3.map(([cs, rb, prealloc, lazy]) => ({ compat: '1.1' as const, cs, rb, prealloc, lazy })),
  ...V2.map(([cs, prealloc]) => ({ compat: '0.10' as const, cs, rb: 16, prealloc, lazy: false })),
];

function sizeFor(cs: number): number {
  return cs === 512 ? 8 * MiB : cs === 4 * KiB ? 16 * MiB : cs === 64 * KiB ? 32 * MiB : 64 * MiB;
}

function optionsOf(c: Combo): Record<string, string> {
  return {
    compat: c.compat,
    cluster_size: String(c.cs),
    refcount_bits: String(c.rb),
    preallocation: c.prealloc,
    lazy_refcounts: c.lazy ? 'on' : 'off',
  };
}

/** qemu-io commands that check every byte of `model`, one `read -P` per run of equal bytes. */
function verifyCommands(model: Buffer): string[] {
  const cmds: string[] = [];
  let start = 0;
  for (let i = 1; i <= model.length; i++) {
    if (i === model.length || model[i] !== model[start]) {
      cmds.push(`read -P 0x${model[start]!.toString(16)} ${start} ${i - start}`);
      start = i;
    }
  }
  return cmds;
}

async function withImage<T>(file: string, fn: (img: Image) => Promise<T>, readOnly = false): Promise<T> {
  const img = await openImage(file, { readOnly });
  try {
    return await fn(img);
  } finally {
    await img.close();
  }
}

/** Compares `qemu-img info` with vdisk's info() for the fields both must agree on. */
async function assertInfoAgrees(file: string, ctx: string): Promise<Record<string, unknown>> {
  const mine = await withImage(file, (img) => img.info(), true);
  const q = qemuImgJson<Record<string, unknown>>(['info', file]);
  for (const k of ['virtual-size', 'format', 'cluster-size', 'dirty-flag']) {
    assert.deepEqual((mine as unknown as Record<string, unknown>)[k], q[k], `${ctx}: info field ${k}`);
  }
  assert.deepEqual(mine['format-specific'], q['format-specific'], `${ctx}: format-specific`);
  return q;
}

for (const c of COMBOS) {
  const name = `compat=${c.compat} cluster_size=${c.cs} refcount_bits=${c.rb} preallocation=${c.prealloc} lazy_refcounts=${c.lazy ? 'on' : 'off'}`;
  test(`vdisk writes, qemu reads: ${name}`, { skip, timeout }, async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'img.qcow2');
    const S = sizeFor(c.cs);
    await createImage(file, { format: 'qcow2', size: S, options: optionsOf(c) });
    const model = Buffer.alloc(S);
    const writes: Array<[number, number, number]> = [
      [1000, Math.min(3 * c.cs, MiB) + 777, 0x11], // unaligned, several clusters
      [S / 2 - 100, 200, 0x22], // crosses the middle
      [S / 4 + 512, 256 * KiB, 0x44], // many small clusters in one request
      [S - 5000, 5000, 0x33], // up to the last byte
      [1500, 100, 0x55], // overwrite in place
    ];
    const img = await openImage(file);
    try {
      for (const [off, len, byte] of writes) {
        await img.write(off, Buffer.alloc(len, byte));
        model.fill(byte, off, off + len);
      }
      const dirty = decodeHeader(readAt(file, 0, 512)).incompatibleFeatures & 1n;
      // Deferred refcount updates set the dirty bit first; preallocated clusters need none.
      assert.equal(dirty, c.lazy && c.prealloc === 'off' ? 1n : 0n, 'dirty bit while open');
      await img.writeZeroes(S / 4 + 64 * KiB, 64 * KiB);
      model.fill(0, S / 4 + 64 * KiB, S / 4 + 128 * KiB);
      const d0 = S / 2 + 2 * c.cs;
      await img.discard(d0, 2 * c.cs);
      model.fill(0, d0, d0 + 2 * c.cs);
      const back = Buffer.alloc(300 * KiB);
      await img.read(S / 4, back);
      assert.ok(back.equals(model.subarray(S / 4, S / 4 + back.length)), 'vdisk reads back its writes');
    } finally {
      await img.close();
    }
    assert.equal(decodeHeader(readAt(file, 0, 512)).incompatibleFeatures, 0n, 'clean after close');
    const report = assertQemuCheckClean(file, name);
    const info = await assertInfoAgrees(file, name);
    qemuIoOk(file, verifyCommands(model));
    const unallocated = qemuMap(file)
      .filter((e) => !e.present)
      .reduce((n, e) => n + e.length, 0);
    if (c.prealloc === 'off') {
      assert.ok(unallocated > S / 2, `${name}: mostly unallocated`);
    } else {
      assert.equal(unallocated, 2 * c.cs, `${name}: only the discarded clusters are unallocated`);
      assert.equal(report['allocated-clusters'], S / c.cs - 2);
    }
    const actual = info['actual-size'] as number;
    if (c.prealloc === 'falloc' || c.prealloc === 'full') assert.ok(actual >= S * 0.9, `${name}: ${actual}`);
    if (c.prealloc === 'off') assert.ok(actual < S / 2, `${name}: ${actual}`);
  });
}

test('creation refuses invalid combinations with a clear error', async () => {
  const dir = tmpDir();
  const f = path.join(dir, 'bad.qcow2');
  const create = (options: Record<string, string>): Promise<void> =>
    createImage(f, { format: 'qcow2', size: MiB, options });
  for (const rb of ['1', '2', '4', '8', '32', '64']) {
    await expectBlockError(create({ compat: '0.10', refcount_bits: rb }), 'INVALID', /compat=1\.1/);
  }
  await expectBlockError(create({ compat: '0.10', lazy_refcounts: 'on' }), 'INVALID', /compat=1\.1/);
  await expectBlockError(create({ refcount_bits: '3' }), 'INVALID', /refcount_bits/);
  await expectBlockError(create({ refcount_bits: '128' }), 'INVALID', /refcount_bits/);
  await expectBlockError(create({ cluster_size: '256' }), 'INVALID', /cluster size/);
  await expectBlockError(create({ cluster_size: '4M' }), 'INVALID', /cluster size/);
  await expectBlockError(create({ cluster_size: '3000' }), 'INVALID', /cluster size/);
  await expectBlockError(create({ preallocation: 'sparse' }), 'INVALID', /preallocation/);
  await expectBlockError(create({ compat: '2.0' }), 'INVALID', /compat/);
  await expectBlockError(create({ extended_l2: 'on', cluster_size: '4k' }), 'INVALID', /at least 16384/);
  await expectBlockError(create({ extended_l2: 'on', compat: '0.10' }), 'INVALID', /compatibility level 1.1/);
  await expectBlockError(create({ no_such_option: '1' }), 'INVALID', /no_such_option/);
});

test('creation rounds an unaligned size up to whole sectors, as qemu-img does', { skip }, async () => {
  const dir = tmpDir();
  const f = path.join(dir, 'odd.qcow2');
  await createImage(f, { format: 'qcow2', size: 1000, options: {} });
  assert.equal(qemuImgJson(['info', f])['virtual-size'], 1024);
  await withImage(f, async (img) => {
    assert.equal(img.size, 1024);
    await img.write(1000, Buffer.alloc(24, 0x99));
  });
  qemuIoOk(f, ['read -P 0 0 1000', 'read -P 0x99 1000 24']);
});

for (const base of ['raw', 'qcow2'] as const) {
  test(
    `backing chain: ${base} base, vdisk overlay with partial-cluster copy-on-write`,
    { skip, timeout },
    async () => {
      const dir = tmpDir();
      // The base's data, with a hole at [1 MiB, 2 MiB); its size is not a multiple of 512, which
      // qemu (and so vdisk) rounds up for the overlay.
      const baseLen = 4 * MiB + 12345;
      const S = 4 * MiB + 12800;
      const baseBin = path.join(dir, 'base.bin');
      const baseData = pattern(baseLen, base === 'raw' ? 1 : 2);
      baseData.fill(0, MiB, 2 * MiB);
      fs.writeFileSync(baseBin, baseData);
      const basePath = path.join(dir, `base.${base}`);
      if (base === 'raw') fs.renameSync(baseBin, basePath);
      else qemuImgOk(['convert', '-f', 'raw', '-O', 'qcow2', baseBin, basePath]);
      const model = Buffer.alloc(S);
      baseData.copy(model);
      const ov = path.join(dir, 'ov.qcow2');
      const compat = base === 'raw' ? '1.1' : '0.10';
      const cs = base === 'raw' ? 4 * KiB : 64 * KiB;
      // A relative backing name is relative to the overlay's directory, as qemu resolves it.
      await createImage(ov, {
        format: 'qcow2',
        backingFile: `base.${base}`,
        backingFormat: base,
        options: { compat, cluster_size: String(cs) },
      });
      const ops: Array<[string, number, number]> = [
        ['write', 100, 10], // head of cluster 0: the rest of the cluster comes from the base
        ['write', cs + cs / 2, cs], // straddles two clusters, neither edge aligned
        ['write', MiB + 7, 3 * cs], // over the base's hole
        ['zero', 3 * MiB + cs / 4, 2 * cs], // partial zeroes over base data
        ['discard', 3 * MiB + 4 * cs, 4 * cs],
        ['write', S - 300, 300], // the partial last cluster
        ['write', 200, 20], // rewrite an allocated cluster in place
      ];
      await withImage(ov, async (img) => {
        assert.equal(img.size, S, 'size taken from the backing file');
        for (const [op, off, len] of ops) {
          if (op === 'write') {
            const data = pattern(len, off);
            await img.write(off, data);
            data.copy(model, off);
          } else if (op === 'zero') {
            await img.writeZeroes(off, len);
            model.fill(0, off, off + len);
          } else {
            await img.discard(off, len);
            // Whole clusters discarded over a backing file read as zero (v3) or from the backing
            // file (v2, which has no zero clusters): qemu behaves the same.
            if (compat === '1.1') model.fill(0, off, off + len);
          }
        }
      });
      const modelPath = path.join(dir, 'model.raw');
      fs.writeFileSync(modelPath, model);
      qemuImgOk(['compare', '-f', 'qcow2', '-F', 'raw', ov, modelPath]);
      assertQemuCheckClean(ov, 'overlay');
      const chain = qemuImgJson<Array<Record<string, unknown>>>(['info', '--backing-chain', ov]);
      assert.equal(chain.length, 2);
      assert.equal(chain[0]!['backing-filename'], `base.${base}`);
      assert.equal(chain[0]!['backing-filename-format'], base);
      assert.equal(chain[0]!['full-backing-filename'], basePath);
      assert.equal(chain[1]!['format'], base);
      const mine = await withImage(ov, (img) => img.info(), true);
      for (const k of [
        'backing-filename',
        'backing-filename-format',
        'full-backing-filename',
        'virtual-size',
      ]) {
        assert.deepEqual((mine as unknown as Record<string, unknown>)[k], chain[0]![k], k);
      }
    },
  );
}

test('resize: growth that needs a bigger L1 table (512-byte clusters)', { skip, timeout }, async () => {
  const dir = tmpDir();
  const f = path.join(dir, 'grow.qcow2');
  // One L2 table maps 512 * 64 = 32 KiB; 1 MiB needs 32 L1 entries (one cluster), 8 MiB 256.
  await createImage(f, { format: 'qcow2', size: MiB, options: { cluster_size: '512' } });
  const before = decodeHeader(readAt(f, 0, 512));
  await withImage(f, async (img) => {
    await img.write(MiB - 700, Buffer.alloc(700, 0x61));
    // qemu refuses sizes that are not whole sectors (it would truncate them on open).
    await expectBlockError(img.resize(2 * MiB + 100), 'INVALID', /multiple of 512/);
    await img.resize(8 * MiB);
    await img.write(8 * MiB - 1000, Buffer.alloc(1000, 0x62));
    await img.write(4 * MiB, Buffer.alloc(40 * KiB, 0x63));
  });
  const after = decodeHeader(readAt(f, 0, 512));
  assert.equal(before.l1Size, 32);
  assert.equal(after.l1Size, 256);
  assert.notEqual(after.l1TableOffset, before.l1TableOffset, 'the L1 table moved');
  assertQemuCheckClean(f, 'after growth');
  assert.equal(qemuImgJson(['info', f])['virtual-size'], 8 * MiB);
  qemuIoOk(f, [
    `read -P 0 0 ${MiB - 700}`,
    `read -P 0x61 ${MiB - 700} 700`,
    `read -P 0 ${MiB} ${3 * MiB}`,
    `read -P 0x63 ${4 * MiB} ${40 * KiB}`,
    `read -P 0 ${4 * MiB + 40 * KiB} ${4 * MiB - 40 * KiB - 1000}`,
    `read -P 0x62 ${8 * MiB - 1000} 1000`,
  ]);
});

test(
  'resize: shrink an unallocated tail, refuse an allocated one, stale bytes never return',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'shrink.qcow2');
    await createImage(f, { format: 'qcow2', size: 8 * MiB, options: {} });
    await withImage(f, async (img) => {
      await img.write(0, Buffer.alloc(128 * KiB, 0x71));
      await img.write(6 * MiB, Buffer.alloc(4 * KiB, 0x72));
      await expectBlockError(img.resize(4 * MiB), 'INVALID', /shrink/);
      await expectBlockError(
        img.resize(4 * MiB, { shrink: true }),
        ['NOT_SUPPORTED', 'INVALID'],
        /allocated/,
      );
      assert.equal(img.size, 8 * MiB, 'a refused shrink changes nothing');
      await img.discard(6 * MiB, 64 * KiB);
      await img.resize(100 * KiB, { shrink: true }); // cuts the 2nd cluster in the middle
      assert.equal(img.size, 100 * KiB);
    });
    assertQemuCheckClean(f, 'after shrink');
    assert.equal(qemuImgJson(['info', f])['virtual-size'], 100 * KiB);
    qemuIoOk(f, [`read -P 0x71 0 ${100 * KiB}`]);
    await withImage(f, (img) => img.resize(MiB));
    assertQemuCheckClean(f, 'after regrow');
    qemuIoOk(f, [`read -P 0x71 0 ${100 * KiB}`, `read -P 0 ${100 * KiB} ${MiB - 100 * KiB}`]);
  },
);

test(
  'resize: an L1 table larger than one refcount block covers (512-byte clusters to 1 GiB)',
  {
    skip,
    timeout,
  },
  async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'big-l1.qcow2');
    await createImage(f, { format: 'qcow2', size: MiB, options: { cluster_size: '512' } });
    await withImage(f, async (img) => {
      await img.resize(1024 * MiB); // 32768 L1 entries: 256 KiB, 512 clusters
      await img.write(1024 * MiB - 512, Buffer.alloc(512, 0x6c));
    });
    assertQemuCheckClean(f, 'after growth');
    qemuIoOk(f, [`read -P 0x6c ${1024 * MiB - 512} 512`]);
  },
);

test('resize: growing an overlay never exposes its longer backing file', { skip, timeout }, async () => {
  const dir = tmpDir();
  const base = path.join(dir, 'base.qcow2');
  qemuImgOk(['create', '-q', '-f', 'qcow2', base, '4M']);
  qemuIoOk(base, ['write -P 0x5b 0 4M']);
  const ov = path.join(dir, 'ov.qcow2');
  await createImage(ov, {
    format: 'qcow2',
    size: MiB + 512,
    backingFile: 'base.qcow2',
    backingFormat: 'qcow2',
    options: {},
  });
  await withImage(ov, (img) => img.resize(3 * MiB));
  assertQemuCheckClean(ov, 'after growth');
  qemuIoOk(ov, [`read -P 0x5b 0 ${MiB + 512}`, `read -P 0 ${MiB + 512} ${2 * MiB - 512}`]);
});

test(
  'refcount table growth: 512-byte clusters, 64-bit refcounts, several refcount blocks',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'rt.qcow2');
    // One refcount block covers 512 * 8 / 64 = 64 clusters (32 KiB of file); the one-cluster
    // refcount table has 64 entries, so it covers 2 MiB of file. Write 3 MiB of data.
    const S = 8 * MiB;
    await createImage(f, { format: 'qcow2', size: S, options: { cluster_size: '512', refcount_bits: '64' } });
    const before = decodeHeader(readAt(f, 0, 512));
    assert.equal(before.refcountTableClusters, 1);
    const model = Buffer.alloc(S);
    await withImage(f, async (img) => {
      for (let i = 0; i < 24; i++) {
        // Scattered 128 KiB writes, in an order that is not the guest order.
        const off = ((i * 7) % 24) * 320 * KiB + (i % 3) * 1000;
        const data = pattern(128 * KiB, i + 100);
        await img.write(off, data);
        data.copy(model, off);
      }
    });
    const after = decodeHeader(readAt(f, 0, 512));
    assert.ok(
      after.refcountTableClusters > 1,
      `refcount table grew (${after.refcountTableClusters} clusters)`,
    );
    assert.notEqual(after.refcountTableOffset, before.refcountTableOffset);
    assertQemuCheckClean(f, 'after refcount table growth');
    const modelPath = path.join(dir, 'model.raw');
    fs.writeFileSync(modelPath, model);
    qemuImgOk(['compare', '-f', 'qcow2', '-F', 'raw', f, modelPath]);
    // Reopen and keep writing: the grown table is read back correctly.
    await withImage(f, (img) => img.write(S - MiB, Buffer.alloc(MiB, 0x7e)));
    model.fill(0x7e, S - MiB);
    fs.writeFileSync(modelPath, model);
    assertQemuCheckClean(f, 'after more writes');
    qemuImgOk(['compare', '-f', 'qcow2', '-F', 'raw', f, modelPath]);
  },
);

const reuseBases: Array<string | undefined> = [undefined, ...(fs.existsSync('/dev/shm') ? ['/dev/shm'] : [])];
for (const base of reuseBases) {
  test(
    `a partial write into a reused host cluster reads zeroes around it (${base ?? 'default temp dir'})`,
    { skip, timeout },
    async () => {
      // The new cluster is zeroed before the data goes in (FALLOC_FL_ZERO_RANGE, or zero bytes
      // where the file system refuses it, as tmpfs does): write zeroes with unmap frees the host
      // clusters without punching them, so they still hold 0xff bytes, and none may show through.
      const dir = tmpDir('vdisk-qcow2-reuse-', base);
      const f = path.join(dir, 'r.qcow2');
      const cs = 64 * KiB;
      await createImage(f, { format: 'qcow2', size: 16 * MiB });
      await withImage(f, async (img) => {
        await img.write(0, Buffer.alloc(4 * cs, 0xff));
        await img.flush();
      });
      const stale = qemuMap(f)
        .filter((e) => e.data)
        .map((e) => e.offset!);
      await withImage(f, async (img) => {
        await img.writeZeroes(0, 4 * cs, { mayUnmap: true });
        await img.flush();
        assert.ok(
          readAt(f, stale[0]!, cs).every((b) => b === 0xff),
          'the freed cluster keeps its bytes',
        );
        // Head and tail pads (one cluster), a head pad only, a tail pad only (two clusters).
        await img.write(8 * cs + 1000, pattern(3000, 1));
        await img.write(10 * cs + 5000, pattern(2 * cs - 5000, 2));
        await img.write(12 * cs, pattern(cs + 512, 3));
      });
      assertQemuCheckClean(f, 'after writes into reused clusters');
      const used = qemuMap(f)
        .filter((e) => e.data)
        .map((e) => e.offset!);
      assert.ok(
        used.some((o) => o >= stale[0]! && o < stale[0]! + 4 * cs),
        `a freed host cluster was reused (freed at ${stale}, now used ${used})`,
      );
      const model = Buffer.alloc(16 * MiB);
      pattern(3000, 1).copy(model, 8 * cs + 1000);
      pattern(2 * cs - 5000, 2).copy(model, 10 * cs + 5000);
      pattern(cs + 512, 3).copy(model, 12 * cs);
      const modelPath = path.join(dir, 'model.raw');
      fs.writeFileSync(modelPath, model);
      qemuImgOk(['compare', '-f', 'qcow2', '-F', 'raw', f, modelPath]);
      await withImage(
        f,
        async (img) => {
          const got = Buffer.alloc(6 * cs);
          await img.read(8 * cs, got);
          assert.deepEqual(got, model.subarray(8 * cs, 14 * cs));
        },
        true,
      );
    },
  );
}

test(
  'a partial write into new clusters past the end of the file writes only its data',
  { skip, timeout },
  async () => {
    // The zeroes around the data are a hole past the end of the file: nothing is written or zeroed
    // for them, and qemu reads them as zeroes and finds the image clean.
    const dir = tmpDir('vdisk-qcow2-tail-');
    const f = path.join(dir, 't.qcow2');
    const cs = 64 * KiB;
    await createImage(f, { format: 'qcow2', size: 16 * MiB });
    const before = fs.statSync(f).size;
    const written: Array<[number, number]> = [];
    let zeroed = 0;
    await withImage(f, async (img) => {
      assert.ok(img instanceof Qcow2Image);
      const file = img.s.file;
      const pwrite = file.pwrite.bind(file);
      const zeroRange = file.zeroRange.bind(file);
      file.pwrite = (off, data, o) => {
        written.push([off, data.length]);
        return pwrite(off, data, o);
      };
      file.zeroRange = (off, len, o) => {
        zeroed += len;
        return zeroRange(off, len, o);
      };
      await img.write(8 * cs + 100, pattern(1000, 9));
    });
    const host = qemuMap(f).find((e) => e.data)!.offset!;
    const inCluster = written.filter(([off]) => off >= host && off < host + cs);
    assert.deepEqual(inCluster, [[host + 100, 1000]], 'only the data went to its cluster');
    assert.equal(zeroed, 0, 'nothing was zeroed');
    assert.ok(host >= before, `the new cluster lies past the old end of the file (${host}, ${before})`);
    assertQemuCheckClean(f, 'after a partial write past the end');
    const model = Buffer.alloc(16 * MiB);
    pattern(1000, 9).copy(model, 8 * cs + 100);
    const modelPath = path.join(dir, 'model.raw');
    fs.writeFileSync(modelPath, model);
    qemuImgOk(['compare', '-f', 'qcow2', '-F', 'raw', f, modelPath]);
    await withImage(
      f,
      async (img) => {
        const got = Buffer.alloc(cs);
        await img.read(8 * cs, got);
        assert.deepEqual(got, model.subarray(8 * cs, 9 * cs));
      },
      true,
    );
  },
);
