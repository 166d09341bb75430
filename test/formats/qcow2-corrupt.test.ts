/**
 * Damaged qcow2 images: what a user sees. Every case must end in a typed BlockError (CORRUPT or
 * BAD_FORMAT) whose message names the problem: never wrong data, never a crash, and never a
 * write that lands on metadata. Corruption found while writing is a state: the header's corrupt
 * bit (incompatible bit 1) goes to disk and every later write is refused.
 *
 * Also: `checkImage` reports leaks and corruptions with qemu-img check's counts, and its repair
 * leaves an image that qemu-img check calls clean.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  checkImage,
  createImage,
  decodeHeader,
  decodeL1Entry,
  decodeL2Entry,
  decodeRefcountTableEntry,
  openImage,
  type Qcow2Header,
} from '../../src/formats/index.js';
import { tmpDir } from '../helpers/tmp.js';
import {
  assertQemuCheckClean,
  expectBlockError,
  patchAt,
  qemuCheck,
  qemuImgJson,
  qemuImgOk,
  qemuIoOk,
  readAt,
  skipWithoutQemu,
  u64be,
} from '../helpers/qemu.js';

const skip = skipWithoutQemu();
const timeout = 30_000;
const KiB = 1024;
const MiB = 1024 * 1024;
const CS = 64 * KiB;

function header(f: string): Qcow2Header {
  return decodeHeader(readAt(f, 0, 4096));
}

/** Host offset of guest cluster `gc`'s L2 table and of its data (0 when unallocated). */
function locate(f: string, gc: number): { l2: number; data: number } {
  const h = header(f);
  const perL2 = CS / 8;
  const l1 = readAt(f, h.l1TableOffset, h.l1Size * 8);
  const e = decodeL1Entry(l1, Math.floor(gc / perL2), CS);
  if (e.kind !== 'table') return { l2: 0, data: 0 };
  const x = decodeL2Entry(readAt(f, e.offset, CS), gc % perL2, 16, h.version === 3);
  return { l2: e.offset, data: x.kind === 'normal' ? x.hostOffset : 0 };
}

/** File offset of the 16-bit refcount of host cluster `cluster` (default refcount_bits). */
function refcountEntryOffset(f: string, cluster: number): number {
  const h = header(f);
  const perBlock = CS / 2;
  const table = readAt(f, h.refcountTableOffset, h.refcountTableClusters * CS);
  const block = decodeRefcountTableEntry(table, Math.floor(cluster / perBlock), CS);
  assert.ok(block > 0, `a refcount block covers cluster ${cluster}`);
  return block + 2 * (cluster % perBlock);
}

/** A vdisk-made image with data in guest clusters 0, 1, 2 and 16 (0x11, 0x12, 0x13, 0x14). */
async function makeImage(dir: string, name = 'img.qcow2', size = 4 * MiB): Promise<string> {
  const f = path.join(dir, name);
  await createImage(f, { format: 'qcow2', size, options: {} });
  const img = await openImage(f);
  try {
    for (const [gc, byte] of [
      [0, 0x11],
      [1, 0x12],
      [2, 0x13],
      [16, 0x14],
    ] as const) {
      await img.write(gc * CS, Buffer.alloc(CS, byte));
    }
  } finally {
    await img.close();
  }
  return f;
}

test('bad magic is BAD_FORMAT, and probing calls the file raw', { timeout }, async () => {
  const dir = tmpDir();
  const f = await makeImage(dir);
  patchAt(f, 0, Buffer.from('QFJ\xfb', 'latin1'));
  for (const readOnly of [true, false]) {
    await expectBlockError(openImage(f, { format: 'qcow2', readOnly }), 'BAD_FORMAT', /magic/);
  }
  await expectBlockError(checkImage(f, { format: 'qcow2' }), 'BAD_FORMAT', /magic/);
  const img = await openImage(f, { readOnly: true });
  try {
    assert.equal(img.format, 'raw');
  } finally {
    await img.close();
  }
});

test('an L1 entry pointing past the end of the file is CORRUPT at open', { skip, timeout }, async () => {
  const dir = tmpDir();
  const f = await makeImage(dir);
  const h = header(f);
  const size = fs.statSync(f).size;
  patchAt(f, h.l1TableOffset, u64be((1n << 63n) | BigInt(size + 10 * CS)));
  await expectBlockError(openImage(f, { readOnly: true }), 'CORRUPT', /past the end of the file/);
  assert.equal(header(f).incompatibleFeatures, 0n, 'a read-only open never writes');
  assert.notEqual(qemuCheck(f).status, 0, 'qemu agrees the image is damaged');
  await expectBlockError(openImage(f), 'CORRUPT', /past the end of the file/);
});

