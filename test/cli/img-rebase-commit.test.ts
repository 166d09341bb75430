/**
 * `vdisk img rebase` and `vdisk img commit` against qemu-img 7.2: after each, the images read
 * what they read before (checked with `qemu-img compare` against a flat copy made by qemu-img),
 * the header names the right backing file, and `qemu-img check` finds nothing wrong.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { json, ok, oneLineError, qemuImg, qemuIo, tmpDir, vdisk } from './harness.js';

interface MapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
}

async function qio(dir: string, file: string, ...cmds: string[]): Promise<void> {
  const r = await qemuIo(dir, '-f', 'qcow2', ...cmds.flatMap((c) => ['-c', c]), file);
  ok(r, `qemu-io ${cmds.join('; ')}`);
  assert.doesNotMatch(r.stdout + r.stderr, /failed|error/i);
}

async function identical(dir: string, a: string, b: string): Promise<void> {
  const r = await qemuImg(dir, 'compare', a, b);
  assert.equal(r.code, 0, `qemu-img compare ${a} ${b}: ${r.stdout}${r.stderr}`);
}

async function clean(dir: string, file: string): Promise<void> {
  const r = await qemuImg(dir, 'check', file);
  assert.equal(r.code, 0, `qemu-img check ${file}: ${r.stdout}${r.stderr}`);
}

async function info(dir: string, file: string): Promise<Record<string, unknown>> {
  return json(ok(await qemuImg(dir, 'info', '--output=json', file))) as Record<string, unknown>;
}

/**
 * A three-image chain `<p>-base <- <p>-mid <- <p>-top` (64 MiB, 1 MiB smaller base) with data,
 * zeroes and overwrites in every layer, and `<p>-ref.raw`: the top's contents, flat.
 */
async function chain(dir: string, p: string): Promise<void> {
  ok(await qemuImg(dir, 'create', '-f', 'qcow2', `${p}-base.qcow2`, '63M'));
  await qio(dir, `${p}-base.qcow2`, 'write -P 1 0 4M', 'write -P 2 10M 1M', 'write -P 3 62M 1M');
  ok(
    await qemuImg(
      dir,
      'create',
      '-f',
      'qcow2',
      '-b',
      `${p}-base.qcow2`,
      '-F',
      'qcow2',
      `${p}-mid.qcow2`,
      '64M',
    ),
  );
  await qio(dir, `${p}-mid.qcow2`, 'write -P 4 3M 2M', 'write -P 6 30M 64k', 'write -z 62M 512k');
  ok(await qemuImg(dir, 'create', '-f', 'qcow2', '-b', `${p}-mid.qcow2`, '-F', 'qcow2', `${p}-top.qcow2`));
  await qio(
    dir,
    `${p}-top.qcow2`,
    'write -P 3 1M 1M',
    'write -z 10M 512k',
    'write -P 5 20M 100k',
    'write -P 7 63M 4k',
  );
  ok(await qemuImg(dir, 'convert', '-O', 'raw', `${p}-top.qcow2`, `${p}-ref.raw`));
}

