/**
 * QEMU -> vdisk: images written by qemu-io and qemu-img, read through vdisk.
 *
 * Every byte vdisk reads must equal what `qemu-img convert -O raw` produces, `blockStatus` must
 * describe the image as `qemu-img map --output=json` does (after merging neighbours the way
 * qemu-img does), and `checkImage` must count what `qemu-img check` counts. Covered: zero
 * clusters with and without a host cluster, discards, a 3-deep backing chain, compressed
 * clusters (zlib; zstd must be refused, never misread), an internal snapshot (read-only only),
 * extended L2 entries, unknown feature bits, and a lazy-refcounts image left dirty by a crash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Extent } from '../../src/block/index.js';
import { checkImage, createImage, decodeHeader, openImage, type Image } from '../../src/formats/index.js';
import { tmpDir } from '../helpers/tmp.js';
import {
  assertQemuCheckClean,
  expectBlockError,
  patchAt,
  pattern,
  qemuCheck,
  qemuIo,
  qemuImgOk,
  qemuIoOk,
  qemuMap,
  qemuRawBytes,
  readAt,
  skipWithoutQemu,
  type QemuMapEntry,
} from '../helpers/qemu.js';

const skip = skipWithoutQemu();
const timeout = 60_000;
const KiB = 1024;
const MiB = 1024 * 1024;

/** blockStatus in qemu-img map's terms, neighbours merged as qemu-img's entry_mergeable does. */
function asQemuMap(extents: Extent[]): QemuMapEntry[] {
  const out: Array<QemuMapEntry & { file?: string }> = [];
  for (const e of extents) {
    const m: QemuMapEntry & { file?: string } = {
      start: e.offset,
      length: e.length,
      depth: e.depth,
      present: e.present,
      zero: e.zero,
      data: e.data,
    };
    if (e.hostOffset !== undefined) m.offset = e.hostOffset;
    if (e.hostFile !== undefined) m.file = e.hostFile;
    const last = out[out.length - 1];
    if (
      last &&
      last.depth === m.depth &&
      last.present === m.present &&
      last.zero === m.zero &&
      last.data === m.data &&
      last.file === m.file &&
      (last.offset === undefined) === (m.offset === undefined) &&
      (last.offset === undefined || last.offset + last.length === m.offset)
    ) {
      last.length += m.length;
    } else {
      out.push(m);
    }
  }
  return out.map(({ file: _file, ...rest }) => rest);
}

async function withImage<T>(file: string, fn: (img: Image) => Promise<T>, readOnly = true): Promise<T> {
  const img = await openImage(file, { readOnly });
  try {
    return await fn(img);
  } finally {
    await img.close();
  }
}

/**
 * Compares blockStatus with `qemu-img map`. Runs before anything reads the image: on ext4, reading
 * a preallocated (unwritten) host range puts pages in the page cache that SEEK_DATA then reports
 * as data, which would change the host-hole part of both answers.
 */
async function assertMapAsQemu(file: string, ctx: string): Promise<void> {
  const map = qemuMap(file);
  const status = await withImage(file, (img) => img.blockStatus(0, img.size));
  assert.deepEqual(asQemuMap(status), map, `${ctx}: blockStatus vs qemu-img map`);
}

/** Reads the image through vdisk and compares every byte and the check counts with qemu. */
async function assertSameAsQemu(file: string, dir: string, ctx: string): Promise<void> {
  const want = qemuRawBytes(file, path.join(dir, `${path.basename(file)}.raw`));
  const got = await withImage(file, async (img) => {
    assert.equal(img.size, want.length, `${ctx}: size`);
    const got = Buffer.alloc(img.size);
    // Unaligned pieces, so that reads start and end inside clusters.
    for (let off = 0; off < got.length; off += 333 * KiB + 17) {
      await img.read(off, got.subarray(off, Math.min(got.length, off + 333 * KiB + 17)));
    }
    return got;
  });
  if (!got.equals(want)) {
    let i = 0;
    while (got[i] === want[i]) i++;
    assert.fail(`${ctx}: first differing byte at ${i}: vdisk ${got[i]}, qemu ${want[i]}`);
  }
  const q = qemuCheck(file).report;
  const mine = await checkImage(file);
  for (const k of [
    'check-errors',
    'image-end-offset',
    'total-clusters',
    'allocated-clusters',
    'fragmented-clusters',
    'compressed-clusters',
  ] as const) {
    assert.equal(mine[k] ?? 0, q[k] ?? 0, `${ctx}: check field ${k}`);
  }
  assert.equal(mine.corruptions + mine.leaks, 0, `${ctx}: ${mine.messages.join('; ')}`);
}

