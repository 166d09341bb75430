/**
 * QEMU's iscsi:// driver (libiscsi inside qemu-img and qemu-io) against `vdisk iscsi serve`:
 *
 * - qemu-img convert into iscsi:// LUNs backed by raw and qcow2 images, from qcow2 and raw
 *   sources with data and holes, and back out of iscsi:// into local files; qemu-img compare
 *   finds every copy equal to its source;
 * - qemu-img map over iscsi:// (GET LBA STATUS) agrees with what vdisk itself reports for the
 *   image (vdisk img map, once the server stopped), as data and zero ranges;
 * - qemu-io: a FUA write (write -f), write zeroes with and without unmap (write -z, write -z -u)
 *   and discard, each read back through iSCSI and, after the server stopped, from the file.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pattern, qemuImgOk, qemuIoOk } from '../helpers/qemu.js';
import { tmpDir } from '../helpers/tmp.js';
import { describeRun, run, skipWithoutIscsiPeers } from '../helpers/iscsi.js';
import { REPO_ROOT, startVdiskIscsi, type IscsiLun, type IscsiTarget } from '../helpers/iscsi-targets.js';
import fs from 'node:fs';

const MiB = 1024 * 1024;
const skip = await skipWithoutIscsiPeers(['qemu-img', 'qemu-io']);

async function ok(cmd: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const r = await run(cmd, args, timeoutMs);
  assert.equal(r.status, 0, describeRun(r));
  return r.stdout;
}

interface Extent {
  start: number;
  length: number;
  data: boolean;
  zero: boolean;
}

/** A map as data/zero ranges, adjacent ranges of the same kind merged. */
function ranges(json: string): Extent[] {
  const out: Extent[] = [];
  for (const e of JSON.parse(json) as Extent[]) {
    const last = out.at(-1);
    if (last && last.data === e.data && last.zero === e.zero && last.start + last.length === e.start) {
      last.length += e.length;
    } else out.push({ start: e.start, length: e.length, data: e.data, zero: e.zero });
  }
  return out;
}

