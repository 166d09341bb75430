/**
 * Internal snapshots across a backing chain, and repair, against qemu-img in both directions:
 * - a 3-deep chain with snapshots at every level, taken by qemu-img and by vdisk, applied by
 *   either tool, with every level checking clean;
 * - `checkImage(repair: 'all')` fixes what qemu-img check -r all fixes (refcount below its
 *   references, a wrong OFLAG_COPIED, leaks), after which qemu-img check is clean.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { checkImage, createImage, openImage, Qcow2Image } from '../../src/formats/index.js';
import { tmpDir } from '../helpers/tmp.js';
import {
  assertQemuCheckClean,
  patchAt,
  qemuCheck,
  qemuImgOk,
  qemuIoOk,
  qemuMap,
  qemuRawBytes,
  readAt,
  skipWithoutQemu,
  u64be,
} from '../helpers/qemu.js';

const skip = skipWithoutQemu();
const timeout = 60_000;
const MiB = 1024 * 1024;

async function withQcow2<T>(file: string, fn: (img: Qcow2Image) => Promise<T>): Promise<T> {
  const img = await openImage(file);
  assert.ok(img instanceof Qcow2Image);
  try {
    return await fn(img);
  } finally {
    await img.close();
  }
}

test(
  '3-deep chain with snapshots at every level, taken and applied by both tools',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const base = path.join(dir, 'base.qcow2');
    const mid = path.join(dir, 'mid.qcow2');
    const top = path.join(dir, 'top.qcow2');
    // base: qemu writes and snapshots.
    qemuImgOk(['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', base, '4M']);
    qemuIoOk(base, ['write -P 0x11 0 2M']);
    qemuImgOk(['snapshot', '-c', 'base-snap', base]);
    qemuIoOk(base, ['write -P 0x12 1M 64k']);
    // mid: vdisk overlay, vdisk snapshot.
    await createImage(mid, { format: 'qcow2', backingFile: 'base.qcow2', backingFormat: 'qcow2' });
    await withQcow2(mid, async (img) => {
      await img.write(100, Buffer.alloc(5000, 0x21));
      await img.createSnapshot('mid-snap');
      await img.write(200, Buffer.alloc(100, 0x22)); // copy-on-write of a cluster shared with mid-snap
    });
    // top: vdisk overlay, snapshot by qemu and by vdisk.
    await createImage(top, {
      format: 'qcow2',
      backingFile: 'mid.qcow2',
      backingFormat: 'qcow2',
      options: { cluster_size: '16k' },
    });
    await withQcow2(top, async (img) => img.write(3 * MiB, Buffer.alloc(8192, 0x31)));
    qemuImgOk(['snapshot', '-c', 'top-qemu', top]);
    const atTopQemu = qemuRawBytes(top, path.join(dir, 'a.raw'));
    await withQcow2(top, async (img) => {
      await img.write(3 * MiB + 4096, Buffer.alloc(4096, 0x32));
      await img.createSnapshot('top-vdisk');
      await img.discard(3 * MiB, 16384);
    });
    const atEnd = qemuRawBytes(top, path.join(dir, 'b.raw'));
    for (const f of [base, mid, top]) assertQemuCheckClean(f, path.basename(f));
    assert.match(qemuImgOk(['snapshot', '-l', top]), /top-qemu[\s\S]*top-vdisk/);
    assert.match(qemuImgOk(['snapshot', '-l', mid]), /mid-snap/);

    // vdisk applies qemu's snapshot; qemu sees the content of that moment.
    await withQcow2(top, async (img) => {
      assert.deepEqual(
        img.listSnapshots().map((s) => s.name),
        ['top-qemu', 'top-vdisk'],
      );
      await img.applySnapshot('top-qemu');
    });
    assert.ok(
      qemuRawBytes(top, path.join(dir, 'c.raw')).equals(atTopQemu),
      'vdisk applied the qemu snapshot',
    );
    // qemu applies vdisk's snapshot.
    qemuImgOk(['snapshot', '-a', 'top-vdisk', top]);
    const afterQemuApply = qemuRawBytes(top, path.join(dir, 'd.raw'));
    assert.equal(afterQemuApply.readUInt8(3 * MiB + 4096), 0x32);
    assert.equal(afterQemuApply.readUInt8(3 * MiB), 0x31);
    assert.ok(!afterQemuApply.equals(atEnd));
    // mid: apply its snapshot with vdisk, delete it with qemu; base: vdisk applies qemu's snapshot.
    await withQcow2(mid, (img) => img.applySnapshot('mid-snap'));
    qemuIoOk(mid, ['read -P 0x21 200 100']);
    qemuImgOk(['snapshot', '-d', 'mid-snap', mid]);
    await withQcow2(base, async (img) => {
      await img.applySnapshot('base-snap');
      await img.deleteSnapshot('base-snap');
    });
    qemuIoOk(base, ['read -P 0x11 1M 64k']);
    for (const f of [base, mid, top]) assertQemuCheckClean(f, `${path.basename(f)} at the end`);
  },
);

test(
  'repair fixes a refcount below its references, a wrong OFLAG_COPIED and leaks',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'r.qcow2');
    await createImage(f, { format: 'qcow2', size: 8 * MiB });
    await withQcow2(f, async (img) => {
      await img.write(0, Buffer.alloc(64 * 1024, 0x41));
      await img.write(MiB, Buffer.alloc(64 * 1024, 0x42));
    });
    const map = qemuMap(f).filter((e) => e.data);
    const [a, b] = [map[0]!.offset!, map[1]!.offset!];
    const header = readAt(f, 0, 112);
    const rtOff = Number(header.readBigUInt64BE(48));
    const l1Off = Number(header.readBigUInt64BE(40));
    const rb = Number(readAt(f, rtOff, 8).readBigUInt64BE(0));
    const cs = 65536;
    // Cluster a: refcount 0 although referenced (corruption).
    patchAt(f, rb + (a / cs) * 2, Buffer.from([0, 0]));
    // Cluster b: COPIED cleared although its refcount is 1 (corruption).
    const l2 = Number(readAt(f, l1Off, 8).readBigUInt64BE(0) & 0x00fffffffffffe00n);
    const idx = MiB / cs;
    const entry = readAt(f, l2 + idx * 8, 8).readBigUInt64BE(0);
    assert.equal(Number(entry & 0x00fffffffffffe00n), b);
    patchAt(f, l2 + idx * 8, u64be(entry & ~(1n << 63n)));
    // A leak: a refcount on a cluster nothing uses, inside the file.
    const end = fs.statSync(f).size;
    fs.truncateSync(f, end - (end % cs) + 2 * cs);
    const leak = Math.floor(end / cs) + 1;
    patchAt(f, rb + leak * 2, Buffer.from([0, 1]));
    const before = qemuCheck(f);
    assert.equal(before.status, 2, 'qemu sees the corruption');
    const report = await checkImage(f);
    assert.ok(report.corruptions >= 2, `vdisk sees the corruptions: ${report.messages.join('; ')}`);
    assert.ok(report.leaks >= 1);
    const fixed = await checkImage(f, { repair: 'all' });
    assert.equal(fixed.corruptions, 0, fixed.messages.join('; '));
    assert.equal(fixed.leaks, 0);
    assert.ok((fixed['corruptions-fixed'] ?? 0) >= 2);
    assertQemuCheckClean(f, 'after vdisk repair');
    qemuIoOk(f, ['read -P 0x41 0 64k', 'read -P 0x42 1M 64k']);
    // The repaired image takes writes again without damaging the repaired clusters.
    await withQcow2(f, (img) => img.write(MiB + 512, Buffer.alloc(512, 0x43)));
    assertQemuCheckClean(f, 'after a write to the repaired cluster');
    qemuIoOk(f, ['read -P 0x42 1M 512', 'read -P 0x43 1049088 512']);
  },
);