const QEMU_IO_SCRIPT = [
  'write -P 0x11 0 100k',
  'write -z 1M 128k', // zero clusters over nothing
  'write -P 0x22 2M 256k',
  'write -z 2M 128k', // zero flag, host clusters kept (v3)
  'write -P 0x23 3M 256k',
  'write -z -u 3M 128k', // zero flag, host clusters freed
  'discard 64k 64k',
  'write -P 0x33 3671016 5000',
  'write -P 0x44 4194000 304', // the last bytes
];

for (const [compat, cs] of [
  ['1.1', 65536],
  ['1.1', 512],
  ['0.10', 4096],
] as const) {
  const make = (): { dir: string; f: string } => {
    const dir = tmpDir();
    const f = path.join(dir, 'q.qcow2');
    qemuImgOk(['create', '-q', '-f', 'qcow2', '-o', `compat=${compat},cluster_size=${cs}`, f, '4194304']);
    qemuIoOk(f, QEMU_IO_SCRIPT);
    return { dir, f };
  };
  test(`qemu-io writes, vdisk reads: compat=${compat} cluster_size=${cs}`, { skip, timeout }, async () => {
    const { dir, f } = make();
    await assertSameAsQemu(f, dir, `compat ${compat}, cluster ${cs}`);
  });
  // qemu refines allocated clusters by host holes only when the image "looks metadata-
  // preallocated" (clusters with a refcount >= max(real_clusters * 10 / 9, real_clusters + 2));
  // vdisk makes the same guess, so the maps agree.
  test(
    `qemu-io writes, blockStatus = qemu-img map: compat=${compat} cluster_size=${cs}`,
    { skip, timeout },
    async () => {
      const { f } = make();
      await assertMapAsQemu(f, `compat ${compat}, cluster ${cs}`);
    },
  );
}

for (const baseFormat of ['raw', 'qcow2'] as const) {
  test(`3-deep backing chain (${baseFormat} base, qcow2 mid and top)`, { skip, timeout }, async () => {
    const dir = tmpDir();
    const base = path.join(dir, `base.${baseFormat}`);
    const mid = path.join(dir, 'mid.qcow2');
    const top = path.join(dir, 'top.qcow2');
    qemuImgOk(['create', '-q', '-f', baseFormat, base, '4M']);
    qemuIoOk(base, ['write -P 0x11 0 1M', 'write -P 0x12 2M 1536k'], baseFormat);
    qemuImgOk(['create', '-q', '-f', 'qcow2', '-b', path.basename(base), '-F', baseFormat, mid]);
    qemuIoOk(mid, ['write -P 0x21 512k 1M', 'write -z 2M 64k', 'write -z -u 3M 64k', 'discard 3200k 64k']);
    qemuImgOk([
      'create',
      '-q',
      '-f',
      'qcow2',
      '-o',
      'cluster_size=4k',
      '-b',
      'mid.qcow2',
      '-F',
      'qcow2',
      top,
    ]);
    qemuIoOk(top, [
      'write -P 0x31 100k 30k',
      'discard 600k 64k',
      'write -z 2228224 8k',
      'write -P 0x32 3145800 100',
      'write -P 0x33 4190000 4304',
    ]);
    await assertMapAsQemu(top, `top of ${baseFormat} chain`);
    await assertSameAsQemu(top, dir, `top of ${baseFormat} chain`);
    await withImage(top, async (img) => {
      assert.equal(img.backing?.format, 'qcow2');
      assert.equal(img.backing?.backing?.format, baseFormat);
      assert.equal(img.backing?.backing?.backing, undefined);
      const st = await img.blockStatus(0, 4 * KiB);
      assert.equal(st[0]!.depth, 2, 'the first bytes come from the base');
    });
    // openBacking: false reads unallocated ranges as zeroes, as qemu-io does with no backing.
    const alone = await openImage(top, { readOnly: true, openBacking: false });
    try {
      const b = Buffer.alloc(4 * KiB);
      await alone.read(0, b);
      assert.ok(b.every((x) => x === 0));
    } finally {
      await alone.close();
    }
  });
}

