/**
 * parseSize reads sizes the way people type them; formatSize prints them exactly as qemu-img does
 * (golden strings captured from qemu-img 7.2 `info`, plus a live comparison when qemu-img is here).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { formatSize, parseSize, UsageError } from '../../src/util/index.js';
import { tmpDir } from '../helpers/tmp.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const PiB = 1024 * TiB;

test('parseSize accepts plain bytes and binary suffixes in any case, with optional B / iB', () => {
  const cases: Array<[string, number]> = [
    ['0', 0],
    ['512', 512],
    ['65536', 65536],
    ['100b', 100],
    ['100B', 100],
    ['4k', 4 * KiB],
    ['4K', 4 * KiB],
    ['4kb', 4 * KiB],
    ['4KiB', 4 * KiB],
    ['512M', 512 * MiB],
    ['512MB', 512 * MiB],
    ['10G', 10 * GiB],
    ['10g', 10 * GiB],
    ['10GiB', 10 * GiB],
    ['2T', 2 * TiB],
    ['7P', 7 * PiB],
    ['1.5G', 1.5 * GiB],
    ['0.5k', 512],
    ['  64k  ', 64 * KiB],
    ['64 k', 64 * KiB],
  ];
  for (const [text, want] of cases) assert.equal(parseSize(text), want, text);
});

test('parseSize rejects malformed text with a UsageError that quotes it', () => {
  const bad = [
    '',
    ' ',
    'abc',
    '-1',
    '+1',
    '10x',
    '10 kk',
    '10ib',
    '10bb',
    '10bib',
    '1e3',
    '0x10',
    '1.',
    '.5',
    'k',
  ];
  for (const text of bad) {
    assert.throws(
      () => parseSize(text, 'disk size'),
      (err: unknown) =>
        err instanceof UsageError && err.message.includes(`'${text}'`) && err.message.includes('disk size'),
      `'${text}' must be rejected`,
    );
  }
});

test('parseSize rejects fractions of a byte and sizes beyond 2^53', () => {
  for (const text of ['1.1', '0.3k', '1.0000001M']) {
    assert.throws(() => parseSize(text), /not a whole number of bytes/, text);
  }
  // 8P is exactly 2^53, the first integer a double cannot tell from its neighbour.
  for (const text of ['8P', '1E', '16E', '99999999999999999999', '9007199254740993']) {
    assert.throws(() => parseSize(text), /too large/, text);
  }
  assert.equal(parseSize('9007199254740991'), Number.MAX_SAFE_INTEGER);
});

/** [bytes, what qemu-img 7.2 prints as "virtual size"] for raw files of that many bytes. */
const QEMU_GOLDEN: Array<[number, string]> = [
  [0, '0 B'],
  [512, '512 B'],
  [1024, '1 KiB'],
  [1536, '1.5 KiB'],
  [100 * KiB, '100 KiB'],
  [1023488, '1e+03 KiB'], // 999.5 KiB: "%0.3g" rounds the tie to even and switches to exponent
  [1024000, '0.977 MiB'], // 1000 KiB: the unit switches at 1000, not 1024
  [1047552, '0.999 MiB'],
  [1048064, '1 MiB'],
  [GiB, '1 GiB'],
  [1207959552, '1.12 GiB'], // 1.125 exactly: ties to even, as printf does
  [1610612736, '1.5 GiB'],
  [10 * GiB, '10 GiB'],
  [123457024, '118 MiB'],
  [5000000000000, '4.55 TiB'],
];

test('formatSize prints what qemu-img prints (golden strings)', () => {
  for (const [bytes, want] of QEMU_GOLDEN) assert.equal(formatSize(bytes), want, String(bytes));
});

test('formatSize covers the whole unit range and odd byte counts', () => {
  assert.equal(formatSize(1), '1 B');
  assert.equal(formatSize(999), '999 B');
  assert.equal(formatSize(1000), '0.977 KiB');
  assert.equal(formatSize(100 * MiB), '100 MiB');
  assert.equal(formatSize(512 * GiB), '512 GiB');
  assert.equal(formatSize(3 * PiB), '3 PiB');
  assert.equal(formatSize(Number.MAX_SAFE_INTEGER), '8 PiB');
  assert.equal(formatSize(1025), '1 KiB');
  assert.equal(formatSize(1035), '1.01 KiB');
});

test('formatSize agrees with a live qemu-img info', (t) => {
  if (spawnSync('qemu-img', ['--version']).status !== 0) {
    t.skip('qemu-img is not installed');
    return;
  }
  const dir = tmpDir('vdisk-size-');
  const file = path.join(dir, 'probe.raw');
  for (const [bytes] of QEMU_GOLDEN) {
    fs.writeFileSync(file, '');
    fs.truncateSync(file, bytes);
    const r = spawnSync('qemu-img', ['info', '-f', 'raw', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const m = /virtual size: (.+) \((\d+) bytes\)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(Number(m[2]), bytes);
    assert.equal(formatSize(bytes), m[1], `${bytes} bytes`);
  }
});

test('parseSize and formatSize round-trip whole units', () => {
  for (const text of ['1 KiB', '4 MiB', '10 GiB', '2 TiB', '1.5 GiB']) {
    assert.equal(formatSize(parseSize(text)), text);
  }
});
