/**
 * EXTENDED COPY against a real peer: QEMU's iscsi driver offloads `qemu-img convert -C` between two
 * iSCSI LUNs of one target to EXTENDED COPY (LID1): one identification CSCD descriptor per LUN (the
 * NAA designator it read from VPD 83h) and one block to block segment per 16 MiB request. The test
 * serves two raw images with `vdisk iscsi serve`, copies one LUN onto the other with copy
 * offloading, and checks from QEMU's own trace (`iscsi_xcopy ... ret 0`) that every byte went
 * through EXTENDED COPY rather than QEMU's read/write fallback, and that the files are equal.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { serveVdiskIscsi, skipWithoutIscsiPeers, run } from '../../helpers/iscsi.js';
import { tmpDir } from '../../helpers/tmp.js';

const SIZE = 48 * 1024 * 1024;

const skip = await skipWithoutIscsiPeers(['qemu-img']);

test('qemu-img convert -C between two LUNs is carried out by EXTENDED COPY', { skip }, async (t) => {
  const dir = tmpDir('vdisk-xcopy-');
  const a = path.join(dir, 'a.raw');
  const b = path.join(dir, 'b.raw');
  const data = randomBytes(SIZE);
  data.fill(0, 8 * 1024 * 1024, 20 * 1024 * 1024); // a zero run in the middle
  fs.writeFileSync(a, data);
  fs.writeFileSync(b, Buffer.alloc(0));
  fs.truncateSync(b, SIZE);
  const target = await serveVdiskIscsi({
    luns: [
      { file: a, format: 'raw' },
      { file: b, format: 'raw' },
    ],
  });
  const t0 = Date.now();
  const r = await run(
    'qemu-img',
    ['--trace', 'iscsi_xcopy', 'convert', '-C', '-n', '-f', 'raw', '-O', 'raw', target.url(0), target.url(1)],
    60_000,
  );
  const ms = Date.now() - t0;
  assert.equal(r.status, 0, `${r.cmd}\n${r.stderr}`);
  const calls = [...`${r.stdout}\n${r.stderr}`.matchAll(/iscsi_xcopy .* bytes (\d+) ret (-?\d+)/g)];
  assert.ok(calls.length > 0, `QEMU traced no EXTENDED COPY:\n${r.stderr}`);
  assert.ok(
    calls.every((m) => m[2] === '0'),
    `every EXTENDED COPY succeeded:\n${r.stderr}`,
  );
  assert.equal(
    calls.reduce((n, m) => n + Number(m[1]), 0),
    SIZE,
    'the whole LUN went through EXTENDED COPY',
  );
  assert.ok(fs.readFileSync(b).equals(data), 'the destination image equals the source');
  t.diagnostic(
    `${calls.length} EXTENDED COPY commands, ${SIZE / 1024 / 1024} MiB in ${ms} ms (qemu-img included)`,
  );
});
