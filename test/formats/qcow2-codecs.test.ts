/**
 * qcow2 codecs (STYLE.md convention 1): golden bytes and round trips for the header (v2, v3),
 * header extensions, L1/L2 entries, refcount blocks and the refcount table, and the snapshot
 * table. Golden bytes come from images qemu-img writes in the test (a real peer) and, for entry
 * bit layouts, from docs/interop/qcow2.txt worked out by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  decodeExtensions,
  decodeHeader,
  decodeL1Entry,
  decodeL2Entry,
  decodeRefcountTableEntry,
  decodeSnapshotTable,
  encodeCompressedL2Entry,
  encodeExtensions,
  encodeHeader,
  encodeL1Entry,
  encodeL2Entry,
  encodeRefcountTableEntry,
  encodeSnapshotTable,
  EXT,
  getRefcount,
  maxRefcount,
  refcountByteRange,
  refcountEntries,
  setRefcount,
} from '../../src/formats/index.js';
import { decodeFeatureTable } from '../../src/formats/qcow2/header-ext.js';
import { tmpDir } from '../helpers/tmp.js';
import { qemuImgOk, qemuIoOk, readAt, skipWithoutQemu } from '../helpers/qemu.js';

const skip = skipWithoutQemu();

function qemuCreate(dir: string, name: string, opts: string, size = '10M', extra: string[] = []): string {
  const f = path.join(dir, name);
  qemuImgOk([
    'create',
    '-q',
    '-f',
    'qcow2',
    ...(opts ? ['-o', opts] : []),
    ...extra,
    f,
    ...(size ? [size] : []),
  ]);
  return f;
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test(
  'header v2: qemu-img compat=0.10 bytes decode field by field and re-encode identically',
  { skip },
  () => {
    const dir = tmpDir();
    const f = qemuCreate(dir, 'v2.qcow2', 'compat=0.10,cluster_size=4k');
    const raw = readAt(f, 0, 4096);
    const h = decodeHeader(raw);
    assert.equal(h.version, 2);
    assert.equal(h.backingFileOffset, 0);
    assert.equal(h.backingFileSize, 0);
    assert.equal(h.clusterBits, 12);
    assert.equal(h.size, 10 * 1024 * 1024);
    assert.equal(h.cryptMethod, 0);
    assert.equal(h.l1Size, 5); // 10 MiB / (4096 * 512 bytes per L2 table), rounded up
    assert.equal(h.l1TableOffset, 0x3000);
    assert.equal(h.refcountTableOffset, 0x1000);
    assert.equal(h.refcountTableClusters, 1);
    assert.equal(h.nbSnapshots, 0);
    assert.equal(h.snapshotsOffset, 0);
    // Version 2 has no feature fields: defaults as the spec says (refcount_order 4, 72 bytes).
    assert.equal(h.incompatibleFeatures, 0n);
    assert.equal(h.refcountOrder, 4);
    assert.equal(h.headerLength, 72);
    const enc = encodeHeader(h);
    assert.equal(enc.length, 72);
    assert.deepEqual(enc, raw.subarray(0, 72));
  },
);

test('header v3: qemu-img compat=1.1 bytes decode field by field and re-encode identically', { skip }, () => {
  const dir = tmpDir();
  const f = qemuCreate(dir, 'v3.qcow2', 'compat=1.1,lazy_refcounts=on,refcount_bits=64');
  const raw = readAt(f, 0, 65536);
  const h = decodeHeader(raw);
  assert.equal(h.version, 3);
  assert.equal(h.clusterBits, 16);
  assert.equal(h.size, 10 * 1024 * 1024);
  assert.equal(h.l1Size, 1);
  assert.equal(h.refcountTableOffset, 0x10000);
  assert.equal(h.l1TableOffset, 0x30000);
  assert.equal(h.incompatibleFeatures, 0n);
  assert.equal(h.compatibleFeatures, 1n); // lazy refcounts
  assert.equal(h.autoclearFeatures, 0n);
  assert.equal(h.refcountOrder, 6);
  assert.equal(h.headerLength, 112);
  assert.equal(h.compressionType, 0);
  assert.deepEqual(encodeHeader(h), raw.subarray(0, 112));
  // The fixed fields, checked against the spec's byte offsets.
  assert.deepEqual(raw.subarray(0, 8), hex('514649fb 00000003'));
  assert.deepEqual(
    raw.subarray(72, 104),
    hex('0000000000000000 0000000000000001 0000000000000000 00000006 00000070'),
  );
});

test('header v3: fields past compression_type survive a round trip; malformed headers are typed errors', () => {
  const h = decodeHeader(Buffer.concat([encodeV3({ headerLength: 128 }), Buffer.alloc(64)]));
  assert.equal(h.headerLength, 128);
  const withExtra = encodeHeader({ ...h, extraFields: pattern16() });
  const again = decodeHeader(Buffer.concat([withExtra, Buffer.alloc(64)]));
  assert.deepEqual(again.extraFields, pattern16());
  assert.deepEqual(encodeHeader(again), withExtra);
  assert.throws(() => decodeHeader(Buffer.alloc(72)), { code: 'BAD_FORMAT', message: /magic/ });
  assert.throws(() => decodeHeader(Buffer.alloc(10)), { code: 'BAD_FORMAT' });
  const v4 = encodeV3({});
  v4.writeUInt32BE(4, 4);
  // errors.ts lists "unknown version" under BAD_FORMAT; header.ts answers NOT_SUPPORTED (as qemu's
  // ENOTSUP). Either is a typed refusal that names the version.
  assert.throws(
    () => decodeHeader(v4),
    (e: Error & { code?: string }) =>
      ['BAD_FORMAT', 'NOT_SUPPORTED'].includes(e.code ?? '') && /version 4/.test(e.message),
  );
  assert.throws(() => decodeHeader(encodeV3({ headerLength: 100 })), {
    code: 'CORRUPT',
    message: /header_length/,
  });
  assert.throws(() => decodeHeader(encodeV3({ headerLength: 108 })), {
    code: 'CORRUPT',
    message: /header_length/,
  });
});

function pattern16(): Buffer {
  return Buffer.from([...Array(16).keys()].map((i) => i * 17));
}

/** A minimal v3 header with a chosen header_length (bytes past 104 zero). */
function encodeV3(o: { headerLength?: number }): Buffer {
  const b = Buffer.alloc(Math.max(112, o.headerLength ?? 112));
  b.writeUInt32BE(0x514649fb, 0);
  b.writeUInt32BE(3, 4);
  b.writeUInt32BE(16, 20);
  b.writeBigUInt64BE(1n << 20n, 24);
  b.writeUInt32BE(4, 96);
  b.writeUInt32BE(o.headerLength ?? 112, 100);
  return b;
}

