/**
 * Runs of clusters that cross L2 tables not yet in the cache (ClusterMap.runEnd): with 512-byte
 * clusters an L2 table maps 32 KiB, so a 1 MiB run spans 32 tables, and a fresh open has none of
 * them cached. A read of the run must still go to the host file in one piece, and return every
 * byte as qemu-img sees it; block status must answer the run with one extent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { HostFile } from '../../src/block/index.js';
import { createImage, openImage } from '../../src/formats/index.js';
import { tmpDir } from '../helpers/tmp.js';
import { qemuImgOk, qemuIoOk, qemuMap, qemuRawBytes, skipWithoutQemu } from '../helpers/qemu.js';

const skip = skipWithoutQemu();
const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 4 * MiB;

/**
 * The host reads longer than one 512-byte cluster (so not L2 table loads) that `fn` makes, as
 * their lengths.
 */
async function dataReads<T>(fn: () => Promise<T>): Promise<{ result: T; reads: number[] }> {
  const reads: number[] = [];
  const pread = HostFile.prototype.pread;
  HostFile.prototype.pread = function (this: HostFile, offset: number, buf: Buffer) {
    if (buf.length > 512) reads.push(buf.length);
    return pread.call(this, offset, buf);
  };
  try {
    return { result: await fn(), reads };
  } finally {
    HostFile.prototype.pread = pread;
  }
}

/**
 * Opens `file` afresh (no L2 table cached), reads the first MiB and checks it against `qemu-img
 * convert`'s bytes, then gets the block status.
 */
async function readAndStatus(file: string, dir: string) {
  const img = await openImage(file, { readOnly: true });
  try {
    const { result: bytes, reads } = await dataReads(async () => {
      const b = Buffer.alloc(MiB);
      await img.read(0, b);
      return b;
    });
    const want = qemuRawBytes(file, path.join(dir, 'qemu.raw')).subarray(0, MiB);
    assert.ok(bytes.equals(want), 'the first MiB reads as qemu-img reads it');
    const status = await img.blockStatus(0, img.size);
    return { reads, status };
  } finally {
    await img.close();
  }
}

test(
  'a host-contiguous data run across 32 uncached L2 tables is one host read and one extent',
  { skip },
  async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'v.qcow2');
    await createImage(file, { format: 'qcow2', size: SIZE, options: { cluster_size: '512' } });
    const img = await openImage(file);
    try {
      await img.write(0, Buffer.alloc(MiB, 0x11));
    } finally {
      await img.close();
    }
    const map = qemuMap(file);
    // vdisk lays the data out host-contiguously: qemu-img sees one run too.
    assert.equal(map[0]!.length, MiB);
    assert.equal(map[0]!.data, true);
    const { status, reads } = await readAndStatus(file, dir);
    assert.deepEqual(reads, [MiB], 'one host read for the whole run');
    assert.deepEqual(
      { offset: status[0]!.offset, length: status[0]!.length, data: status[0]!.data },
      { offset: 0, length: MiB, data: true },
    );
    assert.equal(status[0]!.hostOffset, map[0]!.offset);
  },
);

test(
  'an unallocated run across 32 uncached L2 tables is one read of the backing file',
  { skip },
  async () => {
    const dir = tmpDir();
    const base = path.join(dir, 'base.raw');
    const file = path.join(dir, 'q.qcow2');
    qemuImgOk(['create', '-q', '-f', 'raw', base, String(SIZE)]);
    qemuIoOk(base, ['write -P 0x33 0 2M'], 'raw');
    qemuImgOk(['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512,compat=0.10', file, String(SIZE)]);
    // The tables stay after the discard; with no backing file and no zero flag (v2), their
    // entries become unallocated (with a backing file, qemu would not discard). The backing file
    // comes afterwards.
    qemuIoOk(file, ['write -P 0x11 0 1M', 'discard 0 1M', 'write -P 0x22 1M 512']);
    qemuImgOk(['rebase', '-q', '-u', '-b', 'base.raw', '-F', 'raw', file]);
    const map = qemuMap(file);
    assert.deepEqual(
      { start: map[0]!.start, length: map[0]!.length, depth: map[0]!.depth },
      { start: 0, length: MiB, depth: 1 },
    );
    const { status, reads } = await readAndStatus(file, dir);
    assert.deepEqual(reads, [MiB], 'one read of the backing file for the whole run');
    assert.deepEqual(
      { offset: status[0]!.offset, length: status[0]!.length, depth: status[0]!.depth },
      { offset: 0, length: MiB, depth: 1 },
    );
    assert.equal(status[1]!.offset, MiB);
    assert.equal(status[1]!.depth, 0);
  },
);