test(
  'an L2 table at the refcount table offset (overlapping metadata) is CORRUPT',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const f = await makeImage(dir);
    const h = header(f);
    patchAt(f, h.l1TableOffset, u64be((1n << 63n) | BigInt(h.refcountTableOffset)));
    for (const readOnly of [true, false]) {
      await expectBlockError(openImage(f, { readOnly }), 'CORRUPT', /overlaps other metadata/);
    }
  },
);

test('a data cluster mapped onto the L1 table is never written over', { skip, timeout }, async () => {
  const dir = tmpDir();
  const f = await makeImage(dir);
  const h = header(f);
  const { l2 } = locate(f, 0);
  const l1Before = readAt(f, h.l1TableOffset, CS);
  patchAt(f, l2 + 8 * 2, u64be((1n << 63n) | BigInt(h.l1TableOffset))); // guest cluster 2
  const img = await openImage(f);
  try {
    await expectBlockError(img.write(2 * CS + 100, Buffer.alloc(100, 0xee)), 'CORRUPT', /metadata/);
    await expectBlockError(img.write(3 * CS, Buffer.alloc(100, 0xee)), 'CORRUPT');
  } finally {
    await img.close();
  }
  assert.deepEqual(readAt(f, h.l1TableOffset, CS), l1Before, 'the L1 table is intact');
  assert.equal(header(f).incompatibleFeatures & 2n, 2n, 'corrupt bit on disk');
});

test(
  'refcount 0 on a used data cluster: the write fails CORRUPT, later writes too, corrupt bit set',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const f = await makeImage(dir);
    const { data } = locate(f, 1);
    assert.ok(data > 0);
    patchAt(f, refcountEntryOffset(f, data / CS), Buffer.alloc(2));
    const img = await openImage(f);
    try {
      await expectBlockError(img.write(CS + 10, Buffer.alloc(10, 0x99)), 'CORRUPT', /refcount 0/);
      // Every later write fails, whatever it touches: allocating or in place.
      await expectBlockError(img.write(3 * MiB, Buffer.alloc(10, 0x98)), 'CORRUPT', /corrupt/);
      await expectBlockError(img.write(0, Buffer.alloc(10, 0x97)), 'CORRUPT');
      await expectBlockError(img.discard(0, CS), 'CORRUPT');
      await expectBlockError(img.writeZeroes(2 * CS, CS), 'CORRUPT');
      // Reads still work and return the data as it was.
      const b = Buffer.alloc(CS);
      await img.read(CS, b);
      assert.ok(b.every((x) => x === 0x12));
    } finally {
      await img.close();
    }
    assert.equal(header(f).incompatibleFeatures & 2n, 2n, 'incompatible bit 1 (corrupt) is on disk');
    const info = qemuImgJson<{ 'format-specific': { data: { corrupt: boolean } } }>(['info', '-U', f]);
    assert.equal(info['format-specific'].data.corrupt, true, 'qemu-img info says corrupt: true');
    // qemu opens it read-only only, and reads the data as it was.
    qemuIoOk(f, ['read -P 0x11 0 64k', 'read -P 0x12 64k 64k', 'read -P 0 3M 64k'], 'qcow2', ['-r']);
    await expectBlockError(openImage(f), 'CORRUPT', /marked corrupt/);
    // What qemu-img check counts, vdisk counts: refcount=0 reference=1, and OFLAG_COPIED.
    const q = qemuCheck(f);
    assert.equal(q.status, 2);
    const mine = await checkImage(f);
    assert.equal(mine.corruptions, q.report.corruptions);
    assert.equal(mine.leaks, q.report.leaks ?? 0);
    assert.ok(
      mine.messages.some((m) => m.includes(`cluster ${data / CS} refcount=0 reference=1`)),
      mine.messages.join('; '),
    );
  },
);

test(
  'checkImage(repair: all) repairs an image marked corrupt, as qemu-img check -r all does',
  {
    skip,
    timeout,
  },
  async () => {
    const dir = tmpDir();
    const f = await makeImage(dir);
    const { data } = locate(f, 1);
    patchAt(f, refcountEntryOffset(f, data / CS), Buffer.alloc(2));
    const img = await openImage(f);
    await expectBlockError(img.write(CS, Buffer.alloc(10)), 'CORRUPT');
    await img.close();
    assert.equal(header(f).incompatibleFeatures & 2n, 2n);
    const r = await checkImage(f, { repair: 'all' });
    assert.equal(r.corruptions, 0);
    assert.equal(r['corruptions-fixed'], 2);
    assert.equal(header(f).incompatibleFeatures, 0n, 'the corrupt bit is cleared');
    assertQemuCheckClean(f, 'after repair');
  },
);