test(
  'header extensions: backing format and feature table from qemu-img; unknown types survive',
  { skip },
  () => {
    const dir = tmpDir();
    qemuImgOk(['create', '-q', '-f', 'raw', path.join(dir, 'base.raw'), '1M']);
    const f = qemuCreate(dir, 'ov.qcow2', '', '', ['-b', 'base.raw', '-F', 'raw']);
    const c0 = readAt(f, 0, 65536);
    const h = decodeHeader(c0);
    assert.ok(h.backingFileOffset > h.headerLength);
    assert.equal(
      c0.toString('utf8', h.backingFileOffset, h.backingFileOffset + h.backingFileSize),
      'base.raw',
    );
    const { exts, end } = decodeExtensions(c0, h.headerLength, h.backingFileOffset);
    assert.deepEqual(
      exts.map((e) => e.type),
      [EXT.BACKING_FORMAT, EXT.FEATURE_TABLE],
    );
    assert.equal(exts[0]!.data.toString(), 'raw');
    // Type and length are big-endian u32s, data padded to 8 bytes (qcow2.txt "Header extensions").
    assert.deepEqual(
      c0.subarray(h.headerLength, h.headerLength + 16),
      hex('e2792aca 00000003 72617700 00000000'),
    );
    const names = decodeFeatureTable(exts[1]!.data);
    assert.deepEqual(
      names.map((n) => `${n.type}/${n.bit}/${n.name}`),
      [
        '0/0/dirty bit',
        '0/1/corrupt bit',
        '0/2/external data file',
        '0/3/compression type',
        '0/4/extended L2 entries',
        '1/0/lazy refcounts',
        '2/0/bitmaps',
        '2/1/raw external data',
      ],
    );
    assert.deepEqual(encodeExtensions(exts), c0.subarray(h.headerLength, end));

    const unknown = { type: 0x12345678, data: Buffer.from('hello') };
    const bytes = encodeExtensions([exts[0]!, unknown, exts[1]!]);
    assert.equal(bytes.length % 8, 0);
    const back = decodeExtensions(bytes, 0, bytes.length);
    assert.deepEqual(back.exts, [exts[0], unknown, exts[1]]);
    assert.equal(back.end, bytes.length);
    assert.deepEqual(encodeExtensions(back.exts), bytes);
  },
);

