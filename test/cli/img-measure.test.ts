/**
 * `vdisk img measure` against `qemu-img measure` 7.2: the same output, byte for byte, in both
 * forms, for a matrix of sizes and qcow2 options, for empty images (--size) and for real ones
 * (raw and qcow2, with backing chains and zero clusters). Plus the qcow2 arithmetic itself at
 * the edges of the refcount fixed point.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fullyAllocatedSize, refcountMetadataSize } from '../../src/cli/measure-qcow2.js';
import { ok, oneLineError, qemuImg, qemuIo, tmpDir, vdisk } from './harness.js';

const SIZES = ['0', '512', '1M', '100M', '1000000000', '1G', '16T'];
const OPTION_SETS = [
  [],
  ['-o', 'cluster_size=512'],
  ['-o', 'cluster_size=4k,refcount_bits=1'],
  ['-o', 'cluster_size=2M,refcount_bits=64'],
  ['-o', 'compat=0.10'],
  ['-o', 'preallocation=metadata'],
  ['-o', 'preallocation=full,cluster_size=128k'],
  ['-o', 'refcount_bits=8,lazy_refcounts=on'],
  ['-o', 'extended_l2=on'],
  ['-o', 'extended_l2=on,cluster_size=2M'],
];

/** Runs the jobs, at most `width` at a time (each is a vdisk and a qemu-img process). */
async function limited(jobs: Array<() => Promise<void>>, width = 4): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) await jobs[next++]!();
  };
  await Promise.all(Array.from({ length: width }, lane));
}

async function same(dir: string, ...args: string[]): Promise<void> {
  const ours = await vdisk(dir, 'img', 'measure', ...args);
  const theirs = await qemuImg(dir, 'measure', ...args);
  if (theirs.code !== 0) {
    assert.notEqual(
      ours.code,
      0,
      `qemu-img fails (${theirs.stderr.trim()}), vdisk did not: ${args.join(' ')}`,
    );
    return;
  }
  assert.equal(ours.code, 0, `${args.join(' ')}: ${ours.stderr}`);
  assert.equal(ours.stdout, theirs.stdout, args.join(' '));
}

describe('vdisk img measure', { concurrency: true }, () => {
  const dir = tmpDir();

  test('--size: every size and option set, qcow2 and raw, human and json', async () => {
    const runs: Array<() => Promise<void>> = [];
    for (const size of SIZES) {
      runs.push(() => same(dir, '--size', size));
      for (const o of OPTION_SETS) {
        const output = runs.length % 2 ? '--output=json' : '--output=human';
        runs.push(() => same(dir, '-O', 'qcow2', ...o, '--size', size, output));
      }
    }
    await limited(runs);
  });

  test('FILE: raw and qcow2 inputs, chains, zero clusters, -o backing_file', async () => {
    ok(await qemuImg(dir, 'create', '-f', 'raw', 'in.raw', '100M'));
    ok(await qemuIo(dir, '-f', 'raw', '-c', 'write -P 1 1M 3M', '-c', 'write -P 2 50000 1000', 'in.raw'));
    ok(await qemuImg(dir, 'create', '-f', 'qcow2', '-o', 'cluster_size=4k', 'b.qcow2', '100M'));
    ok(await qemuIo(dir, '-c', 'write -P 1 0 10M', '-c', 'write -P 3 60M 65k', 'b.qcow2'));
    ok(await qemuImg(dir, 'create', '-f', 'qcow2', '-b', 'b.qcow2', '-F', 'qcow2', 't.qcow2', '120M'));
    ok(
      await qemuIo(
        dir,
        '-c',
        'write -z 0 5M',
        '-c',
        'write -P 4 110M 1M',
        '-c',
        'write -P 5 7000 1',
        't.qcow2',
      ),
    );
    const runs: Array<() => Promise<void>> = [];
    for (const file of ['in.raw', 'b.qcow2', 't.qcow2']) {
      runs.push(() => same(dir, file));
      runs.push(() => same(dir, '-O', 'raw', '--output=json', file));
      for (const o of OPTION_SETS.slice(0, 6)) {
        const output = runs.length % 2 ? '--output=json' : '--output=human';
        runs.push(() => same(dir, '-O', 'qcow2', ...o, output, file));
      }
      runs.push(() => same(dir, '-O', 'qcow2', '-o', 'backing_file=b.qcow2,backing_fmt=qcow2', file));
    }
    runs.push(() => same(dir, '-O', 'qcow2', '-f', 'raw', 't.qcow2'));
    await limited(runs);
  });

  test('the refcount fixed point, at sizes where one more block is needed', () => {
    // 64k clusters, 16-bit refcounts: one block counts 32768 clusters.
    assert.equal(refcountMetadataSize(32766, 65536, 16), 2 * 65536);
    assert.equal(refcountMetadataSize(32767, 65536, 16), 3 * 65536);
    assert.equal(refcountMetadataSize(0, 512, 1), 0);
    assert.equal(fullyAllocatedSize(1024 ** 3, 65536, 16), 1074135040); // qemu-img's number
  });

  test('bad arguments: one line and a non-zero exit', async () => {
    oneLineError(await vdisk(dir, 'img', 'measure'), /Either --size N or one filename/);
    oneLineError(await vdisk(dir, 'img', 'measure', '--size', '1G', 'x.img'), /cannot be used together/);
    oneLineError(
      await vdisk(dir, 'img', 'measure', '-O', 'qcow2', '-o', 'cluster_size=512', '--size', '100T'),
      /too large/,
    );
    oneLineError(await vdisk(dir, 'img', 'measure', '-O', 'qcow2', '-o', 'foo=1', '--size', '1G'), /foo/);
    oneLineError(await vdisk(dir, 'img', 'measure', '--size', '1X'), /invalid size '1X'/);
    oneLineError(await vdisk(dir, 'img', 'measure', 'nope.img'), /nope\.img/);
  });
});
