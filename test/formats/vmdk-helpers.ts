/**
 * Shared by the vmdk interop tests: a patterned raw source (data, explicit zeroes, holes, a grain
 * table boundary, a partial last grain), whole-image reads, sequential writes in odd pieces, and
 * block status normalised for comparison with `qemu-img map`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Extent } from '../../src/block/index.js';
import type { Image } from '../../src/formats/index.js';
import { pattern, qemuImgJson } from '../helpers/qemu.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const SUBFORMATS = [
  'monolithicSparse',
  'monolithicFlat',
  'twoGbMaxExtentSparse',
  'twoGbMaxExtentFlat',
  'streamOptimized',
] as const;

/** 40 MiB + 3 sectors: data, explicit zeroes, holes, a grain table boundary, a partial last grain. */
export const SIZE = 40 * MiB + 1536;

export function sourceRaw(dir: string): { file: string; data: Buffer } {
  const data = Buffer.alloc(SIZE);
  const put = (at: number, len: number, seed: number): void => {
    pattern(len, seed).copy(data, at);
  };
  put(0, 200 * KiB, 1);
  put(3 * MiB + 100, 4900, 2); // unaligned, inside one grain
  put(32 * MiB - 8 * KiB, 16 * KiB, 3); // across the first grain table's coverage (32 MiB)
  put(SIZE - 1000, 1000, 4); // the partial last grain
  const file = path.join(dir, 'src.raw');
  fs.writeFileSync(file, data.subarray(0, 1 * MiB));
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, Buffer.alloc(64 * KiB), 0, 64 * KiB, 1 * MiB); // explicit zeroes
    for (const [at, len] of [
      [3 * MiB, 8 * KiB],
      [32 * MiB - 8 * KiB, 16 * KiB],
      [SIZE - 1000, 1000],
    ] as const) {
      fs.writeSync(fd, data, at, len, at);
    }
    fs.ftruncateSync(fd, SIZE);
  } finally {
    fs.closeSync(fd);
  }
  return { file, data };
}

export async function readAll(img: Image): Promise<Buffer> {
  const out = Buffer.alloc(img.size);
  for (let at = 0; at < img.size; at += 4 * MiB)
    await img.read(at, out.subarray(at, Math.min(img.size, at + 4 * MiB)));
  return out;
}

export type Run = [start: number, length: number, data: boolean, zero: boolean, present: boolean];

/** Merges adjacent runs with the same flags (qemu also splits where host offsets jump). */
export function normalize(runs: Run[]): Run[] {
  const out: Run[] = [];
  for (const r of runs) {
    const last = out[out.length - 1];
    if (last && last[2] === r[2] && last[3] === r[3] && last[4] === r[4] && last[0] + last[1] === r[0]) {
      last[1] += r[1];
    } else out.push([...r]);
  }
  return out;
}

export function qemuRuns(file: string): Run[] {
  const map = qemuImgJson<
    Array<{ start: number; length: number; data: boolean; zero: boolean; present: boolean }>
  >(['map', '-f', 'vmdk', file]);
  return normalize(map.map((m) => [m.start, m.length, m.data, m.zero, m.present]));
}

export function ourRuns(ext: Extent[]): Run[] {
  return normalize(ext.map((e) => [e.offset, e.length, e.data, e.zero, e.present]));
}

/** Writes `data` in pieces of the given sizes, in increasing order. */
export async function writeSequentially(img: Image, data: Buffer, pieces: number[]): Promise<void> {
  let i = 0;
  for (let at = 0; at < data.length; i++) {
    const n = Math.min(pieces[i % pieces.length]!, data.length - at);
    await img.write(at, data.subarray(at, at + n));
    at += n;
  }
}