test('header extensions: a length running past the cluster or a missing end marker is CORRUPT', () => {
  const bad = hex('12345678 00001000 0000000000000000');
  assert.throws(() => decodeExtensions(bad, 0, bad.length), { code: 'CORRUPT', message: /too long/ });
  const noEnd = hex('12345678 00000000');
  assert.throws(() => decodeExtensions(noEnd, 0, noEnd.length), { code: 'CORRUPT' });
});

test('L1 entries: COPIED and the L2 table offset at bits 9-55; reserved bits are invalid', () => {
  const b = hex('8000000000030000 0000000000000000 0000010000050000');
  assert.deepEqual(decodeL1Entry(b, 0, 65536), { kind: 'table', offset: 0x30000, copied: true });
  assert.deepEqual(decodeL1Entry(b, 1, 65536), { kind: 'unallocated' });
  assert.deepEqual(decodeL1Entry(b, 2, 65536), { kind: 'table', offset: 2 ** 40 + 0x50000, copied: false });
  const out = Buffer.alloc(24);
  encodeL1Entry(out, 0, 0x30000, true);
  encodeL1Entry(out, 2, 2 ** 40 + 0x50000, false);
  assert.deepEqual(out, b);
  for (const bad of ['4000000000030000', '0100000000030000', '8000000000030001', '8000000000030100']) {
    assert.equal(decodeL1Entry(hex(bad), 0, 65536).kind, 'invalid', bad);
  }
  assert.equal(decodeL1Entry(hex('8000000000030200'), 0, 65536).kind, 'invalid', 'unaligned L2 table');
});

test('L2 entries: normal+COPIED, zero flag, unallocated, reserved bits (cluster_bits 16)', () => {
  const cb = 16;
  const cases: Array<[string, ReturnType<typeof decodeL2Entry>]> = [
    ['8000000000050000', { kind: 'normal', hostOffset: 0x50000, copied: true }],
    ['0000000000050000', { kind: 'normal', hostOffset: 0x50000, copied: false }],
    ['8000ff0000050000', { kind: 'normal', hostOffset: 0xff0000050000, copied: true }],
    ['0000000000000001', { kind: 'zero', hostOffset: 0, copied: false }],
    ['8000000000070001', { kind: 'zero', hostOffset: 0x70000, copied: true }],
    ['0000000000000000', { kind: 'unallocated' }],
  ];
  for (const [h, want] of cases) assert.deepEqual(decodeL2Entry(hex(h), 0, cb, true), want, h);
  const out = Buffer.alloc(8);
  encodeL2Entry(out, 0, 0x50000, true);
  assert.deepEqual(out, hex('8000000000050000'));
  encodeL2Entry(out, 0, 0x70000, true, true);
  assert.deepEqual(out, hex('8000000000070001'));
  encodeL2Entry(out, 0, 0xff0000050000, false);
  assert.deepEqual(out, hex('0000ff0000050000'));
  // Bits 1-8 and 56-61 are reserved; the zero flag is reserved in version 2.
  for (const bad of ['8000000000050002', '8000000000050100', '8100000000050000', '3f00000000050000']) {
    assert.equal(decodeL2Entry(hex(bad), 0, cb, true).kind, 'invalid', bad);
  }
  assert.equal(decodeL2Entry(hex('8000000000050200'), 0, cb, true).kind, 'invalid', 'unaligned host offset');
  assert.equal(decodeL2Entry(hex('0000000000000001'), 0, cb, false).kind, 'invalid', 'zero flag in v2');
});

