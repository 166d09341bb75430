/**
 * libnbd's tools against the server, on a qcow2 overlay over a qcow2 base (so allocation depth
 * has three values) and a sparse raw image:
 *
 * - nbdinfo --list, --json, --map and --map=qemu:allocation-depth report what qemu-img says about
 *   the same files;
 * - nbdcopy copies into and out of the server, with 1 and 4 connections, and the holes of the
 *   source stay holes in the export's file and in the copy.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openImage, type Image } from '../../src/formats/index.js';
import { pattern, qemuImgOk, qemuIoOk } from '../helpers/qemu.js';
import { tmpDir } from '../helpers/tmp.js';
import { describeRun, run, serve, skipWithout } from './helpers.js';

const MiB = 1024 * 1024;

interface MapEntry {
  offset: number;
  length: number;
  type: number;
  description: string;
}

const skip = await skipWithout('nbdinfo', 'nbdcopy', 'qemu-img', 'qemu-io');

describe('libnbd tools against vdisk nbd', { skip }, async () => {
  if (skip) return;
  const dir = tmpDir('vdisk-nbd-libnbd-');
  const base = path.join(dir, 'base.qcow2');
  const overlay = path.join(dir, 'overlay.qcow2');
  const rawFile = path.join(dir, 'target.raw');
  qemuImgOk(['create', '-q', '-f', 'qcow2', base, '64M']);
  qemuIoOk(base, ['write -P 0x11 0 1M', 'write -P 0x33 2560k 1M']);
  qemuImgOk(['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay]);
  qemuIoOk(overlay, ['write -P 0x22 2M 1M']);
  fs.writeFileSync(rawFile, '');
  fs.truncateSync(rawFile, 16 * MiB);
  const images: Image[] = [await openImage(overlay), await openImage(rawFile)];
  after(async () => {
    for (const i of images) await i.close();
  });
  const s = await serve([
    { name: 'overlay', description: 'an overlay', device: images[0]! },
    { name: 'raw', device: images[1]!, discard: 'unmap' },
  ]);

  const json = async <T>(args: string[]): Promise<T> => {
    const r = await run('nbdinfo', args);
    assert.equal(r.status, 0, describeRun(r));
    return JSON.parse(r.stdout) as T;
  };

  test('nbdinfo --list --json names both exports with their descriptions', async () => {
    const list = await json<{ exports: { 'export-name': string; description?: string }[] }>([
      '--list',
      '--json',
      s.uri(''),
    ]);
    assert.deepEqual(
      list.exports.map((e) => [e['export-name'], e.description]),
      [
        ['overlay', 'an overlay'],
        ['raw', undefined],
      ],
    );
  });

  test('nbdinfo --json shows the export flags derived from the device', async () => {
    const info = await json<{ exports: Record<string, unknown>[] }>(['--json', s.uri('overlay')]);
    const e = info.exports[0]!;
    assert.equal(e['export-size'], 64 * MiB);
    assert.deepEqual(e['contexts'], ['base:allocation', 'qemu:allocation-depth']);
    for (const k of [
      'can_multi_conn',
      'can_flush',
      'can_fua',
      'can_zero',
      'can_fast_zero',
      'can_df',
      'can_cache',
    ]) {
      assert.equal(e[k], true, k);
    }
    assert.equal(e['can_trim'], false, 'discard=ignore by default');
    assert.equal(e['is_read_only'], false);
    assert.equal(e['block_size_preferred'], 65536, 'the cluster size');
    const raw = (await json<{ exports: Record<string, unknown>[] }>(['--json', s.uri('raw')])).exports[0]!;
    assert.equal(raw['can_trim'], true);
  });

  test('nbdinfo --map: data and holes through the backing chain', async () => {
    const map = await json<MapEntry[]>(['--map', '--json', s.uri('overlay')]);
    assert.deepEqual(
      map.map((m) => [m.offset, m.length, m.description]),
      [
        [0, MiB, 'data'],
        [MiB, MiB, 'hole,zero'],
        [2 * MiB, 1.5 * MiB, 'data'],
        [3.5 * MiB, 60.5 * MiB, 'hole,zero'],
      ],
    );
  });

  test('nbdinfo --map=qemu:allocation-depth: 1 for the overlay, 2 for its backing file, 0 absent', async () => {
    const map = await json<MapEntry[]>(['--map=qemu:allocation-depth', '--json', s.uri('overlay')]);
    assert.deepEqual(
      map.map((m) => [m.offset, m.length, m.type]),
      [
        [0, MiB, 2],
        [MiB, MiB, 0],
        [2 * MiB, MiB, 1],
        [3 * MiB, 0.5 * MiB, 2],
        [3.5 * MiB, 60.5 * MiB, 0],
      ],
    );
  });

  test('nbdcopy into and out of the server keeps holes holes', async () => {
    const src = path.join(dir, 'src.raw');
    fs.writeFileSync(src, '');
    fs.truncateSync(src, 16 * MiB);
    const fd = fs.openSync(src, 'r+');
    fs.writeSync(fd, pattern(MiB, 1), 0, MiB, 0);
    fs.writeSync(fd, pattern(MiB, 2), 0, MiB, 8 * MiB);
    fs.closeSync(fd);
    let r = await run('nbdcopy', ['--flush', src, s.uri('raw')]);
    assert.equal(r.status, 0, describeRun(r));
    assert.ok(
      fs.statSync(rawFile).blocks * 512 <= 3 * MiB,
      `export file holds ${fs.statSync(rawFile).blocks * 512}`,
    );
    const back = path.join(dir, 'back.raw');
    r = await run('nbdcopy', [s.uri('raw'), back]);
    assert.equal(r.status, 0, describeRun(r));
    assert.deepEqual(fs.readFileSync(back), fs.readFileSync(src));
    assert.ok(fs.statSync(back).blocks * 512 <= 3 * MiB, 'the copy is sparse');
  });

  test('nbdcopy --connections=4 both ways', async () => {
    const out = path.join(dir, 'overlay-copy.raw');
    let r = await run('nbdcopy', ['--connections=4', '--requests=16', s.uri('overlay'), out]);
    assert.equal(r.status, 0, describeRun(r));
    qemuImgOk(['compare', '-U', '-f', 'qcow2', '-F', 'raw', overlay, out]);
    const src = path.join(dir, 'random.raw');
    fs.writeFileSync(src, pattern(16 * MiB, 9));
    r = await run('nbdcopy', ['--connections=4', '--flush', src, s.uri('raw')]);
    assert.equal(r.status, 0, describeRun(r));
    const check = path.join(dir, 'random-back.raw');
    r = await run('nbdcopy', ['--connections=4', s.uri('raw'), check]);
    assert.equal(r.status, 0, describeRun(r));
    assert.ok(fs.readFileSync(check).equals(fs.readFileSync(src)));
  });
});
