/**
 * Multi-extent VMDK disks against qemu-img: twoGbMaxExtentSparse/Flat of 5 GiB read and written
 * across the 2 GiB extent boundaries, and hand-written descriptors mixing FLAT (with an offset),
 * SPARSE, ZERO, RDONLY and NOACCESS extents in a subdirectory of the descriptor's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openImage } from '../../src/formats/index.js';
import { tmpDir } from '../helpers/tmp.js';
import { expectBlockError, pattern, qemuImg, qemuImgOk, qemuIoOk, skipWithoutQemu } from '../helpers/qemu.js';
import { GiB, KiB, MiB, ourRuns, qemuRuns, readAll } from './vmdk-helpers.js';

const skip = skipWithoutQemu();
const timeout = 60_000;

for (const sub of ['twoGbMaxExtentSparse', 'twoGbMaxExtentFlat'] as const) {
  test(
    `${sub} of 5 GiB: reads and writes across the 2 GiB extent boundaries`,
    { skip, timeout },
    async () => {
      const dir = tmpDir();
      const f = path.join(dir, 'big.vmdk');
      qemuImgOk(['create', '-q', '-f', 'vmdk', '-o', `subformat=${sub}`, f, '5G']);
      qemuIoOk(f, ['write -P 0xa1 2047M 2M', 'write -P 0xa2 4095M 1M', 'write -P 0xa3 5119M 1M'], 'vmdk');
      const img = await openImage(f);
      try {
        assert.equal(img.size, 5 * GiB);
        assert.equal(((await img.info())['format-specific']!.data['extents'] as unknown[]).length, 3);
        const b = Buffer.alloc(4 * MiB);
        await img.read(2046 * MiB, b);
        assert.ok(b.subarray(0, MiB).every((x) => x === 0));
        assert.ok(b.subarray(MiB, 3 * MiB).every((x) => x === 0xa1));
        assert.ok(b.subarray(3 * MiB).every((x) => x === 0));
        const t = Buffer.alloc(MiB);
        await img.read(5 * GiB - MiB, t);
        assert.ok(t.every((x) => x === 0xa3));
        // One write across the second boundary (4 GiB).
        await img.write(4 * GiB - 3000, Buffer.alloc(6000, 0xb4));
      } finally {
        await img.close();
      }
      qemuIoOk(f, [`read -P 0xa2 4095M ${MiB - 3000}`], 'vmdk');
      const r = qemuIoOk(f, ['read -v 4294964296 8'], 'vmdk');
      assert.match(r, /b4 b4 b4 b4 b4 b4 b4 b4/);
      qemuIoOk(f, ['read -P 0xb4 4294964296 6000'], 'vmdk');
      assert.equal(qemuImg(['check', f]).status, 0);
    },
  );
}

test(
  'hand-written descriptors: FLAT with offset + SPARSE read like qemu; ZERO, RDONLY, NOACCESS extents',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, 'sub'));
    // A flat file whose extent starts 8 sectors in, and a sparse extent made by qemu-img.
    const flat = Buffer.concat([Buffer.alloc(4096, 0xee), pattern(1 * MiB, 5)]);
    fs.writeFileSync(path.join(dir, 'sub', 'flat.bin'), flat);
    const sparse = path.join(dir, 'sub', 's.vmdk');
    qemuImgOk(['create', '-q', '-f', 'vmdk', sparse, '2M']);
    qemuIoOk(sparse, ['write -P 0x77 64k 64k'], 'vmdk');
    // (qemu reads an extent line twice when a blank line precedes it: keep the comment before them.)
    const head = (lines: string[]): string =>
      [
        '# Disk DescriptorFile',
        'version=1',
        'CID=12345678',
        'parentCID=ffffffff',
        'createType="monolithicFlat"',
        '',
        '# Extent description',
        ...lines,
        '',
      ].join('\n');
    const d1 = path.join(dir, 'two.vmdk');
    fs.writeFileSync(d1, head(['RW 2048 FLAT "sub/flat.bin" 8', 'RW 4096 SPARSE "sub/s.vmdk"']));
    const back = path.join(dir, 'back.raw');
    qemuImgOk(['convert', '-f', 'vmdk', '-O', 'raw', d1, back]);
    const qmap = qemuRuns(d1);
    let img = await openImage(d1);
    try {
      assert.equal(img.size, 3 * MiB);
      const got = await readAll(img);
      assert.ok(got.equals(fs.readFileSync(back)));
      assert.ok(got.subarray(0, MiB).equals(flat.subarray(4096)));
      assert.deepEqual(ourRuns(await img.blockStatus(0, img.size)), qmap);
      // A write across the FLAT/SPARSE boundary lands in both files.
      await img.write(MiB - 512, Buffer.alloc(1024, 0x99));
    } finally {
      await img.close();
    }
    qemuIoOk(d1, ['read -P 0x99 1048064 1024'], 'vmdk');
    assert.ok(
      fs
        .readFileSync(path.join(dir, 'sub', 'flat.bin'))
        .subarray(4096 + MiB - 512)
        .every((x) => x === 0x99),
    );

    const d2 = path.join(dir, 'mixed.vmdk');
    fs.writeFileSync(
      d2,
      head([
        'RDONLY 2048 FLAT "sub/flat.bin" 8',
        'RW 100 ZERO',
        'NOACCESS 50 FLAT "missing.bin" 0',
        'RW 4096 SPARSE "sub/s.vmdk"',
      ]),
    );
    img = await openImage(d2);
    try {
      assert.equal(img.size, 3 * MiB + 150 * 512);
      const z = Buffer.alloc(100 * 512, 1);
      await img.read(MiB, z);
      assert.ok(z.every((x) => x === 0));
      await img.write(MiB, Buffer.alloc(512)).then(
        () => assert.fail('a ZERO extent stores nothing'),
        (e: Error & { code: string }) => assert.equal(e.code, 'NOT_SUPPORTED'),
      );
      await expectBlockError(img.write(0, Buffer.alloc(512, 1)), 'READ_ONLY', /RDONLY/);
      await expectBlockError(img.read(MiB + 100 * 512, Buffer.alloc(512)), 'IO', /NOACCESS/);
      const s = Buffer.alloc(64 * KiB);
      await img.read(MiB + 150 * 512 + 64 * KiB, s);
      assert.ok(s.every((x) => x === 0x77));
      await img.write(MiB + 150 * 512, Buffer.alloc(512, 0x12)); // the RW sparse extent takes writes
    } finally {
      await img.close();
    }
    qemuIoOk(sparse, ['read -P 0x12 0 512'], 'vmdk');
  },
);
