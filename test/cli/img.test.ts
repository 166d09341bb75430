/**
 * `vdisk img` against qemu-img 7.2, on every format under test: the image vdisk makes is the
 * image qemu-img sees, and vdisk's info, map, check and compare print what qemu-img prints
 * about the same file (byte for byte where qemu's output is deterministic) with the same exit
 * codes.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { ImageFormat } from '../../src/formats/index.js';
import {
  fill,
  formatsUnderTest,
  json,
  makeImage,
  makeScattered,
  ok,
  oneLineError,
  qemuImg,
  qemuIo,
  tmpDir,
  vdisk,
} from './harness.js';

const MiB = 1024 * 1024;
const cases = await formatsUnderTest();

/** The scattered test image, made in-process (see harness.ts). */
function scattered(dir: string, name: string, format: ImageFormat, size = 64 * MiB): Promise<void> {
  return makeScattered(path.join(dir, name), format, size);
}

/** Rewrites one 8-byte L2 entry of guest cluster `index` (in L2 table 0) of a qcow2 image. */
function pokeL2(file: string, index: number, value: (l2Offset: number, old: bigint) => bigint): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const header = Buffer.alloc(48);
    fs.readSync(fd, header, 0, 48, 0);
    const l1 = Number(header.readBigUInt64BE(40));
    const entry = Buffer.alloc(8);
    fs.readSync(fd, entry, 0, 8, l1);
    const l2 = Number(entry.readBigUInt64BE(0) & 0x00fffffffffffe00n);
    fs.readSync(fd, entry, 0, 8, l2 + index * 8);
    entry.writeBigUInt64BE(value(l2, entry.readBigUInt64BE(0)));
    fs.writeSync(fd, entry, 0, 8, l2 + index * 8);
  } finally {
    fs.closeSync(fd);
  }
}