describe('vdisk img rebase', { concurrency: true }, () => {
  const dir = tmpDir();

  test('-u only rewrites the header', async () => {
    await chain(dir, 'u');
    fs.copyFileSync(path.join(dir, 'u-base.qcow2'), path.join(dir, 'u-moved.qcow2'));
    ok(await vdisk(dir, 'img', 'rebase', '-u', '-b', 'u-moved.qcow2', '-F', 'qcow2', 'u-mid.qcow2'));
    const i = await info(dir, 'u-mid.qcow2');
    assert.equal(i['backing-filename'], 'u-moved.qcow2');
    assert.equal(i['backing-filename-format'], 'qcow2');
    await identical(dir, 'u-ref.raw', 'u-top.qcow2');
    await clean(dir, 'u-mid.qcow2');
    ok(await vdisk(dir, 'img', 'rebase', '-u', '-b', '', 'u-mid.qcow2'));
    assert.equal((await info(dir, 'u-mid.qcow2'))['backing-filename'], undefined);
  });

  test('safe rebase onto a deeper base, another image, or nothing keeps the contents', async () => {
    await chain(dir, 's');
    ok(await qemuImg(dir, 'create', '-f', 'qcow2', 'other.qcow2', '64M'));
    await qio(dir, 'other.qcow2', 'write -P 8 0 40M', 'write -P 0 5M 1M');
    for (const [name, backing] of [
      ['s1', 's-base.qcow2'],
      ['s2', 'other.qcow2'],
      ['s3', ''],
    ] as const) {
      fs.copyFileSync(path.join(dir, 's-top.qcow2'), path.join(dir, `${name}.qcow2`));
      const args = backing ? ['-b', backing, '-F', 'qcow2'] : ['-b', ''];
      ok(await vdisk(dir, 'img', 'rebase', ...args, `${name}.qcow2`), `rebase onto '${backing}'`);
      const i = await info(dir, `${name}.qcow2`);
      assert.equal(i['backing-filename'], backing || undefined);
      await identical(dir, 's-ref.raw', `${name}.qcow2`);
      await clean(dir, `${name}.qcow2`);
    }
  });

  test('bad arguments: one line and a non-zero exit', async () => {
    await chain(dir, 'e');
    oneLineError(await vdisk(dir, 'img', 'rebase', 'e-top.qcow2'), /Must specify backing file \(-b\)/);
    oneLineError(
      await vdisk(dir, 'img', 'rebase', '-b', 'e-base.qcow2', 'e-top.qcow2'),
      /backing format must be specified/,
    );
    oneLineError(
      await vdisk(dir, 'img', 'rebase', '-b', 'nope.qcow2', '-F', 'qcow2', 'e-top.qcow2'),
      /Could not open new backing file .*nope\.qcow2/,
    );
    oneLineError(await vdisk(dir, 'img', 'rebase', '-u', '-b', 'x', '-F', 'raw', 'e-ref.raw'), /'raw'/);
    await identical(dir, 'e-ref.raw', 'e-top.qcow2');
  });
});

describe('vdisk img commit', { concurrency: true }, () => {
  const dir = tmpDir();

  test('commit writes the top into its backing file and empties the top', async () => {
    await chain(dir, 'c');
    const r = ok(await vdisk(dir, 'img', 'commit', 'c-top.qcow2'));
    assert.equal(r.stdout, 'Image committed.\n');
    await identical(dir, 'c-ref.raw', 'c-mid.qcow2');
    await identical(dir, 'c-ref.raw', 'c-top.qcow2');
    const m = json(ok(await qemuImg(dir, 'map', '--output=json', 'c-top.qcow2'))) as MapEntry[];
    assert.ok(
      m.every((e) => e.depth > 0),
      'nothing is left allocated in the top',
    );
    await clean(dir, 'c-top.qcow2');
    await clean(dir, 'c-mid.qcow2');
  });

  test('-d keeps the top; -b commits further down (and keeps the top)', async () => {
    await chain(dir, 'd');
    ok(await vdisk(dir, 'img', 'commit', '-d', 'd-top.qcow2'));
    await identical(dir, 'd-ref.raw', 'd-mid.qcow2');
    const m = json(ok(await qemuImg(dir, 'map', '--output=json', 'd-top.qcow2'))) as MapEntry[];
    assert.ok(m.some((e) => e.depth === 0 && e.present));

    await chain(dir, 'b');
    ok(await vdisk(dir, 'img', 'commit', '-b', 'b-base.qcow2', 'b-top.qcow2'));
    const base = await info(dir, 'b-base.qcow2');
    assert.equal(base['virtual-size'], 64 * 1024 * 1024, 'the smaller base grew to the top size');
    await identical(dir, 'b-ref.raw', 'b-base.qcow2');
    await identical(dir, 'b-ref.raw', 'b-top.qcow2');
    await clean(dir, 'b-base.qcow2');
  });

  test('bad arguments: one line and a non-zero exit', async () => {
    await chain(dir, 'x');
    oneLineError(await vdisk(dir, 'img', 'commit', 'x-base.qcow2'), /does not have a backing file/);
    oneLineError(await vdisk(dir, 'img', 'commit', '-b', 'nope', 'x-top.qcow2'), /Did not find 'nope'/);
    oneLineError(await vdisk(dir, 'img', 'commit', 'nope.qcow2'), /nope\.qcow2/);
    await identical(dir, 'x-ref.raw', 'x-top.qcow2');
  });
});