test('a file truncated in the middle of the L1 table is CORRUPT', { skip, timeout }, async () => {
  const dir = tmpDir();
  const f = path.join(dir, 'trunc.qcow2');
  // 512-byte clusters: an L2 table maps 32 KiB, so 64 MiB needs a 16 KiB (32-cluster) L1 table.
  await createImage(f, { format: 'qcow2', size: 64 * MiB, options: { cluster_size: '512' } });
  const img = await openImage(f);
  await img.write(60 * MiB, Buffer.alloc(4 * KiB, 0x42));
  await img.close();
  const h = header(f);
  assert.equal(h.l1Size * 8, 16 * KiB);
  fs.truncateSync(f, h.l1TableOffset + 8 * KiB);
  for (const readOnly of [true, false]) {
    await expectBlockError(openImage(f, { readOnly }), 'CORRUPT', /L1 table.*past the end/);
  }
  await expectBlockError(checkImage(f), 'CORRUPT', /L1 table/);
});

test('an L2 entry with reserved bits set reads as CORRUPT, not as data', { skip, timeout }, async () => {
  const dir = tmpDir();
  const f = await makeImage(dir);
  const { l2, data } = locate(f, 2);
  patchAt(f, l2 + 8 * 2, u64be((1n << 63n) | BigInt(data) | 0x100n)); // bit 8 is reserved
  const img = await openImage(f, { readOnly: true });
  try {
    await expectBlockError(img.read(2 * CS, Buffer.alloc(512)), 'CORRUPT', /reserved bits/);
    await expectBlockError(img.blockStatus(2 * CS, CS), 'CORRUPT', /reserved bits/);
    const ok = Buffer.alloc(CS);
    await img.read(0, ok);
    assert.ok(
      ok.every((x) => x === 0x11),
      'other clusters still read',
    );
  } finally {
    await img.close();
  }
  assert.equal(header(f).incompatibleFeatures, 0n, 'a read-only open never writes the corrupt bit');
});

test('a compressed cluster with garbage data is CORRUPT, not wrong data', { skip, timeout }, async () => {
  const dir = tmpDir();
  const raw = path.join(dir, 'c.raw');
  fs.writeFileSync(raw, Buffer.alloc(4 * CS, 'compress me please '));
  const f = path.join(dir, 'c.qcow2');
  qemuImgOk(['convert', '-c', '-f', 'raw', '-O', 'qcow2', raw, f]);
  const h = header(f);
  const l1 = decodeL1Entry(readAt(f, h.l1TableOffset, 8), 0, CS);
  assert.equal(l1.kind, 'table');
  const e = decodeL2Entry(readAt(f, (l1 as { offset: number }).offset, 8), 0, 16, true);
  assert.equal(e.kind, 'compressed');
  patchAt(f, (e as { hostOffset: number }).hostOffset, Buffer.alloc(64, 0xff));
  const img = await openImage(f, { readOnly: true });
  try {
    await expectBlockError(img.read(0, Buffer.alloc(CS)), 'CORRUPT', /compressed cluster/);
  } finally {
    await img.close();
  }
});

test(
  'leaks: checkImage counts them as qemu-img check does, and repair leaks leaves it clean',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const f = await makeImage(dir);
    // Discard guest clusters 1 and 2: their host clusters are freed in the middle of the file.
    const hosts = [locate(f, 1).data, locate(f, 2).data];
    const img = await openImage(f);
    await img.discard(CS, 2 * CS);
    await img.close();
    assertQemuCheckClean(f, 'after discard');
    // An extra refcount set by hand on each freed cluster: two leaked clusters.
    for (const host of hosts) patchAt(f, refcountEntryOffset(f, host / CS), Buffer.from([0, 1]));
    const q = qemuCheck(f);
    assert.equal(q.status, 3, 'qemu-img check exit 3: leaks only');
    assert.equal(q.report.leaks, 2);
    const mine = await checkImage(f);
    assert.equal(mine.leaks, q.report.leaks);
    assert.equal(mine.corruptions, q.report.corruptions ?? 0);
    assert.equal(mine['check-errors'], q.report['check-errors']);
    assert.equal(mine['image-end-offset'], q.report['image-end-offset']);
    assert.equal(mine['allocated-clusters'], q.report['allocated-clusters']);
    for (const host of hosts) {
      assert.ok(
        mine.messages.some((m) => m === `Leaked cluster ${host / CS} refcount=1 reference=0`),
        mine.messages.join('; '),
      );
      assert.match(q.stderr, new RegExp(`Leaked cluster ${host / CS} refcount=1 reference=0`));
    }
    const fixed = await checkImage(f, { repair: 'leaks' });
    assert.equal(fixed['leaks-fixed'], 2);
    assert.equal(fixed.leaks, 0);
    assertQemuCheckClean(f, 'after vdisk repair');
    qemuIoOk(f, ['read -P 0x11 0 64k', 'read -P 0 64k 128k', 'read -P 0x14 1M 64k']);
  },
);