for (const { format, skip } of cases) {
  describe(`vdisk img on ${format}`, { skip, concurrency: true }, () => {
    const dir = tmpDir();

    test('create makes an image qemu-img agrees with, and says so like qemu-img', async () => {
      const r = ok(await vdisk(dir, 'img', 'create', '-f', format, 'c.img', '64M'));
      assert.match(r.stdout, new RegExp(`^Formatting 'c.img', fmt=${format} .*size=${64 * MiB}\\b`));
      assert.equal(r.stdout.split('\n').length, 2, 'one line');
      const q = json(ok(await qemuImg(dir, 'info', '--output=json', 'c.img'))) as Record<string, unknown>;
      assert.equal(q['format'], format);
      assert.equal(q['virtual-size'], 64 * MiB);
    });

    test('info prints what qemu-img info prints, in both forms', async () => {
      await scattered(dir, 'i.img', format);
      const ours = ok(await vdisk(dir, 'img', 'info', 'i.img'));
      const theirs = ok(await qemuImg(dir, 'info', '-f', format, 'i.img'));
      assert.equal(ours.stdout, theirs.stdout);
      const oursJ = json(ok(await vdisk(dir, 'img', 'info', '--output=json', '-f', format, 'i.img')));
      const theirsJ = json(ok(await qemuImg(dir, 'info', '--output=json', '-f', format, 'i.img')));
      assert.deepEqual(oursJ, theirsJ);
    });

    test('map prints what qemu-img map prints, JSON and human', async () => {
      await scattered(dir, 'm.img', format);
      for (const output of ['json', 'human']) {
        const ours = ok(await vdisk(dir, 'img', 'map', `--output=${output}`, 'm.img'));
        const theirs = ok(await qemuImg(dir, 'map', `--output=${output}`, '-f', format, 'm.img'));
        assert.equal(ours.stdout, theirs.stdout, `--output=${output}`);
      }
      const ours = json(ok(await vdisk(dir, 'img', 'map', '--output=json', 'm.img'))) as unknown[];
      assert.ok(ours.length >= 4, 'the map shows the scattered extents');
      const window = ['--start-offset', '1M', '--max-length', '2M'];
      const w = json(ok(await vdisk(dir, 'img', 'map', '--output=json', ...window, 'm.img'))) as Array<
        Record<string, number>
      >;
      assert.equal(w[0]!['start'], MiB);
      assert.equal(
        w.reduce((n, e) => n + e['length']!, 0),
        2 * MiB,
      );
    });

    test('compare agrees with qemu-img compare on equal, different and resized images', async () => {
      await scattered(dir, 'a.img', format);
      await scattered(dir, 'b.img', format);
      const same = ok(await vdisk(dir, 'img', 'compare', 'a.img', 'b.img'));
      assert.equal(same.stdout, 'Images are identical.\n');
      await fill(path.join(dir, 'b.img'), 70001, 1, 1);
      const diff = await vdisk(dir, 'img', 'compare', 'a.img', 'b.img');
      const qdiff = await qemuImg(dir, 'compare', 'a.img', 'b.img');
      assert.equal(diff.code, 1);
      assert.equal(qdiff.code, 1);
      assert.equal(diff.stdout, qdiff.stdout);
      assert.equal(diff.stdout, 'Content mismatch at offset 69632!\n');

      // A larger image whose extra part reads as zeroes is identical, with a warning.
      await scattered(dir, 'big.img', format, 80 * MiB);
      const bigger = ok(await vdisk(dir, 'img', 'compare', 'a.img', 'big.img'));
      assert.equal(bigger.stdout, 'Warning: Image size mismatch!\nImages are identical.\n');
      const strict = await vdisk(dir, 'img', 'compare', '-s', 'a.img', 'big.img');
      assert.equal(strict.code, 1);
      assert.equal(strict.stdout, 'Strict mode: Image size mismatch!\n');
      await fill(path.join(dir, 'big.img'), 70 * MiB, 4096, 9);
      const tail = await vdisk(dir, 'img', 'compare', '-q', 'big.img', 'a.img');
      const qtail = await qemuImg(dir, 'compare', 'big.img', 'a.img');
      assert.equal(tail.code, 1);
      assert.equal(tail.code, qtail.code);
      assert.equal(tail.stdout, '', '-q prints nothing');
      assert.match(qtail.stdout, /^Warning: Image size mismatch!\nContent mismatch at offset \d+!\n$/);

      const missing = await vdisk(dir, 'img', 'compare', 'a.img', 'nope.img');
      oneLineError(missing, /nope\.img/, 2);
    });

    test('compare across formats looks at content only', async () => {
      await scattered(dir, 'x.img', format);
      await scattered(dir, 'x.raw', 'raw');
      const r = ok(await vdisk(dir, 'img', 'compare', '-f', format, '-F', 'raw', 'x.img', 'x.raw'));
      assert.equal(r.stdout, 'Images are identical.\n');
    });

    test('resize grows, refuses to shrink without --shrink, and shrinks with it', async () => {
      await makeImage(path.join(dir, 'r.img'), format, 64 * MiB);
      assert.equal(
        ok(await vdisk(dir, 'img', 'resize', '-f', format, 'r.img', '+64M')).stdout,
        'Image resized.\n',
      );
      const size = async (): Promise<unknown> =>
        (json(ok(await qemuImg(dir, 'info', '--output=json', 'r.img'))) as Record<string, unknown>)[
          'virtual-size'
        ];
      assert.equal(await size(), 128 * MiB);
      oneLineError(await vdisk(dir, 'img', 'resize', 'r.img', '-64M'), /--shrink/);
      assert.equal(await size(), 128 * MiB);
      ok(await vdisk(dir, 'img', 'resize', '--shrink', 'r.img', '-64M'));
      assert.equal(await size(), 64 * MiB);
      oneLineError(await vdisk(dir, 'img', 'resize', '--shrink', 'r.img', '-1T'), /negative/);
    });

    if (format === 'raw') {
      test('check: raw has no check (exit 63, like qemu-img)', async () => {
        await makeImage(path.join(dir, 'k.raw'), 'raw', MiB);
        const r = await vdisk(dir, 'img', 'check', 'k.raw');
        oneLineError(r, /This image format does not support checks/, 63);
        assert.equal((await qemuImg(dir, 'check', '-f', 'raw', 'k.raw')).code, 63);
      });
    }

    if (format === 'qcow2') {
      test('check: clean, leaked and corrupted images give qemu-img check exit codes', async () => {
        await scattered(dir, 'k.qcow2', format);
        const clean = ok(await vdisk(dir, 'img', 'check', 'k.qcow2'));
        assert.equal(clean.stdout, ok(await qemuImg(dir, 'check', 'k.qcow2')).stdout);
        assert.match(clean.stdout, /^No errors were found on the image\.\n/);
        const cleanJ = json(ok(await vdisk(dir, 'img', 'check', '--output=json', 'k.qcow2')));
        assert.deepEqual(cleanJ, json(ok(await qemuImg(dir, 'check', '--output=json', 'k.qcow2'))));

        // Drop the L2 entry of guest cluster 17 (data at 1M + 64k): its cluster leaks.
        fs.copyFileSync(path.join(dir, 'k.qcow2'), path.join(dir, 'leak.qcow2'));
        pokeL2(path.join(dir, 'leak.qcow2'), 16, () => 0n);
        const leak = await vdisk(dir, 'img', 'check', 'leak.qcow2');
        assert.equal(leak.code, 3, leak.stderr);
        assert.equal((await qemuImg(dir, 'check', 'leak.qcow2')).code, 3);
        assert.match(leak.stdout, /\n1 leaked clusters were found on the image\.\nThis means waste/);
        const leakJ = json(await vdisk(dir, 'img', 'check', '--output=json', 'leak.qcow2'));
        assert.equal((leakJ as Record<string, unknown>)['leaks'], 1);
        const repaired = ok(await vdisk(dir, 'img', 'check', '-r', 'leaks', 'leak.qcow2'));
        assert.match(repaired.stdout, /repaired:\n\n {4}1 leaked clusters\n {4}0 corruptions\n/);
        assert.match(repaired.stdout, /Double checking the fixed image now\.\.\.\nNo errors were found/);
        ok(await qemuImg(dir, 'check', 'leak.qcow2'));

        // Point guest cluster 16 at its own L2 table: a cluster referenced twice.
        fs.copyFileSync(path.join(dir, 'k.qcow2'), path.join(dir, 'bad.qcow2'));
        pokeL2(path.join(dir, 'bad.qcow2'), 16, (l2) => (1n << 63n) | BigInt(l2));
        const bad = await vdisk(dir, 'img', 'check', 'bad.qcow2');
        assert.equal(bad.code, 2, bad.stderr);
        assert.equal((await qemuImg(dir, 'check', 'bad.qcow2')).code, 2);
        assert.match(bad.stdout, /errors were found on the image\.\nData may be corrupted/);
      });

      test('backing files: create -b -F, info --backing-chain, map of the overlay', async () => {
        await scattered(dir, 'base.qcow2', format);
        const created = ok(
          await vdisk(dir, 'img', 'create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'),
        );
        assert.match(created.stdout, /backing_file=base\.qcow2 backing_fmt=qcow2/);
        assert.match(created.stdout, new RegExp(`size=${64 * MiB}\\b`));
        await fill(path.join(dir, 'top.qcow2'), 2 * MiB, 64 * 1024, 0x22);
        const chain = json(
          ok(await vdisk(dir, 'img', 'info', '--backing-chain', '--output=json', 'top.qcow2')),
        );
        assert.ok(Array.isArray(chain) && chain.length === 2);
        assert.deepEqual(
          chain,
          json(ok(await qemuImg(dir, 'info', '--backing-chain', '--output=json', 'top.qcow2'))),
        );
        const human = ok(await vdisk(dir, 'img', 'info', '--backing-chain', 'top.qcow2'));
        assert.equal(human.stdout, ok(await qemuImg(dir, 'info', '--backing-chain', 'top.qcow2')).stdout);
        const map = ok(await vdisk(dir, 'img', 'map', '--output=json', 'top.qcow2'));
        assert.equal(map.stdout, ok(await qemuImg(dir, 'map', '--output=json', 'top.qcow2')).stdout);
        oneLineError(
          await vdisk(dir, 'img', 'create', '-f', 'qcow2', '-b', 'base.qcow2', 'nofmt.qcow2'),
          /backing format.*-F qcow2/,
        );
        ok(await qemuIo(dir, '-c', 'read -q -P 0x22 2M 64k', '-c', 'read -q -P 0xab 1M 64k', 'top.qcow2'));
      });

      test('create takes -o options, with ,, as a literal comma', async () => {
        const r = ok(
          await vdisk(
            dir,
            'img',
            'create',
            '-f',
            'qcow2',
            '-o',
            'cluster_size=4k,lazy_refcounts=on',
            'o.qcow2',
            '1M',
          ),
        );
        assert.match(r.stdout, /cluster_size=4096 .*lazy_refcounts=on/);
        const info = json(ok(await qemuImg(dir, 'info', '--output=json', 'o.qcow2'))) as Record<
          string,
          unknown
        >;
        assert.equal(info['cluster-size'], 4096);
        oneLineError(
          await vdisk(dir, 'img', 'create', '-f', 'qcow2', '-o', 'cluster_size=4k,,x', 'p.qcow2', '1M'),
        );
      });
    }
  });
}
