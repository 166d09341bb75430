/**
 * fio's nbd engine (libnbd underneath) against the server, briefly: random 4 KiB writes at queue
 * depth 16 with a crc32c of every block, then fio reads them all back and checks the sums, on a
 * qcow2 image; then a one-second random read and write mix at queue depth 32. Any I/O error,
 * verification failure or lost reply fails fio (or its timeout).
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openImage } from '../../src/formats/index.js';
import { qemuImgOk } from '../helpers/qemu.js';
import { tmpDir } from '../helpers/tmp.js';
import { describeRun, run, serve, skipWithout } from './helpers.js';

const skip = (await skipWithout('fio', 'qemu-img')) || (await fioHasNbd());

async function fioHasNbd(): Promise<string | false> {
  const r = await run('fio', ['--enghelp']);
  return /\bnbd\b/.test(r.stdout) ? false : 'this fio has no nbd engine';
}

describe('fio nbd engine', { skip }, async () => {
  if (skip) return;
  const dir = tmpDir('vdisk-nbd-fio-');
  const img = path.join(dir, 'fio.qcow2');
  qemuImgOk(['create', '-q', '-f', 'qcow2', img, '64M']);
  const dev = await openImage(img);
  after(() => dev.close());
  const s = await serve([{ name: 'fio', device: dev }]);
  const fio = (args: string[]) =>
    run(
      'fio',
      ['--name=smoke', '--ioengine=nbd', `--uri=${s.uri()}`, '--output-format=terse', ...args],
      60_000,
      dir,
    );

  test('random writes verified with crc32c', async () => {
    const r = await fio([
      '--rw=randwrite',
      '--bs=4k',
      '--iodepth=16',
      '--size=8M',
      '--verify=crc32c',
      '--do_verify=1',
      '--verify_state_save=0',
    ]);
    assert.equal(r.status, 0, describeRun(r));
    assert.doesNotMatch(r.stderr, /verify|error/i, describeRun(r));
  });

  test('one second of mixed random I/O at queue depth 32', async () => {
    const r = await fio([
      '--rw=randrw',
      '--bs=4k',
      '--iodepth=32',
      '--size=32M',
      '--time_based',
      '--runtime=1',
    ]);
    assert.equal(r.status, 0, describeRun(r));
    const f = r.stdout.trim().split(';');
    // terse v3: field 8 is read IOPS, field 49 write IOPS.
    assert.ok(Number(f[7]) > 0 && Number(f[48]) > 0, `no I/O done: ${r.stdout}`);
  });
});
