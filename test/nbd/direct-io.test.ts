/**
 * An export of an image opened with O_DIRECT (cache=none): qemu-io's writes and reads over NBD
 * go between the connection's buffers and the file with no aligned bounce copy (write payloads
 * come from page-aligned pooled buffers, read replies from page-aligned slabs), and the data is
 * what qemu-io wrote.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openImage } from '../../src/formats/index.js';
import { countBounces } from '../helpers/bounces.js';
import { directIoUnavailable, tmpDir } from '../helpers/tmp.js';
import { describeRun, run, serve, skipWithout } from './helpers.js';

const KiB = 1024;
const dir = tmpDir('vdisk-nbd-direct-');
const skip = skipWithout('qemu-io') || directIoUnavailable(dir) || false;

describe('NBD export with cache=none', { skip }, async () => {
  if (skip) return;
  const file = path.join(dir, 'direct.raw');
  fs.writeFileSync(file, '');
  fs.truncateSync(file, 4 * 1024 * KiB);
  const image = await openImage(file, { format: 'raw', cache: 'none' });
  const s = await serve([{ name: 'd', device: image }]);
  after(() => image.close());
  test('aligned writes and reads from qemu-io take no bounce buffer', async () => {
    const io = (cmds: string[]) =>
      run('qemu-io', ['-f', 'raw', '-t', 'none', ...cmds.flatMap((c) => ['-c', c]), s.uri('d')]);
    const taken = await countBounces(async () => {
      let r = await io(['write -P 0x5a 0 1M', 'write -P 0xa5 1M 4k', 'write -P 0x3c 2M 64k', 'flush']);
      assert.equal(r.status, 0, describeRun(r));
      assert.doesNotMatch(r.stdout + r.stderr, /error|failed/i, describeRun(r));
      r = await io(['read -P 0x5a 0 1M', 'read -P 0xa5 1M 4k', 'read -P 0x3c 2M 64k', 'read -P 0 3M 8k']);
      assert.equal(r.status, 0, describeRun(r));
      assert.doesNotMatch(r.stdout + r.stderr, /Pattern verification failed|error/i, describeRun(r));
    });
    assert.equal(taken, 0, 'bounce buffers taken');
    // And the bytes are in the file.
    const got = fs.readFileSync(file);
    assert.ok(got.subarray(0, 1024 * KiB).equals(Buffer.alloc(1024 * KiB, 0x5a)));
    assert.ok(got.subarray(1024 * KiB, 1028 * KiB).equals(Buffer.alloc(4 * KiB, 0xa5)));
    assert.ok(got.subarray(2048 * KiB, 2112 * KiB).equals(Buffer.alloc(64 * KiB, 0x3c)));
  });

  test('a write that is not aligned to the device still lands, through a bounce', async () => {
    const taken = await countBounces(async () => {
      const r = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x11 100 300', s.uri('d')]);
      assert.equal(r.status, 0, describeRun(r));
    });
    assert.ok(taken >= 1, `bounce buffers taken: ${taken}`);
    const b = Buffer.alloc(500);
    await image.read(0, b);
    assert.ok(b.subarray(100, 400).equals(Buffer.alloc(300, 0x11)));
    assert.ok(b.subarray(0, 100).equals(Buffer.alloc(100, 0x5a)));
    assert.ok(b.subarray(400).equals(Buffer.alloc(100, 0x5a)));
  });
});
