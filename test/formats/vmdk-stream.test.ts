/**
 * The stream-optimized writer against qemu-img: sequential writes only (a write reaching back is
 * refused), partial grains kept until a write moves past them, reads and write zeroes while
 * writing, qemu-img's own empty streams taken over, and a written stream as found in an OVA
 * (packed in a tar and extracted with tar) read back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createImage, openImage } from '../../src/formats/index.js';
import { tmpDir } from '../helpers/tmp.js';
import { expectBlockError, qemuImg, qemuImgOk, runTool, skipWithoutQemu } from '../helpers/qemu.js';
import { KiB, MiB, readAll, SIZE, sourceRaw, writeSequentially } from './vmdk-helpers.js';

const skip = skipWithoutQemu();
const timeout = 60_000;

test(
  'streamOptimized writer: sequential only, partial grains, reads while writing, qemu-img empty streams',
  { skip, timeout },
  async () => {
    const dir = tmpDir();
    const f = path.join(dir, 's.vmdk');
    await createImage(f, { format: 'vmdk', size: 8 * MiB, options: { subformat: 'streamOptimized' } });
    const model = Buffer.alloc(8 * MiB);
    let img = await openImage(f);
    try {
      await img.write(10, Buffer.alloc(100, 1));
      await img.write(5, Buffer.alloc(10, 2)); // still the grain in memory
      await img.write(1 * MiB, Buffer.alloc(70 * KiB, 3)); // moves past grain 0
      model.fill(1, 10, 110);
      model.fill(2, 5, 15);
      model.fill(3, MiB, MiB + 70 * KiB);
      await expectBlockError(img.write(0, Buffer.alloc(512)), 'NOT_SUPPORTED', /sequentially/);
      await img.writeZeroes(MiB + 64 * KiB, 2 * KiB); // in the grain in memory
      model.fill(0, MiB + 64 * KiB, MiB + 66 * KiB);
      await img.writeZeroes(3 * MiB, MiB); // ahead: nothing to do
      const b = Buffer.alloc(2 * MiB);
      await img.read(0, b);
      assert.ok(b.equals(model.subarray(0, 2 * MiB)));
      await img.write(8 * MiB - 512, Buffer.alloc(512, 4)); // the last sector
      model.fill(4, 8 * MiB - 512);
    } finally {
      await img.close();
    }
    const m = path.join(dir, 'model.raw');
    fs.writeFileSync(m, model);
    qemuImgOk(['compare', '-f', 'vmdk', '-F', 'raw', f, m]);
    assert.equal(qemuImg(['check', f]).status, 0);
    // A stream that holds data can be read, not written.
    img = await openImage(f);
    try {
      await expectBlockError(img.write(7 * MiB, Buffer.alloc(512)), 'NOT_SUPPORTED', /streamOptimized/);
      const b = Buffer.alloc(8 * MiB);
      await img.read(0, b);
      assert.ok(b.equals(model));
    } finally {
      await img.close();
    }
    // An empty stream made by qemu-img (tables before overHead) is taken over by the writer.
    const q = path.join(dir, 'q.vmdk');
    qemuImgOk(['create', '-q', '-f', 'vmdk', '-o', 'subformat=streamOptimized', q, '8M']);
    img = await openImage(q);
    try {
      await writeSequentially(img, model, [64 * KiB]);
    } finally {
      await img.close();
    }
    qemuImgOk(['compare', '-f', 'vmdk', '-F', 'raw', q, m]);
    // Closing without writing leaves an empty stream valid.
    const e = path.join(dir, 'e.vmdk');
    await createImage(e, { format: 'vmdk', size: 1 * MiB, options: { subformat: 'streamOptimized' } });
    await (await openImage(e)).close();
    assert.equal(qemuImg(['check', e]).status, 0);
  },
);

test(
  'OVA: a stream-optimized disk packed in a tar and extracted reads back',
  { skip, timeout },
  async (t) => {
    if (runTool('tar', ['--version']).status !== 0) return t.skip('tar is not installed');
    const dir = tmpDir();
    const src = sourceRaw(dir);
    const disk = path.join(dir, 'disk1.vmdk');
    await createImage(disk, { format: 'vmdk', size: SIZE, options: { subformat: 'streamOptimized' } });
    const img = await openImage(disk);
    try {
      await writeSequentially(img, src.data, [256 * KiB]);
    } finally {
      await img.close();
    }
    fs.writeFileSync(path.join(dir, 'vm.ovf'), '<?xml version="1.0"?><Envelope/>\n');
    const ova = path.join(dir, 'vm.ova');
    assert.equal(runTool('tar', ['-cf', ova, '-C', dir, 'vm.ovf', 'disk1.vmdk']).status, 0);
    const out = path.join(dir, 'x');
    fs.mkdirSync(out);
    assert.equal(runTool('tar', ['-xf', ova, '-C', out]).status, 0);
    const back = await openImage(path.join(out, 'disk1.vmdk'), { readOnly: true });
    try {
      assert.ok((await readAll(back)).equals(src.data));
    } finally {
      await back.close();
    }
    qemuImgOk(['compare', '-f', 'vmdk', '-F', 'raw', path.join(out, 'disk1.vmdk'), src.file]);
  },
);