test(
  'compressed clusters (zlib) at 4k, 64k and 2M clusters read identically; writes COW them',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const cs0 = 64 * KiB;
    const raw = Buffer.alloc(40 * cs0);
    for (let i = 0; i < 40; i++) {
      const c = raw.subarray(i * cs0, (i + 1) * cs0);
      if (i % 4 === 0) c.write(`vdisk compressed text ${i} `.repeat(cs0 / 24).slice(0, cs0), 'latin1');
      else if (i % 4 === 2)
        pattern(cs0, i).copy(c); // incompressible: stored uncompressed
      else if (i % 4 === 3) c.fill(i);
      // i % 4 === 1: zeroes (left unallocated)
    }
    const rawPath = path.join(dir, 'c.raw');
    fs.writeFileSync(rawPath, raw);
    for (const cs of ['4k', '64k', '2M']) {
      const f = path.join(dir, `c${cs}.qcow2`);
      qemuImgOk(['convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', `cluster_size=${cs}`, rawPath, f]);
      assert.ok((qemuCheck(f).report['compressed-clusters'] ?? 0) > 0, `${cs}: qemu compressed something`);
      await assertMapAsQemu(f, `compressed, cluster ${cs}`);
      await assertSameAsQemu(f, dir, `compressed, cluster ${cs}`);
    }
    // Partial writes into compressed clusters: the rest of each cluster is decompressed and kept.
    const f = path.join(dir, 'c64k.qcow2');
    const model = Buffer.from(raw);
    await withImage(
      f,
      async (img) => {
        for (const off of [100, 4 * cs0 + cs0 - 10, 12 * cs0 + 777]) {
          const d = pattern(3000, off);
          await img.write(off, d);
          d.copy(model, off);
        }
      },
      false,
    );
    assertQemuCheckClean(f, 'after writes over compressed clusters');
    const modelPath = path.join(dir, 'model.raw');
    fs.writeFileSync(modelPath, model);
    qemuImgOk(['compare', '-f', 'qcow2', '-F', 'raw', f, modelPath]);
  },
);

test('zstd-compressed clusters written by qemu-img read identically', { skip, timeout }, async () => {
  const dir = tmpDir();
  const rawPath = path.join(dir, 'z.raw');
  const data = Buffer.alloc(256 * KiB, 'compressible text ');
  for (let i = 0; i < data.length; i += 4099) data[i] = i & 0xff;
  fs.writeFileSync(rawPath, data);
  const f = path.join(dir, 'z.qcow2');
  qemuImgOk(['convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', rawPath, f]);
  await withImage(f, async (img) => {
    assert.equal((await img.info())['format-specific']?.data['compression-type'], 'zstd');
    const got = Buffer.alloc(data.length);
    await img.read(0, got);
    assert.ok(got.equals(data), 'zstd clusters read back as written');
  });
  await assertSameAsQemu(f, dir, 'zstd-compressed image');
});

