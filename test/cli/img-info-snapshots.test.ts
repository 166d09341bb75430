/**
 * `vdisk img info` on images with internal snapshots prints exactly what qemu-img info prints,
 * in both output forms, for an image and for its backing chain.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ok, qemuImg, tmpDir, vdisk } from './harness.js';

test('img info lists internal snapshots exactly as qemu-img info does', async () => {
  const dir = tmpDir();
  ok(await qemuImg(dir, 'create', '-q', '-f', 'qcow2', 'base.qcow2', '8M'));
  ok(await qemuImg(dir, 'snapshot', '-c', 'by-qemu', 'base.qcow2'));
  ok(await vdisk(dir, 'img', 'snapshot', '-c', 'by-vdisk', 'base.qcow2'));
  ok(await qemuImg(dir, 'create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'));
  for (const args of [
    ['base.qcow2'],
    ['--output=json', 'base.qcow2'],
    ['--output=json', '--backing-chain', 'top.qcow2'],
  ]) {
    const theirs = ok(await qemuImg(dir, 'info', ...args));
    const ours = ok(await vdisk(dir, 'img', 'info', ...args));
    assert.equal(ours.stdout, theirs.stdout, `img info ${args.join(' ')}`);
  }
  assert.match(
    ok(await vdisk(dir, 'img', 'info', 'base.qcow2')).stdout,
    /Snapshot list:[\s\S]*by-qemu[\s\S]*by-vdisk/,
  );
});