test('L2 entries: compressed descriptors split at x = 62 - (cluster_bits - 8)', () => {
  // cluster_bits 16: x = 54. Offset 0x12345 in bits 0-53, 3 additional sectors in bits 54-61.
  const b16 = hex('40c0000000012345');
  assert.deepEqual(decodeL2Entry(b16, 0, 16, true), { kind: 'compressed', hostOffset: 0x12345, sectors: 4 });
  const out = Buffer.alloc(8);
  encodeCompressedL2Entry(out, 0, 16, 0x12345, 4);
  assert.deepEqual(out, b16);
  // cluster_bits 16, maximum sector count: bits 54-61 all set = 255 additional sectors.
  assert.deepEqual(decodeL2Entry(hex('7fc0000000000200'), 0, 16, true), {
    kind: 'compressed',
    hostOffset: 0x200,
    sectors: 256,
  });
  // cluster_bits 12: x = 58; cluster_bits 21: x = 49.
  encodeCompressedL2Entry(out, 0, 12, 0x1_0000_0001, 2);
  assert.deepEqual(out, hex('4400000100000001'));
  assert.deepEqual(decodeL2Entry(out, 0, 12, true), {
    kind: 'compressed',
    hostOffset: 0x100000001,
    sectors: 2,
  });
  encodeCompressedL2Entry(out, 0, 21, 0x1_ffff_ffff_ffff, 8192);
  assert.deepEqual(out, hex('7fffffffffffffff'));
  assert.deepEqual(decodeL2Entry(out, 0, 21, true), {
    kind: 'compressed',
    hostOffset: 0x1_ffff_ffff_ffff,
    sectors: 8192,
  });
  assert.equal(decodeL2Entry(hex('c000000000012345'), 0, 16, true).kind, 'invalid', 'COPIED on compressed');
});

test('refcount blocks: qemu-img bytes for every refcount width, entry 0 in the low bits', { skip }, () => {
  const dir = tmpDir();
  // A new 64k-cluster image holds clusters 0-3 (header, refcount table, refcount block, L1).
  const golden: Record<number, string> = {
    1: '0f00',
    2: '5500',
    4: '1111',
    8: '01010101',
    16: '0001000100010001',
    32: '00000001000000010000000100000001',
    64: '0000000000000001000000000000000100000000000000010000000000000001',
  };
  for (const bits of [1, 2, 4, 8, 16, 32, 64]) {
    const f = qemuCreate(dir, `r${bits}.qcow2`, `refcount_bits=${bits}`, '1M');
    const table = readAt(f, 0x10000, 65536);
    const blockOff = decodeRefcountTableEntry(table, 0, 65536);
    assert.equal(blockOff, 0x20000);
    assert.equal(decodeRefcountTableEntry(table, 1, 65536), 0);
    const block = readAt(f, blockOff, 65536);
    const g = hex(golden[bits]!);
    assert.deepEqual(block.subarray(0, g.length), g, `refcount_bits ${bits}`);
    assert.ok(
      block.subarray(g.length).every((x) => x === 0),
      `refcount_bits ${bits}: rest is zero`,
    );
    for (let i = 0; i < refcountEntries(65536, bits); i += 997) {
      assert.equal(getRefcount(block, i, bits), i < 4 ? 1 : 0, `bits ${bits} entry ${i}`);
    }
    const mine = Buffer.alloc(65536);
    for (let i = 0; i < 4; i++) setRefcount(mine, i, bits, 1);
    assert.deepEqual(mine, block, `refcount_bits ${bits}: encode`);
  }
});