test(
  'internal snapshot made by qemu-img: vdisk reads the active layer, writes without touching the snapshot',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'snap.qcow2');
    qemuImgOk(['create', '-q', '-f', 'qcow2', f, '2M']);
    qemuIoOk(f, ['write -P 0x51 0 256k', 'write -P 0x52 1M 64k']);
    qemuImgOk(['snapshot', '-c', 's1', f]);
    // After the snapshot: COW of shared clusters, and new data.
    qemuIoOk(f, ['write -P 0x53 4k 8k', 'write -P 0x54 1536k 4k', 'discard 1M 64k']);
    await assertMapAsQemu(f, 'image with a snapshot');
    await assertSameAsQemu(f, dir, 'image with a snapshot');
    // Writes to clusters shared with the snapshot copy them first.
    const img = await openImage(f);
    await img.write(0, Buffer.alloc(4096, 0x55));
    await img.discard(128 * KiB, 64 * KiB);
    await img.close();
    assertQemuCheckClean(f, 'after writes over shared clusters');
    qemuIoOk(f, ['read -P 0x55 0 4k', 'read -P 0x53 4k 8k', 'read -P 0x54 1536k 4k', 'read -P 0 128k 64k']);
    qemuImgOk(['snapshot', '-a', 's1', f]);
    qemuIoOk(f, ['read -P 0x51 0 256k', 'read -P 0x52 1M 64k']);
    assertQemuCheckClean(f, 'after applying the snapshot');
  },
);

test(
  'extended L2 (Proxmox VE 9 style, cluster_size=128k): qemu base under a vdisk overlay, and the reverse',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const base = path.join(dir, 'base.qcow2');
    const top = path.join(dir, 'top.qcow2');
    // A zstd-compressed qemu base with extended L2 entries, and subcluster-sized writes in it.
    qemuImgOk([
      'create',
      '-q',
      '-f',
      'qcow2',
      '-o',
      'extended_l2=on,cluster_size=128k,compression_type=zstd',
      base,
      '4M',
    ]);
    qemuIoOk(base, [
      'write -P 0x61 0 1M',
      'write -P 0x62 4k 4k',
      'write -z 512k 8k',
      'write -c -P 0x63 2M 128k',
    ]);
    await createImage(top, {
      format: 'qcow2',
      backingFile: 'base.qcow2',
      backingFormat: 'qcow2',
      options: { extended_l2: 'on', cluster_size: '128k' },
    });
    const img = await openImage(top);
    await img.write(100, Buffer.alloc(3000, 0x71)); // copy-on-write of one 4 KiB subcluster
    await img.write(2 * 1024 * 1024 + 5, Buffer.alloc(10, 0x72)); // over a compressed backing cluster
    await img.write(3 * 1024 * 1024, Buffer.alloc(10000, 0x73)); // three subclusters of a fresh cluster
    await img.close();
    assertQemuCheckClean(top, 'vdisk overlay with extended L2');
    qemuIoOk(top, [
      'read -P 0x61 0 100',
      'read -P 0x71 100 3000',
      'read -P 0x61 3100 996',
      'read -P 0x62 4k 4k',
      'read -P 0 512k 8k',
      'read -P 0x63 2M 5',
      'read -P 0x72 2097157 10',
      'read -P 0x73 3M 10000',
      'read -P 0 3155728 4000',
    ]);
    await assertMapAsQemu(top, 'vdisk overlay with extended L2');
    await assertSameAsQemu(top, dir, 'vdisk overlay with extended L2');
    // The reverse: a vdisk-made extended L2 base under a qemu overlay.
    const vbase = path.join(dir, 'vbase.qcow2');
    await createImage(vbase, {
      format: 'qcow2',
      size: 4 * 1024 * 1024,
      options: { extended_l2: 'on', cluster_size: '128k' },
    });
    const vb = await openImage(vbase);
    await vb.write(8192, Buffer.alloc(4096, 0x81));
    await vb.close();
    const qtop = path.join(dir, 'qtop.qcow2');
    qemuImgOk([
      'create',
      '-q',
      '-f',
      'qcow2',
      '-o',
      'extended_l2=on,cluster_size=128k',
      '-b',
      'vbase.qcow2',
      '-F',
      'qcow2',
      qtop,
    ]);
    qemuIoOk(qtop, ['write -P 0x82 0 4k']);
    await assertSameAsQemu(qtop, dir, 'qemu overlay on a vdisk extended-L2 base');
    assertQemuCheckClean(vbase, 'vdisk extended-L2 base');
  },
);