/** A qcow2 source: patterned data at 0 and 5 MiB, zeroes written at 9 MiB, holes elsewhere. */
function makeSource(dir: string): string {
  const raw = path.join(dir, 'source-build.raw');
  const buf = Buffer.alloc(16 * MiB);
  pattern(MiB, 1).copy(buf, 0);
  pattern(2 * MiB, 2).copy(buf, 5 * MiB);
  fs.writeFileSync(raw, buf);
  const qcow2 = path.join(dir, 'source.qcow2');
  qemuImgOk(['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
  qemuIoOk(qcow2, ['write -z 9M 1M'], 'qcow2');
  fs.rmSync(raw);
  return qcow2;
}

async function serve(luns: IscsiLun[]): Promise<IscsiTarget> {
  return startVdiskIscsi({ luns, iqn: 'iqn.2026-11.org.vdisk.test:qemu' });
}

describe('qemu-img over iscsi:// against vdisk', { skip }, async () => {
  if (skip) return;
  const dir = tmpDir('vdisk-iscsi-qemu-');
  const source = makeSource(dir);
  const rawSource = path.join(dir, 'source.raw');
  qemuImgOk(['convert', '-f', 'qcow2', '-O', 'raw', source, rawSource]);

  for (const format of ['raw', 'qcow2'] as const) {
    test(`convert qcow2 and raw sources into a ${format}-backed LUN, compare, convert back out`, async () => {
      const lunFile = path.join(dir, `lun.${format}`);
      qemuImgOk(['create', '-q', '-f', format, lunFile, '16M']);
      const t = await serve([{ file: lunFile, format, options: ['discard=on'] }]);
      try {
        const url = t.url(0);
        await ok('qemu-img', ['convert', '-n', '-f', 'qcow2', '-O', 'raw', source, url]);
        await ok('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', source, url]);
        // Out of iSCSI into both local formats.
        for (const out of ['qcow2', 'raw']) {
          const copy = path.join(dir, `copy-${format}.${out}`);
          await ok('qemu-img', ['convert', '-f', 'raw', '-O', out, url, copy]);
          await ok('qemu-img', ['compare', '-f', 'qcow2', '-F', out, source, copy]);
        }
        // A raw source over what is there, then compare again.
        await ok('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', rawSource, url]);
        await ok('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', rawSource, url]);
        // A different source is not equal: compare really compares through iSCSI.
        const other = path.join(dir, 'other.raw');
        fs.writeFileSync(other, Buffer.alloc(16 * MiB, 1));
        const diff = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', other, url], 60_000);
        assert.equal(diff.status, 1, describeRun(diff));
      } finally {
        await t.stop();
      }
      // The image itself holds the source's bytes.
      await ok('qemu-img', ['compare', '-f', 'qcow2', '-F', format, source, lunFile]);
    });

    test(`qemu-img map over iscsi:// agrees with vdisk img map on a ${format} image`, async () => {
      const lunFile = path.join(dir, `map.${format}`);
      qemuImgOk(['create', '-q', '-f', format, lunFile, '16M']);
      const t = await serve([{ file: lunFile, format, options: ['discard=on'] }]);
      let overIscsi: Extent[];
      try {
        const url = t.url(0);
        qemuIoOk(
          url,
          [
            'write -P 0x11 1M 1M',
            'write -P 0x22 4M 64k',
            'write -z -u 6M 1M',
            'write -P 0x33 8M 2M',
            'discard 8M 1M',
          ],
          'raw',
        );
        overIscsi = ranges(await ok('qemu-img', ['map', '-f', 'raw', '--output=json', url]));
      } finally {
        await t.stop();
      }
      const vdisk = ranges(
        await ok(process.execPath, [
          path.join(REPO_ROOT, 'bin', 'vdisk.js'),
          'img',
          'map',
          '-f',
          format,
          '--output=json',
          lunFile,
        ]),
      );
      assert.deepEqual(overIscsi, vdisk);
      // And both say what was written: data at 1 MiB, 4 MiB and 9 MiB, zeroes elsewhere.
      const dataAt = (off: number): boolean =>
        overIscsi.some((e) => e.data && e.start <= off && off < e.start + e.length);
      for (const off of [1 * MiB, 4 * MiB, 9 * MiB]) assert.ok(dataAt(off), `data at ${off}`);
      // (Not offset 0: qemu-img create allocates a raw file's first 4 KiB for its alignment probe.)
      for (const off of [64 * 1024, 3 * MiB, 6 * MiB, 8 * MiB, 12 * MiB]) {
        assert.ok(!dataAt(off), `no data at ${off}`);
      }
    });
  }
});

describe('qemu-io over iscsi:// against vdisk: FUA, write zeroes, discard', { skip }, async () => {
  if (skip) return;
  const dir = tmpDir('vdisk-iscsi-qemu-io-');

  for (const format of ['raw', 'qcow2'] as const) {
    test(`FUA writes, write zeroes with and without unmap, discard on a ${format} LUN`, async () => {
      const file = path.join(dir, `io.${format}`);
      qemuImgOk(['create', '-q', '-f', format, file, '8M']);
      const t = await serve([{ file, format, options: ['discard=on', 'cache=writeback'] }]);
      const url = t.url(0);
      try {
        qemuIoOk(
          url,
          [
            'write -f -P 0xa1 0 64k',
            'write -f -P 0xa2 1M 512k',
            'write -P 0xa3 2M 1M',
            'write -P 0xa4 4M 1M',
          ],
          'raw',
        );
        qemuIoOk(url, ['write -z 2M 256k', 'write -z -u 4M 512k', 'discard 1M 512k'], 'raw');
        qemuIoOk(
          url,
          [
            'read -P 0xa1 0 64k',
            'read -P 0 1M 512k', // discarded with LBPRZ: reads zeroes
            'read -P 0 2M 256k',
            'read -P 0xa3 2304k 768k',
            'read -P 0 4M 512k',
            'read -P 0xa4 4608k 512k',
            'read -P 0 6M 2M',
          ],
          'raw',
        );
      } finally {
        await t.stop();
      }
      // The same bytes in the image, read without vdisk.
      qemuIoOk(
        file,
        [
          'read -P 0xa1 0 64k',
          'read -P 0 1M 512k',
          'read -P 0 2M 256k',
          'read -P 0xa3 2304k 768k',
          'read -P 0 4M 512k',
          'read -P 0xa4 4608k 512k',
        ],
        format,
      );
    });
  }
});
