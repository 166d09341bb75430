/**
 * VMDK against qemu-img, both ways, for every subformat.
 *
 * - qemu -> vdisk: qemu-img converts a patterned raw file (data, explicit zeroes, holes, a grain
 *   table boundary, a partial last grain) to vmdk; vdisk reads it byte for byte as
 *   `qemu-img convert -O raw` does, its block status agrees with `qemu-img map`, and its info with
 *   `qemu-img info`.
 * - vdisk -> qemu: vdisk creates the subformat and writes the same data (the stream writer in
 *   odd-sized sequential pieces); `qemu-img compare` finds it equal to the source, `qemu-img check`
 *   is clean and `qemu-img info` agrees.
 * - monolithicSparse also takes random, concurrent and zeroing writes checked against a model,
 *   and reads qemu-img's zeroed-grain entries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createImage, openImage, probeFormat } from '../../src/formats/index.js';
import { decodeEntries, decodeSparseHeader } from '../../src/formats/vmdk/index.js';
import { tmpDir } from '../helpers/tmp.js';
import {
  pattern,
  qemuImg,
  qemuImgJson,
  qemuImgOk,
  qemuIoOk,
  readAt,
  skipWithoutQemu,
} from '../helpers/qemu.js';
import {
  KiB,
  MiB,
  ourRuns,
  qemuRuns,
  readAll,
  SIZE,
  sourceRaw,
  SUBFORMATS,
  writeSequentially,
} from './vmdk-helpers.js';

const skip = skipWithoutQemu();
const timeout = 60_000;

for (const sub of SUBFORMATS) {
  test(
    `qemu -> vdisk: ${sub} converted by qemu-img reads identically, maps and infos agree`,
    { skip, timeout },
    async () => {
      const dir = tmpDir();
      const src = sourceRaw(dir);
      const f = path.join(dir, `img.vmdk`);
      qemuImgOk(['convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${sub}`, src.file, f]);
      const back = path.join(dir, 'back.raw');
      qemuImgOk(['convert', '-f', 'vmdk', '-O', 'raw', f, back]);
      assert.equal(probeFormat(f), 'vmdk');
      const img = await openImage(f, { readOnly: true });
      try {
        assert.equal(img.format, 'vmdk');
        assert.equal(img.size, SIZE);
        const got = await readAll(img);
        assert.ok(got.equals(fs.readFileSync(back)), 'the same bytes as qemu-img convert -O raw');
        assert.ok(got.equals(src.data), 'the same bytes as the source');
        assert.deepEqual(ourRuns(await img.blockStatus(0, img.size)), qemuRuns(f));
        const q = qemuImgJson<Record<string, unknown>>(['info', f]);
        const ours = await img.info();
        assert.equal(ours['virtual-size'], q['virtual-size']);
        assert.equal(ours.format, q['format']);
        assert.equal(ours['cluster-size'], q['cluster-size']);
        const qd = (q['format-specific'] as { data: Record<string, unknown> }).data;
        const od = ours['format-specific']!.data;
        assert.equal(od['create-type'], qd['create-type']);
        assert.equal(od['cid'], qd['cid']);
        const qe = qd['extents'] as Array<Record<string, unknown>>;
        const oe = od['extents'] as Array<Record<string, unknown>>;
        assert.deepEqual(
          oe.map((e) => [
            path.basename(String(e['filename'])),
            e['format'],
            e['virtual-size'],
            e['compressed'],
          ]),
          qe.map((e) => [
            path.basename(String(e['filename'])),
            e['format'],
            e['virtual-size'],
            e['compressed'],
          ]),
        );
      } finally {
        await img.close();
      }
    },
  );
}

for (const sub of SUBFORMATS) {
  test(
    `vdisk -> qemu: ${sub} created and written by vdisk is equal to its source for qemu-img`,
    { skip, timeout },
    async () => {
      const dir = tmpDir();
      const src = sourceRaw(dir);
      const f = path.join(dir, 'out.vmdk');
      await createImage(f, { format: 'vmdk', size: SIZE, options: { subformat: sub } });
      // An empty image is all zeroes for qemu too.
      const zero = path.join(dir, 'zero.raw');
      fs.writeFileSync(zero, '');
      fs.truncateSync(zero, SIZE);
      qemuImgOk(['compare', '-f', 'vmdk', '-F', 'raw', f, zero]);
      const img = await openImage(f);
      try {
        // Odd sizes: the stream writer must keep partial grains until a write moves past them.
        await writeSequentially(
          img,
          src.data,
          sub === 'streamOptimized' ? [3000, 70000, 1 * MiB + 7] : [1 * MiB],
        );
        assert.ok((await readAll(img)).equals(src.data), 'reads see the data before close');
      } finally {
        await img.close();
      }
      const cmp = qemuImg(['compare', '-f', 'vmdk', '-F', 'raw', f, src.file]);
      assert.equal(cmp.status, 0, `${cmp.cmd}: ${cmp.stdout}${cmp.stderr}`);
      const check = qemuImg(['check', f]);
      assert.equal(check.status, 0, `${check.cmd}: ${check.stdout}${check.stderr}`);
      const q = qemuImgJson<Record<string, unknown>>(['info', f]);
      assert.equal(q['virtual-size'], SIZE);
      assert.equal(q['format'], 'vmdk');
      const again = await openImage(f, { readOnly: true });
      try {
        assert.equal((await again.info())['virtual-size'], q['virtual-size']);
        assert.ok((await readAll(again)).equals(src.data));
        if (sub !== 'monolithicFlat' && sub !== 'twoGbMaxExtentFlat') {
          // Zero grains were not stored: the map shows the source's holes.
          assert.deepEqual(ourRuns(await again.blockStatus(0, SIZE)), qemuRuns(f));
          const at1M = qemuRuns(f).find((r) => r[0] <= MiB && MiB < r[0] + r[1]);
          assert.equal(at1M?.[2], false, 'explicit zeroes at 1 MiB are not data');
        }
      } finally {
        await again.close();
      }
    },
  );
}

test(
  'monolithicSparse: random, overlapping, concurrent and zeroing writes match a model',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'r.vmdk');
    const size = 48 * MiB;
    await createImage(f, { format: 'vmdk', size, options: {} });
    const model = Buffer.alloc(size);
    const img = await openImage(f);
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    try {
      for (let round = 0; round < 6; round++) {
        const ops: Array<Promise<void>> = [];
        for (let k = 0; k < 8; k++) {
          // Disjoint slots so that concurrent writes have one defined result.
          const slot = round * 8 + k;
          const at = slot * (size / 48) + rnd(200 * KiB);
          const len = 1 + rnd(300 * KiB);
          const data = pattern(len, slot + 100);
          data.copy(model, at);
          ops.push(img.write(at, data));
        }
        await Promise.all(ops);
      }
      // Overwrite in place, zero partial and whole grains, discard.
      const over = pattern(100 * KiB, 9);
      over.copy(model, 5 * MiB + 3);
      await img.write(5 * MiB + 3, over);
      await img.writeZeroes(1 * MiB + 100, 200 * KiB);
      model.fill(0, 1 * MiB + 100, 1 * MiB + 100 + 200 * KiB);
      await img.discard(9 * MiB, 3 * MiB);
      model.fill(0, 9 * MiB, 12 * MiB);
      assert.ok((await readAll(img)).equals(model));
    } finally {
      await img.close();
    }
    const m = path.join(dir, 'model.raw');
    fs.writeFileSync(m, model);
    qemuImgOk(['compare', '-f', 'vmdk', '-F', 'raw', f, m]);
    assert.equal(qemuImg(['check', f]).status, 0);
    // The redundant grain tables say the same as the primary ones.
    const h = decodeSparseHeader(readAt(f, 0, 512));
    const n = Math.ceil(h.capacity / (h.grainSize * 512));
    const gd = decodeEntries(readAt(f, h.gdOffset * 512, n * 4), n);
    const rgd = decodeEntries(readAt(f, h.rgdOffset * 512, n * 4), n);
    for (let i = 0; i < n; i++) {
      assert.deepEqual(readAt(f, rgd[i]! * 512, 2048), readAt(f, gd[i]! * 512, 2048), `grain table ${i}`);
    }
  },
);

test(
  'zeroed_grain images from qemu-img: zero grains read as zeroes, map as zero, and can be rewritten',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'z.vmdk');
    qemuImgOk(['create', '-q', '-f', 'vmdk', '-o', 'zeroed_grain=on', f, '4M']);
    qemuIoOk(f, ['write -P 0x55 0 256k', 'write -z 64k 128k'], 'vmdk');
    const ro = await openImage(f, { readOnly: true });
    try {
      const b = Buffer.alloc(256 * KiB);
      await ro.read(0, b);
      assert.ok(b.subarray(0, 64 * KiB).every((x) => x === 0x55));
      assert.ok(b.subarray(64 * KiB, 192 * KiB).every((x) => x === 0));
      assert.deepEqual(ourRuns(await ro.blockStatus(0, 4 * MiB)), qemuRuns(f));
      assert.deepEqual(ourRuns(await ro.blockStatus(64 * KiB, 128 * KiB)), [
        [64 * KiB, 128 * KiB, false, true, true],
      ]);
    } finally {
      await ro.close();
    }
    const img = await openImage(f);
    try {
      await img.write(100 * KiB, Buffer.alloc(4 * KiB, 0x66));
    } finally {
      await img.close();
    }
    qemuIoOk(
      f,
      ['read -P 0 64k 36k', 'read -P 0x66 100k 4k', 'read -P 0 104k 88k', 'read -P 0x55 192k 64k'],
      'vmdk',
    );
    assert.equal(qemuImg(['check', f]).status, 0);
  },
);