test('refcount blocks: every width round-trips every entry; sub-byte packing by hand', () => {
  const one = Buffer.alloc(2);
  setRefcount(one, 7, 1, 1);
  setRefcount(one, 8, 1, 1);
  assert.deepEqual(one, hex('8001'));
  const two = Buffer.alloc(1);
  setRefcount(two, 0, 2, 3);
  setRefcount(two, 1, 2, 2);
  setRefcount(two, 3, 2, 1);
  assert.deepEqual(two, hex('4b')); // 01 00 10 11
  const four = Buffer.alloc(1);
  setRefcount(four, 0, 4, 0xa);
  setRefcount(four, 1, 4, 0x5);
  assert.deepEqual(four, hex('5a'));
  const sixtyFour = Buffer.alloc(8);
  setRefcount(sixtyFour, 0, 64, Number.MAX_SAFE_INTEGER);
  assert.deepEqual(sixtyFour, hex('001fffffffffffff'));
  assert.throws(() => getRefcount(hex('0020000000000000'), 0, 64), { code: 'CORRUPT' });

  for (const bits of [1, 2, 4, 8, 16, 32, 64]) {
    const n = refcountEntries(512, bits);
    assert.equal(n, 4096 / bits);
    const block = Buffer.alloc(512);
    const max = Math.min(maxRefcount(bits), 2 ** 40);
    const want = (i: number): number => (i * 2654435761) % (max + 1);
    for (let i = 0; i < n; i++) setRefcount(block, i, bits, want(i));
    const copy = Buffer.from(block);
    for (let i = 0; i < n; i++) assert.equal(getRefcount(copy, i, bits), want(i), `bits ${bits} entry ${i}`);
    // Changing one entry touches only the bytes refcountByteRange names.
    const k = n - 3;
    const before = Buffer.from(copy);
    setRefcount(copy, k, bits, want(k) === 0 ? 1 : 0);
    const [a, b] = refcountByteRange(k, bits);
    for (let i = 0; i < 512; i++)
      if (i < a || i >= b) assert.equal(copy[i], before[i], `bits ${bits} byte ${i}`);
    assert.throws(() => setRefcount(block, 0, bits, maxRefcount(bits) + 1), { code: 'INVALID' });
  }
});

test('refcount table entries: offsets in bits 9-63, reserved bits and misalignment are CORRUPT', () => {
  const t = Buffer.alloc(24);
  encodeRefcountTableEntry(t, 0, 0x20000);
  encodeRefcountTableEntry(t, 2, 2 ** 42 + 0x10000);
  assert.deepEqual(t, hex('0000000000020000 0000000000000000 0000040000010000'));
  assert.equal(decodeRefcountTableEntry(t, 0, 65536), 0x20000);
  assert.equal(decodeRefcountTableEntry(t, 1, 65536), 0);
  assert.equal(decodeRefcountTableEntry(t, 2, 65536), 2 ** 42 + 0x10000);
  assert.throws(() => decodeRefcountTableEntry(hex('0000000000020001'), 0, 65536), { code: 'CORRUPT' });
  assert.throws(() => decodeRefcountTableEntry(hex('0000000000021000'), 0, 65536), {
    code: 'CORRUPT',
    message: /aligned/,
  });
});

test('snapshot table: qemu-img snapshot entry decodes and re-encodes byte for byte', { skip }, () => {
  const dir = tmpDir();
  const f = qemuCreate(dir, 's.qcow2', '', '1M');
  qemuIoOk(f, ['write -P 0x5a 0 64k']);
  qemuImgOk(['snapshot', '-c', 's1', f]);
  qemuImgOk(['snapshot', '-c', 'second snapshot', f]);
  const h = decodeHeader(readAt(f, 0, 4096));
  assert.equal(h.nbSnapshots, 2);
  const raw = readAt(f, h.snapshotsOffset, 4096);
  const { entries, size } = decodeSnapshotTable(raw, 2);
  assert.deepEqual(
    entries.map((e) => [e.id, e.name, e.l1Size, e.vmStateSize32, e.vmClockNsec]),
    [
      ['1', 's1', 1, 0, 0n],
      ['2', 'second snapshot', 1, 0, 0n],
    ],
  );
  for (const e of entries) {
    assert.equal(e.l1TableOffset % 65536, 0);
    assert.ok(e.dateSec > 1_600_000_000);
    // extra data: vm_state_size_large u64, disk_size u64 (1 MiB), then qemu's icount.
    assert.ok(e.extra.length >= 16);
    assert.equal(e.extra.readBigUInt64BE(8), 1n << 20n);
  }
  assert.equal(size % 8, 0);
  assert.deepEqual(encodeSnapshotTable(entries), raw.subarray(0, size));
  // Unknown extra data (a future field) survives.
  const future = { ...entries[0]!, extra: Buffer.concat([entries[0]!.extra, hex('0102030405060708')]) };
  const back = decodeSnapshotTable(encodeSnapshotTable([future]), 1).entries[0]!;
  assert.deepEqual(back, future);
  assert.throws(() => decodeSnapshotTable(raw.subarray(0, 30), 1), { code: 'CORRUPT' });
});