test(
  'feature bits: unknown incompatible bits refuse the open by name, compatible ones are ignored, autoclear ones cleared',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'feat.qcow2');
    qemuImgOk(['create', '-q', '-f', 'qcow2', f, '1M']);
    qemuIoOk(f, ['write -P 0x61 0 64k']);
    const incompat = path.join(dir, 'incompat.qcow2');
    fs.copyFileSync(f, incompat);
    // incompatible_features is the big-endian u64 at bytes 72-79: bit 40 lives in byte 74.
    patchAt(incompat, 74, Buffer.from([0x01]));
    assert.equal(decodeHeader(readAt(incompat, 0, 512)).incompatibleFeatures, 1n << 40n);
    for (const readOnly of [true, false]) {
      await expectBlockError(openImage(incompat, { readOnly }), 'NOT_SUPPORTED', /\bbit 40\b/);
    }
    const compat = path.join(dir, 'compat.qcow2');
    fs.copyFileSync(f, compat);
    patchAt(compat, 80 + 7, Buffer.from([0x80])); // compatible bit 7
    patchAt(compat, 88 + 7, Buffer.from([0x20])); // autoclear bit 5
    await withImage(compat, async (img) => {
      const b = Buffer.alloc(64 * KiB);
      await img.read(0, b);
      assert.ok(b.every((x) => x === 0x61));
    });
    await withImage(compat, (img) => img.write(64 * KiB, Buffer.alloc(512, 0x62)), false);
    const h = decodeHeader(readAt(compat, 0, 512));
    assert.equal(h.autoclearFeatures, 0n, 'a writer clears autoclear bits it does not know');
    assert.equal(h.compatibleFeatures, 1n << 7n, 'unknown compatible bits are kept');
    assertQemuCheckClean(compat, 'after writing');
    qemuIoOk(compat, ['read -P 0x61 0 64k', 'read -P 0x62 64k 512']);
  },
);

test(
  'a lazy-refcounts image left dirty by a crashed qemu-io is repaired on writable open',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'lazy.qcow2');
    qemuImgOk(['create', '-q', '-f', 'qcow2', '-o', 'lazy_refcounts=on', f, '4M']);
    // qemu-io's abort command kills the process without flushing the deferred refcounts.
    const io = qemuIo(f, ['write -P 0x41 0 300k', 'write -P 0x42 1M 64k', 'abort']);
    assert.notEqual(io.status, 0, 'qemu-io aborted');
    assert.doesNotMatch(io.stderr, /failed|error/i);
    assert.equal(decodeHeader(readAt(f, 0, 512)).incompatibleFeatures & 1n, 1n, 'dirty bit left set');
    const q = qemuCheck(f);
    assert.equal(q.status, 2, 'qemu sees the stale refcounts');
    const mine = await checkImage(f);
    assert.equal(mine.corruptions, q.report.corruptions ?? -1, mine.messages.join('; '));
    await withImage(f, async (img) => {
      const b = Buffer.alloc(4);
      await img.read(MiB, b);
      assert.deepEqual(b, Buffer.alloc(4, 0x42));
    });
    await withImage(f, (img) => img.write(2 * MiB, Buffer.alloc(4 * KiB, 0x43)), false);
    assert.equal(decodeHeader(readAt(f, 0, 512)).incompatibleFeatures, 0n);
    assertQemuCheckClean(f, 'after repair on open');
    qemuIoOk(f, ['read -P 0x41 0 300k', 'read -P 0x42 1M 64k', 'read -P 0x43 2M 4k']);
  },
);
