/**
 * The CLI's error contract: a bad argument, a missing file or a failed request gives exactly one
 * line `vdisk: message` on stderr and a non-zero exit, never a stack trace; --help works for
 * every command and lists them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeImage, ok, oneLineError, tmpDir, vdisk } from './harness.js';

describe('vdisk errors and help', { concurrency: true }, () => {
  const dir = tmpDir();

  test('bad sizes, formats and option strings', async () => {
    oneLineError(await vdisk(dir, 'img', 'create', 'a.raw', '12Q'), /invalid size '12Q'/);
    oneLineError(
      await vdisk(dir, 'img', 'create', '-f', 'vmdkx', 'b.img', '1M'),
      /unknown image format 'vmdkx'/,
    );
    oneLineError(await vdisk(dir, 'img', 'create', 'c.raw'), /size is required/);
    oneLineError(await vdisk(dir, 'img', 'create', '-o', 'foo=1', 'd.raw', '1M'), /foo/);
    oneLineError(await vdisk(dir, 'img', 'info', '--output=xml', 'a.raw'), /invalid output format 'xml'/);
  });

  test('missing files', async () => {
    for (const args of [
      ['img', 'info', 'nope.img'],
      ['img', 'check', 'nope.img'],
      ['io', '-c', 'read 0 512', 'nope.img'],
    ]) {
      oneLineError(await vdisk(dir, ...args), /nope\.img/, 1);
    }
    oneLineError(await vdisk(dir, 'img', 'compare', 'nope.img', 'nope2.img'), /nope\.img/, 2);
  });

  test('io: bad cache mode, out-of-range offsets, bad patterns, unknown commands', async () => {
    await makeImage(path.join(dir, 'io.raw'), 'raw', 1024 * 1024);
    oneLineError(await vdisk(dir, 'io', '--cache', 'fast', 'io.raw'), /invalid cache mode 'fast'/);
    oneLineError(await vdisk(dir, 'io', '-c', 'read 1M 1', 'io.raw'), /read failed: .*past the end/);
    oneLineError(await vdisk(dir, 'io', '-c', 'write -P 300 0 1', 'io.raw'), /300 is not a valid pattern/);
    oneLineError(await vdisk(dir, 'io', '-c', 'read 0 12x', 'io.raw'), /invalid length '12x'/);
    oneLineError(await vdisk(dir, 'io', '-c', 'read 0', 'io.raw'), /usage: read/);
    oneLineError(await vdisk(dir, 'io', '-c', 'frobnicate', 'io.raw'), /command "frobnicate" not found/);
    oneLineError(await vdisk(dir, 'io', '-U', '-c', 'flush', 'io.raw'), /read-only/);
  });

  test('commander usage errors are one line too', async () => {
    oneLineError(await vdisk(dir, 'img', 'info', '--bogus', 'x'), /unknown option '--bogus'/);
    oneLineError(await vdisk(dir, 'img', 'info'), /missing required argument 'file'/);
    oneLineError(await vdisk(dir, 'frobnicate'), /unknown command 'frobnicate'/);
    oneLineError(await vdisk(dir), /missing command: try 'vdisk --help'/);
    oneLineError(await vdisk(dir, 'img'), /missing command: try 'vdisk img --help'/);
    oneLineError(await vdisk(dir, 'io', '-c'), /argument missing/);
  });

  test('--help lists every command', async () => {
    const top = ok(await vdisk(dir, '--help'));
    for (const c of ['img', 'io']) assert.match(top.stdout, new RegExp(`\\n  ${c}\\b`));
    const img = ok(await vdisk(dir, 'img', '--help'));
    for (const c of ['create', 'info', 'check', 'map', 'compare', 'resize']) {
      assert.match(img.stdout, new RegExp(`\\n  ${c}\\b`));
    }
    const io = ok(await vdisk(dir, 'io', '--help'));
    for (const c of ['read', 'write', 'discard', 'flush', 'map', 'length']) {
      assert.match(io.stdout, new RegExp(`\\n  ${c}\\b`));
    }
    assert.match(ok(await vdisk(dir, 'img', 'create', '--help')).stdout, /--backing-format/);
    assert.match(ok(await vdisk(dir, '--version')).stdout, /^\d+\.\d+\.\d+\n$/);
  });
});
