/**
 * VMDK codecs (STYLE.md convention 1): golden bytes and round trips for the sparse extent header,
 * grain directory / grain table entries, stream-optimized markers and the text descriptor. Golden
 * bytes come from files qemu-img writes in the test (a real peer) and, for the markers qemu-img
 * never writes (GT, GD, footer), from the layout in Virtual Disk Format 1.1 worked out by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import {
  classifyDirectoryEntry,
  classifyGrainEntry,
  decodeDescriptor,
  decodeEntries,
  decodeMarker,
  decodeSparseHeader,
  encodeDescriptor,
  encodeEntries,
  encodeGrainMarker,
  encodeMetadataMarker,
  encodeSparseHeader,
  FLAGS,
  grainGeometry,
  newSparseHeader,
  type Descriptor,
} from '../../src/formats/vmdk/index.js';
import { tmpDir } from '../helpers/tmp.js';
import { expectBlockError, pattern, qemuImgOk, qemuIoOk, readAt, skipWithoutQemu } from '../helpers/qemu.js';

const skip = skipWithoutQemu();
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function qemuVmdk(dir: string, name: string, subformat: string, size = '8M', extra: string[] = []): string {
  const f = path.join(dir, name);
  qemuImgOk(['create', '-q', '-f', 'vmdk', '-o', `subformat=${subformat}`, ...extra, f, size]);
  return f;
}

test(
  'sparse header: qemu-img monolithicSparse bytes decode field by field and re-encode identically',
  { skip },
  () => {
    const dir = tmpDir();
    const f = qemuVmdk(dir, 'a.vmdk', 'monolithicSparse');
    const raw = readAt(f, 0, 512);
    // The first 80 bytes as qemu-img 7.2 writes them for an 8 MiB image.
    assert.deepEqual(
      raw.subarray(0, 80),
      hex(`4b444d56 01000000 03000000 0040000000000000 8000000000000000 0100000000000000
         1400000000000000 00020000 1500000000000000 1a00000000000000 8000000000000000
         00 0a200d0a 0000 00`),
    );
    const h = decodeSparseHeader(raw);
    assert.equal(h.version, 1);
    assert.equal(h.flags, FLAGS.NL_DETECT | FLAGS.REDUNDANT_GT);
    assert.equal(h.capacity, 16384);
    assert.equal(h.grainSize, 128);
    assert.equal(h.descriptorOffset, 1);
    assert.equal(h.descriptorSize, 20);
    assert.equal(h.numGTEsPerGT, 512);
    assert.equal(h.rgdOffset, 21);
    assert.equal(h.gdOffset, 26);
    assert.equal(h.gdAtEnd, false);
    assert.equal(h.overHead, 128);
    assert.equal(h.uncleanShutdown, 0);
    assert.deepEqual([...h.checkBytes], [0x0a, 0x20, 0x0d, 0x0a]);
    assert.equal(h.compressAlgorithm, 0);
    assert.deepEqual(encodeSparseHeader(h), raw);
  },
);

test('sparse header: qemu-img streamOptimized and zeroed_grain headers', { skip }, () => {
  const dir = tmpDir();
  const s = decodeSparseHeader(readAt(qemuVmdk(dir, 's.vmdk', 'streamOptimized'), 0, 512));
  assert.equal(s.version, 3);
  assert.equal(s.flags, FLAGS.NL_DETECT | FLAGS.REDUNDANT_GT | FLAGS.COMPRESSED | FLAGS.MARKERS);
  assert.equal(s.compressAlgorithm, 1);
  const zf = qemuVmdk(dir, 'z.vmdk', 'monolithicSparse', '8M', ['-o', 'zeroed_grain=on']);
  const zraw = readAt(zf, 0, 512);
  const z = decodeSparseHeader(zraw);
  assert.equal(z.version, 2);
  assert.equal(z.flags & FLAGS.ZERO_GRAIN, FLAGS.ZERO_GRAIN);
  assert.deepEqual(encodeSparseHeader(z), zraw);
});

test('sparse header: round trip keeps GD_AT_END, every field and the padding', () => {
  const pad = Buffer.alloc(433);
  pad[0] = 0x5a;
  pad[432] = 0xa5;
  const h = newSparseHeader({
    version: 3,
    flags: 0x30001,
    capacity: 2 ** 40,
    grainSize: 256,
    descriptorOffset: 1,
    descriptorSize: 20,
    gdAtEnd: true,
    overHead: 128,
    uncleanShutdown: 1,
    compressAlgorithm: 1,
    pad,
  });
  const enc = encodeSparseHeader(h);
  assert.equal(enc.length, 512);
  assert.deepEqual(enc.subarray(56, 64), Buffer.alloc(8, 0xff));
  assert.deepEqual(decodeSparseHeader(enc), h);
});

test('sparse header: bad magic and short buffers are BAD_FORMAT; huge 64-bit fields are CORRUPT', async () => {
  const enc = encodeSparseHeader(newSparseHeader({ capacity: 16 }));
  await expectBlockError(async () => decodeSparseHeader(enc.subarray(0, 100)), 'BAD_FORMAT', /too short/);
  const bad = Buffer.from(enc);
  bad.write('QFI\xfb', 0, 'latin1');
  await expectBlockError(async () => decodeSparseHeader(bad), 'BAD_FORMAT', /bad magic/);
  const big = Buffer.from(enc);
  big.writeBigUInt64LE(2n ** 60n, 12);
  await expectBlockError(async () => decodeSparseHeader(big), 'CORRUPT', /capacity/);
});

test(
  'grain directory and tables: qemu-img bytes decode, classify and re-encode identically',
  { skip },
  () => {
    const dir = tmpDir();
    const f = qemuVmdk(dir, 'g.vmdk', 'monolithicSparse');
    // Grain 0 (offset 0) and grain 16 (offset 1 MiB): qemu appends grains from overHead (sector 128).
    qemuIoOk(f, ['write -P 0x11 0 64k', 'write -P 0x22 1M 4k'], 'vmdk');
    const h = decodeSparseHeader(readAt(f, 0, 512));
    const geo = grainGeometry(h.capacity, h.grainSize, h.numGTEsPerGT);
    assert.deepEqual(geo, {
      grainBytes: 65536,
      gtEntries: 512,
      gtCoverage: 32 * 1024 * 1024,
      gdEntries: 1,
      tableBytes: 2048,
      gdBytes: 512,
    });
    const gdRaw = readAt(f, h.gdOffset * 512, 4);
    const rgdRaw = readAt(f, h.rgdOffset * 512, 4);
    assert.deepEqual(gdRaw, hex('1b000000')); // GT right after the GD: sector 27
    assert.deepEqual(rgdRaw, hex('16000000')); // redundant GT: sector 22
    const gd = decodeEntries(gdRaw, 1);
    const size = fs.statSync(f).size;
    const lim = { overHead: h.overHead, fileSize: size, tableBytes: geo.tableBytes, zeroGrain: false };
    assert.deepEqual(classifyDirectoryEntry(gd[0]!, 0, lim), { kind: 'table', sector: 27 });
    const gtRaw = readAt(f, 27 * 512, 2048);
    assert.deepEqual(gtRaw.subarray(0, 4), hex('80000000'));
    assert.deepEqual(gtRaw.subarray(64, 68), hex('00010000'));
    assert.deepEqual(readAt(f, 22 * 512, 2048), gtRaw, 'the redundant table is identical');
    const gt = decodeEntries(gtRaw, 512);
    assert.deepEqual(classifyGrainEntry(gt[0]!, 0, lim), { kind: 'allocated', sector: 128 });
    assert.deepEqual(classifyGrainEntry(gt[16]!, 16, lim), { kind: 'allocated', sector: 256 });
    assert.deepEqual(classifyGrainEntry(gt[1]!, 1, lim), { kind: 'unallocated' });
    assert.deepEqual(encodeEntries(gt), gtRaw);
    assert.deepEqual(encodeEntries(gd, 0, 1, 512), readAt(f, h.gdOffset * 512, 512));
  },
);

test('grain entries: zeroed grains, and entries into metadata or past the end are invalid', () => {
  const lim = { overHead: 128, fileSize: 1024 * 512, tableBytes: 2048, zeroGrain: true };
  assert.deepEqual(classifyGrainEntry(1, 3, lim), { kind: 'zero' });
  assert.equal(classifyGrainEntry(1, 3, { ...lim, zeroGrain: false }).kind, 'invalid');
  assert.match((classifyGrainEntry(5, 3, lim) as { reason: string }).reason, /metadata/);
  assert.match((classifyGrainEntry(1024, 3, lim) as { reason: string }).reason, /past the end/);
  assert.equal(classifyGrainEntry(1023, 3, lim).kind, 'allocated');
  assert.equal(classifyDirectoryEntry(1021, 0, lim).kind, 'invalid'); // a 4-sector table does not fit
  assert.equal(classifyDirectoryEntry(1020, 0, lim).kind, 'table');
  const e = new Uint32Array([0, 1, 0xffffffff, 128]);
  assert.deepEqual(decodeEntries(encodeEntries(e), 4), e);
  assert.deepEqual(encodeEntries(e, 1, 3), hex('01000000 ffffffff'));
  assert.equal(encodeEntries(e, 0, 4, 512).length, 512);
});

test('markers: qemu-img streamOptimized grain marker', { skip }, () => {
  const dir = tmpDir();
  const raw = path.join(dir, 'src.raw');
  const data = pattern(65536, 7);
  fs.writeFileSync(raw, Buffer.concat([data, Buffer.alloc(65536 * 3)]));
  const f = path.join(dir, 's.vmdk');
  qemuImgOk(['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, f]);
  const at = 128 * 512; // overHead: the first grain
  const head = readAt(f, at, 16);
  const m = decodeMarker(head);
  assert.equal(m.kind, 'grain');
  assert.ok(m.kind === 'grain');
  assert.equal(m.lba, 0);
  const payload = readAt(f, at + 12, m.size);
  assert.equal(payload[0], 0x78, 'a zlib stream (RFC 1950)');
  assert.deepEqual(inflateSync(payload), data);
  // Re-encoding the same compressed bytes gives the same sectors.
  const enc = encodeGrainMarker(0, payload);
  assert.equal(enc.length % 512, 0);
  assert.deepEqual(enc.subarray(0, 12 + m.size), readAt(f, at, 12 + m.size));
});

test('markers: metadata markers as laid out in Virtual Disk Format 1.1, and round trips', () => {
  // The end-of-stream marker is an all-zero sector.
  assert.deepEqual(encodeMetadataMarker('eos', 0), Buffer.alloc(512));
  assert.deepEqual(decodeMarker(Buffer.alloc(512)), { kind: 'eos', sectors: 0 });
  // numSectors (uint64) = 4, size (uint32) = 0, type (uint32) = MARKER_GT (1), then zeroes.
  const gt = encodeMetadataMarker('gt', 4);
  assert.equal(gt.length, 512);
  assert.deepEqual(gt.subarray(0, 16), hex('0400000000000000 00000000 01000000'));
  assert.ok(gt.subarray(16).every((b) => b === 0));
  assert.deepEqual(encodeMetadataMarker('gd', 1).subarray(0, 16), hex('0100000000000000 00000000 02000000'));
  assert.deepEqual(
    encodeMetadataMarker('footer', 1).subarray(0, 16),
    hex('0100000000000000 00000000 03000000'),
  );
  for (const kind of ['eos', 'gt', 'gd', 'footer'] as const) {
    assert.deepEqual(decodeMarker(encodeMetadataMarker(kind, 9)), { kind, sectors: 9 });
  }
  const g = encodeGrainMarker(0x1234, Buffer.from('abc'));
  assert.deepEqual(g.subarray(0, 15), hex('3412000000000000 03000000 616263'));
  assert.deepEqual(decodeMarker(g), { kind: 'grain', lba: 0x1234, size: 3 });
  const weird = Buffer.from(gt);
  weird.writeUInt32LE(7, 12);
  assert.equal(decodeMarker(weird).kind, 'invalid');
});

test('descriptor: qemu-img text decodes and re-encodes byte for byte', { skip }, () => {
  const dir = tmpDir();
  const f = qemuVmdk(dir, 'flat.vmdk', 'monolithicFlat', '8M', ['-o', 'adapter_type=lsilogic']);
  const text = fs.readFileSync(f, 'utf8');
  const d = decodeDescriptor(text);
  assert.equal(d.version, 1);
  assert.equal(d.parentCid, 0xffffffff);
  assert.equal(d.createType, 'monolithicFlat');
  assert.deepEqual(d.extents, [
    { access: 'RW', sectors: 16384, type: 'FLAT', filename: 'flat-flat.vmdk', offset: 0 },
  ]);
  assert.deepEqual(d.ddb, [
    ['virtualHWVersion', '4'],
    ['geometry.cylinders', '1'], // 8 MiB / (63 sectors * 255 heads * 512)
    ['geometry.heads', '255'],
    ['geometry.sectors', '63'],
    ['adapterType', 'lsilogic'],
    ['toolsVersion', '2147483647'],
  ]);
  assert.equal(encodeDescriptor(d), text);
  // The embedded descriptor of a monolithicSparse image: sectors 1-20, zero-padded.
  const s = qemuVmdk(dir, 'sparse.vmdk', 'monolithicSparse');
  const emb = readAt(s, 512, 20 * 512);
  const ds = decodeDescriptor(emb);
  assert.equal(ds.createType, 'monolithicSparse');
  assert.deepEqual(ds.extents, [{ access: 'RW', sectors: 16384, type: 'SPARSE', filename: 'sparse.vmdk' }]);
  const len = emb.indexOf(0);
  assert.equal(encodeDescriptor(ds), emb.toString('latin1', 0, len));
});

test('descriptor: round trip of every extent kind, parent hint, extra fields and CRLF input', () => {
  const d: Descriptor = {
    version: 1,
    cid: 0xfffffffe,
    parentCid: 0x1234abcd,
    createType: 'twoGbMaxExtentSparse',
    parentFileNameHint: '../base.vmdk',
    fields: [
      ['encoding', 'UTF-8'],
      ['isNativeSnapshot', 'no'],
    ],
    extents: [
      { access: 'RW', sectors: 100, type: 'SPARSE', filename: 'a b-s001.vmdk' },
      { access: 'RDONLY', sectors: 8, type: 'FLAT', filename: '/abs/f.img', offset: 3 },
      { access: 'NOACCESS', sectors: 9, type: 'VMFS', filename: 'v.vmdk' },
      { access: 'RW', sectors: 7, type: 'ZERO' },
    ],
    ddb: [['uuid', '60 00 C2 9b']],
  };
  const text = encodeDescriptor(d);
  assert.deepEqual(decodeDescriptor(text), d);
  assert.deepEqual(decodeDescriptor(text.replace(/\n/g, '\r\n')), d);
  assert.deepEqual(decodeDescriptor(Buffer.concat([Buffer.from(text), Buffer.alloc(300)])), d);
});

test('descriptor: malformed text is a typed error naming the line', async () => {
  const good = encodeDescriptor({
    version: 1,
    cid: 1,
    parentCid: 0xffffffff,
    createType: 'monolithicFlat',
    fields: [],
    extents: [{ access: 'RW', sectors: 8, type: 'FLAT', filename: 'x', offset: 0 }],
    ddb: [],
  });
  const bad = (t: string): Promise<unknown> => Promise.resolve().then(() => decodeDescriptor(t));
  await expectBlockError(bad('hello world\n'), 'BAD_FORMAT', /not a VMDK image/);
  await expectBlockError(
    bad(good.replace('version=1', 'version=1\nhello world')),
    'CORRUPT',
    /line 3: cannot parse/,
  );
  await expectBlockError(bad('version=1\nCID=1\nparentCID=ffffffff\n'), 'BAD_FORMAT', /createType/);
  await expectBlockError(bad(good.replace('RW 8 FLAT', 'RW 8 WEIRD')), 'CORRUPT', /unknown extent type/);
  await expectBlockError(bad(good.replace('RW 8 FLAT', 'RW -8 FLAT')), 'CORRUPT', /invalid extent line/);
  await expectBlockError(bad(good.replace('RW 8 FLAT', 'RW 0 FLAT')), 'CORRUPT', /extent size/);
  await expectBlockError(bad(good.replace('"x" 0', '')), 'CORRUPT', /file name is missing/);
  await expectBlockError(bad(good.replace('CID=1', 'CID=xyz')), 'CORRUPT', /CID/);
  await expectBlockError(bad(good.replace(/RW 8 FLAT.*\n/, '')), 'CORRUPT', /no extents/);
  await expectBlockError(bad('x'.repeat(2 * 1024 * 1024)), 'BAD_FORMAT', /too large/);
});
