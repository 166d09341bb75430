/**
 * `vdisk img amend` and `vdisk img snapshot` against qemu-img 7.2: amended images are what
 * `qemu-img info` says they are, with their data intact and `qemu-img check` clean; snapshots
 * made by either tool are listed identically by both (qemu-img's table, byte for byte), applied
 * and deleted by the other.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { json, ok, oneLineError, qemuImg, qemuIo, tmpDir, vdisk } from './harness.js';

async function qio(dir: string, file: string, ...cmds: string[]): Promise<void> {
  const r = await qemuIo(dir, '-f', 'qcow2', ...cmds.flatMap((c) => ['-c', c]), file);
  ok(r, `qemu-io ${cmds.join('; ')}`);
  assert.doesNotMatch(r.stdout + r.stderr, /failed|error/i, `${cmds.join('; ')}: ${r.stdout}`);
}

async function clean(dir: string, file: string): Promise<void> {
  const r = await qemuImg(dir, 'check', file);
  assert.equal(r.code, 0, `qemu-img check ${file}: ${r.stdout}${r.stderr}`);
}

async function specific(dir: string, file: string): Promise<Record<string, unknown>> {
  const i = json(ok(await qemuImg(dir, 'info', '--output=json', file))) as {
    'format-specific': { data: Record<string, unknown> };
  };
  return i['format-specific'].data;
}

describe('vdisk img amend', { concurrency: true }, () => {
  const dir = tmpDir();

  test('compat downgrade and upgrade, lazy refcounts on and off', async () => {
    ok(await qemuImg(dir, 'create', '-f', 'qcow2', 'base.qcow2', '16M'));
    await qio(dir, 'base.qcow2', 'write -P 1 0 4M');
    ok(await qemuImg(dir, 'create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'a.qcow2'));
    await qio(dir, 'a.qcow2', 'write -P 2 1M 1M', 'write -z 2M 1M', 'write -z 8M 1M');
    const verify = (): Promise<void> =>
      qio(
        dir,
        'a.qcow2',
        'read -P 1 0 1M',
        'read -P 2 1M 1M',
        'read -P 0 2M 1M',
        'read -P 1 3M 1M',
        'read -P 0 8M 8M',
      );

    ok(await vdisk(dir, 'img', 'amend', '-o', 'compat=0.10', 'a.qcow2'));
    assert.equal((await specific(dir, 'a.qcow2'))['compat'], '0.10');
    await clean(dir, 'a.qcow2');
    await verify();

    ok(await vdisk(dir, 'img', 'amend', '-f', 'qcow2', '-o', 'compat=1.1,lazy_refcounts=on', 'a.qcow2'));
    let s = await specific(dir, 'a.qcow2');
    assert.equal(s['compat'], '1.1');
    assert.equal(s['lazy-refcounts'], true);
    await clean(dir, 'a.qcow2');
    await verify();

    ok(await vdisk(dir, 'img', 'amend', '-o', 'lazy_refcounts=off', 'a.qcow2'));
    s = await specific(dir, 'a.qcow2');
    assert.equal(s['lazy-refcounts'], false);
    await clean(dir, 'a.qcow2');
    await verify();
  });

  test('bad arguments: one line and a non-zero exit', async () => {
    ok(await qemuImg(dir, 'create', '-f', 'qcow2', 'e.qcow2', '1M'));
    ok(await qemuImg(dir, 'create', '-f', 'raw', 'e.raw', '1M'));
    oneLineError(await vdisk(dir, 'img', 'amend', 'e.qcow2'), /Must specify options \(-o\)/);
    oneLineError(await vdisk(dir, 'img', 'amend', '-o', 'cluster_size=4k', 'e.qcow2'), /cluster_size/);
    oneLineError(await vdisk(dir, 'img', 'amend', '-o', 'compat=2', 'e.qcow2'), /compat/);
    oneLineError(
      await vdisk(dir, 'img', 'amend', '-f', 'raw', '-o', 'compat=1.1', 'e.raw'),
      /Format driver 'raw' does not support option amendment/,
    );
  });
});

describe('vdisk img snapshot', { concurrency: true }, () => {
  const dir = tmpDir();

  test('create, list, apply and delete, interleaved with qemu-img snapshot', async () => {
    ok(await qemuImg(dir, 'create', '-f', 'qcow2', 's.qcow2', '16M'));
    await qio(dir, 's.qcow2', 'write -P 1 0 1M');
    ok(await vdisk(dir, 'img', 'snapshot', '-c', 'ours', 's.qcow2'));
    await qio(dir, 's.qcow2', 'write -P 2 0 1M');
    ok(await qemuImg(dir, 'snapshot', '-c', 'theirs', 's.qcow2'));
    await qio(dir, 's.qcow2', 'write -P 3 0 1M');

    const ours = ok(await vdisk(dir, 'img', 'snapshot', '-l', 's.qcow2'));
    const theirs = ok(await qemuImg(dir, 'snapshot', '-l', 's.qcow2'));
    assert.equal(ours.stdout, theirs.stdout);
    assert.match(
      ours.stdout,
      /^Snapshot list:\nID {8}TAG {15}VM SIZE {16}DATE {5}VM CLOCK {5}ICOUNT\n1 {9}ours /,
    );

    ok(await vdisk(dir, 'img', 'snapshot', '-a', 'theirs', 's.qcow2'));
    await qio(dir, 's.qcow2', 'read -P 2 0 1M');
    ok(await qemuImg(dir, 'snapshot', '-a', 'ours', 's.qcow2'));
    await qio(dir, 's.qcow2', 'read -P 1 0 1M');
    ok(await vdisk(dir, 'img', 'snapshot', '-a', '2', 's.qcow2'), 'apply by ID');
    await qio(dir, 's.qcow2', 'read -P 2 0 1M');
    await clean(dir, 's.qcow2');

    ok(await vdisk(dir, 'img', 'snapshot', '-d', 'theirs', 's.qcow2'));
    ok(await qemuImg(dir, 'snapshot', '-d', 'ours', 's.qcow2'));
    assert.equal(ok(await vdisk(dir, 'img', 'snapshot', '-l', 's.qcow2')).stdout, '');
    assert.equal(ok(await qemuImg(dir, 'snapshot', '-l', 's.qcow2')).stdout, '');
    await clean(dir, 's.qcow2');
    await qio(dir, 's.qcow2', 'read -P 2 0 1M');
  });

  test('bad arguments and missing snapshots: one line and a non-zero exit', async () => {
    ok(await qemuImg(dir, 'create', '-f', 'qcow2', 'e.qcow2', '1M'));
    ok(await qemuImg(dir, 'create', '-f', 'raw', 'e.raw', '1M'));
    oneLineError(await vdisk(dir, 'img', 'snapshot', '-l', '-c', 'x', 'e.qcow2'), /Cannot mix/);
    oneLineError(await vdisk(dir, 'img', 'snapshot', 'e.qcow2'), /missing action/);
    oneLineError(
      await vdisk(dir, 'img', 'snapshot', '-a', 'nope', 'e.qcow2'),
      /Could not apply snapshot 'nope'/,
    );
    oneLineError(
      await vdisk(dir, 'img', 'snapshot', '-d', 'nope', 'e.qcow2'),
      /Could not delete snapshot 'nope'/,
    );
    oneLineError(
      await vdisk(dir, 'img', 'snapshot', '-f', 'raw', '-c', 'x', 'e.raw'),
      /Could not create snapshot 'x'/,
    );
    assert.equal(ok(await vdisk(dir, 'img', 'snapshot', '-f', 'raw', '-l', 'e.raw')).stdout, '');
  });
});
