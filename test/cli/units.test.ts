/**
 * Unit tests of the CLI's pure parts: qemu-style number formatting, argument parsers, the
 * qemu-io getopt and tokenizer, map merging, and the text of check/info/create reports.
 * Expected strings come from qemu-img/qemu-io 7.2 output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice, type BlockDevice, type Extent } from '../../src/block/index.js';
import type { CheckReport, ImageInfo } from '../../src/formats/index.js';
import { isBlockError, UsageError } from '../../src/util/index.js';
import { parseNumber, parseOptionString, parsePattern } from '../../src/cli/args.js';
import { mapEntries, mapEntryJson, mergeable, walkExtents, type MapEntry } from '../../src/cli/extents.js';
import { checkJson, humanCheck } from '../../src/cli/img-check.js';
import { firstDifferentSector, firstNonZeroSector } from '../../src/cli/img-compare.js';
import { formattingLine } from '../../src/cli/img-create.js';
import { humanInfo } from '../../src/cli/img-info.js';
import { newSize } from '../../src/cli/img-resize.js';
import { dumpBuffer, getopt, reportLines, tokenize } from '../../src/cli/io-commands.js';
import { protectNegativeSize } from '../../src/cli/main.js';
import { cFixed, cvtstr, hexLeft16, sizeToStr, timestr } from '../../src/cli/units.js';

const KiB = 1024;
const MiB = 1024 * 1024;

test('sizeToStr is qemu-img size_to_str', () => {
  assert.equal(sizeToStr(0), '0 B');
  assert.equal(sizeToStr(512), '512 B');
  assert.equal(sizeToStr(1000), '0.977 KiB');
  assert.equal(sizeToStr(1023), '0.999 KiB');
  assert.equal(sizeToStr(135168), '132 KiB');
  assert.equal(sizeToStr(1572864), '1.5 MiB');
  assert.equal(sizeToStr(1024 ** 3), '1 GiB');
  assert.equal(sizeToStr(10 * 1024 ** 4), '10 TiB');
});

test('cvtstr, timestr and cFixed are qemu-io (C printf rounds ties to even)', () => {
  assert.equal(cvtstr(64 * KiB), '64 KiB');
  assert.equal(cvtstr(2.0625 * MiB), '2.062 MiB');
  assert.equal(cvtstr(59.9375 * MiB), '59.938 MiB');
  assert.equal(cvtstr(512), '512 bytes');
  assert.equal(cvtstr(0), '0 bytes');
  assert.equal(cvtstr(1024 ** 3), '1 GiB');
  assert.equal(cFixed(2.5, 0), '2');
  assert.equal(cFixed(3.5, 0), '4');
  assert.equal(cFixed(0.125, 2), '0.12');
  assert.equal(cFixed(0.1, 2), '0.10');
  assert.equal(timestr(0.004), '00.00 sec');
  assert.equal(timestr(0.5), '00.50 sec');
  assert.equal(timestr(61.5), '0:01:01.50');
  assert.equal(hexLeft16(0), '0'.padEnd(16));
  assert.equal(hexLeft16(0x1000), '0x1000'.padEnd(16));
});

test('qemu-io report lines', () => {
  const text = reportLines('wrote', 0, 65536, 65536, 0.5);
  assert.equal(
    text,
    'wrote 65536/65536 bytes at offset 0\n64 KiB, 1 ops; 00.50 sec (128 KiB/sec and 2.0000 ops/sec)\n',
  );
  assert.equal(dumpBuffer(Buffer.from('ABC\0'), 0x100000), '00100000:  41 42 43 00  ABC.\n');
});

test('option strings: key=value, ",," escapes a comma, a bare key is on, a later key wins', () => {
  assert.deepEqual(parseOptionString('a=1,b=x,,y,c'), { a: '1', b: 'x,y', c: 'on' });
  assert.deepEqual(parseOptionString('a=1,a=2'), { a: '2' });
  assert.deepEqual(parseOptionString('backing_file=a,,b.img'), { backing_file: 'a,b.img' });
  assert.throws(() => parseOptionString('=1'), UsageError);
  assert.throws(() => parseOptionString('a=1,'), UsageError);
});

test('patterns and numbers', () => {
  assert.equal(parsePattern('0xab'), 0xab);
  assert.equal(parsePattern('171'), 171);
  assert.equal(parsePattern('0253'), 171);
  assert.equal(parsePattern('0'), 0);
  for (const bad of ['300', '-1', 'x', '0x', '1.5']) assert.throws(() => parsePattern(bad), UsageError, bad);
  assert.equal(parseNumber('0x1000', 'offset'), 4096);
  assert.equal(parseNumber('64k', 'offset'), 65536);
  assert.throws(() => parseNumber('12x', 'length'), /invalid length '12x'/);
});

test('qemu-io getopt permutes, takes values glued or separate, and rejects unknown letters', () => {
  const { opts, rest } = getopt(['0', '-P', '0xab', '64k', '-qz', '-Pcd'], 'P:qz');
  assert.deepEqual(rest, ['0', '64k']);
  assert.equal(opts.get('P'), 'cd');
  assert.equal(opts.get('q'), true);
  assert.equal(opts.get('z'), true);
  assert.deepEqual(getopt(['--', '-1'], 'q').rest, ['-1']);
  assert.throws(() => getopt(['-x'], 'q'), /invalid option -- 'x'/);
  assert.throws(() => getopt(['-P'], 'P:'), /requires an argument/);
  assert.deepEqual(tokenize('  write  -P 1 \'a b\' "c"  '), ['write', '-P', '1', 'a b', 'c']);
  assert.throws(() => tokenize("read 'x"), /unterminated/);
});

test('map entries merge like qemu-img, across status windows too', async () => {
  const dev = new MemoryDevice(8 * 64 * KiB);
  await dev.write(2 * 64 * KiB, Buffer.alloc(2 * 64 * KiB, 1));
  const entries: MapEntry[] = [];
  for await (const e of mapEntries(dev, 0, dev.size, undefined, 3 * 64 * KiB)) entries.push(e);
  assert.deepEqual(
    entries.map((e) => [e.start, e.length, e.data]),
    [
      [0, 2 * 64 * KiB, false],
      [2 * 64 * KiB, 2 * 64 * KiB, true],
      [4 * 64 * KiB, 4 * 64 * KiB, false],
    ],
  );
  const a: MapEntry = { start: 0, length: 10, depth: 0, present: true, zero: false, data: true, offset: 100 };
  assert.equal(mergeable(a, { ...a, start: 10, offset: 110 }), true);
  assert.equal(mergeable(a, { ...a, start: 10, offset: 200 }), false, 'host offsets not contiguous');
  assert.equal(mergeable(a, { ...a, start: 10, offset: undefined }), false);
  assert.equal(mergeable(a, { ...a, start: 10, offset: 110, depth: 1 }), false);
  assert.equal(
    mapEntryJson(a),
    '{ "start": 0, "length": 10, "depth": 0, "present": true, "zero": false, "data": true, "offset": 100}',
  );
  assert.equal(
    mapEntryJson({ ...a, offset: undefined, present: false, data: false, zero: true }),
    '{ "start": 0, "length": 10, "depth": 0, "present": false, "zero": true, "data": false}',
  );
});

test('a device whose block status does not tile the range is an error, not a wrong map', async () => {
  const liar: BlockDevice = Object.assign(new MemoryDevice(64 * KiB), {
    async blockStatus(offset: number, length: number): Promise<Extent[]> {
      return [{ offset, length: length / 2, data: true, zero: false, present: true, depth: 0 }];
    },
  });
  await assert.rejects(
    async () => {
      for await (const _ of walkExtents(liar, 0, liar.size)) void _;
    },
    (err: unknown) => isBlockError(err, 'IO'),
  );
});

test('compare finds the first differing or non-zero 512-byte sector', () => {
  const a = Buffer.alloc(4096);
  const b = Buffer.alloc(4096);
  assert.equal(firstDifferentSector(a, b), -1);
  b[1500] = 1;
  assert.equal(firstDifferentSector(a, b), 1024);
  assert.equal(firstNonZeroSector(a), -1);
  assert.equal(firstNonZeroSector(b), 1024);
});

test('check reports: qemu-img human text, JSON without zero counters', () => {
  const r: CheckReport = {
    filename: 'x.qcow2',
    format: 'qcow2',
    'check-errors': 0,
    corruptions: 2,
    leaks: 1,
    'total-clusters': 16384,
    'allocated-clusters': 3,
    'fragmented-clusters': 0,
    'compressed-clusters': 0,
    'image-end-offset': 262144,
    messages: [],
  };
  assert.equal(
    humanCheck(r),
    '\n2 errors were found on the image.\n' +
      'Data may be corrupted, or further writes to the image may corrupt it.\n' +
      '\n1 leaked clusters were found on the image.\n' +
      'This means waste of disk space, but no harm to data.\n' +
      '3/16384 = 0.02% allocated, 0.00% fragmented, 0.00% compressed clusters\n' +
      'Image end offset: 262144\n',
  );
  assert.deepEqual(checkJson(r), {
    filename: 'x.qcow2',
    format: 'qcow2',
    'check-errors': 0,
    corruptions: 2,
    leaks: 1,
    'total-clusters': 16384,
    'allocated-clusters': 3,
    'image-end-offset': 262144,
  });
  assert.equal(
    humanCheck({ ...r, corruptions: 0, leaks: 0 }).split('\n')[0],
    'No errors were found on the image.',
  );
});

test('info: qemu-img human text, with the backing file and format-specific data', () => {
  const info: ImageInfo = {
    filename: 'top.qcow2',
    format: 'qcow2',
    'virtual-size': 1024 ** 3,
    'actual-size': 200704,
    'cluster-size': 65536,
    'backing-filename': 'base.qcow2',
    'full-backing-filename': '/images/base.qcow2',
    'backing-filename-format': 'qcow2',
    'dirty-flag': false,
    'format-specific': {
      type: 'qcow2',
      data: { compat: '1.1', 'lazy-refcounts': false, bitmaps: [{ name: 'b0', flags: ['auto'] }] },
    },
  };
  assert.equal(
    humanInfo(info),
    [
      'image: top.qcow2',
      'file format: qcow2',
      'virtual size: 1 GiB (1073741824 bytes)',
      'disk size: 196 KiB',
      'cluster_size: 65536',
      'backing file: base.qcow2 (actual path: /images/base.qcow2)',
      'backing file format: qcow2',
      'Format specific information:',
      '    compat: 1.1',
      '    lazy refcounts: false',
      '    bitmaps:',
      '        [0]:',
      '            name: b0',
      '            flags:',
      '                [0]: auto',
      '',
    ].join('\n'),
  );
});

test("create's Formatting line follows qemu-img's", () => {
  assert.equal(
    formattingLine('a.raw', 'raw', 1073741824, undefined, undefined, {}),
    "Formatting 'a.raw', fmt=raw size=1073741824",
  );
  assert.equal(
    formattingLine('c.qcow2', 'qcow2', 1073741824, 'b.qcow2', 'qcow2', {}),
    "Formatting 'c.qcow2', fmt=qcow2 cluster_size=65536 extended_l2=off compression_type=zlib " +
      'size=1073741824 backing_file=b.qcow2 backing_fmt=qcow2 lazy_refcounts=off refcount_bits=16',
  );
  assert.equal(
    formattingLine('p.qcow2', 'qcow2', 1048576, undefined, undefined, {
      preallocation: 'metadata',
      compat: '0.10',
      cluster_size: '4k',
    }),
    "Formatting 'p.qcow2', fmt=qcow2 cluster_size=4096 extended_l2=off preallocation=metadata " +
      'compression_type=zlib size=1048576 compat=0.10 lazy_refcounts=off refcount_bits=16',
  );
});

test('resize sizes: absolute, relative, and negative operands survive option parsing', () => {
  assert.equal(newSize('2G', 1024), 2 * 1024 ** 3);
  assert.equal(newSize('+1M', MiB), 2 * MiB);
  assert.equal(newSize('-1M', 2 * MiB), MiB);
  assert.throws(() => newSize('-2M', MiB), /negative/);
  const argv = ['node', 'vdisk', 'img', 'resize', '--shrink', 'a.img', '-1G'];
  assert.deepEqual(protectNegativeSize(argv), [
    'node',
    'vdisk',
    'img',
    'resize',
    '--shrink',
    'a.img',
    '--',
    '-1G',
  ]);
  assert.deepEqual(protectNegativeSize(['node', 'vdisk', 'img', 'resize', 'a', '1G']), [
    'node',
    'vdisk',
    'img',
    'resize',
    'a',
    '1G',
  ]);
});
