/**
 * The deterministic operation stream shared by the crash test and its child process: from a seed,
 * batches of concurrent writes, write-zeroes and discards, with a flush after every few batches.
 */
import { pattern, rng } from './model.js';

export type CrashOp =
  | { kind: 'write'; off: number; len: number; id: number }
  | { kind: 'zero'; off: number; len: number }
  | { kind: 'discard'; off: number; len: number };

export const CRASH_SIZE = 64 * 1024 * 1024;
export const CRASH_BATCHES = 250;
export const BATCH = 4;
export const FLUSH_EVERY = 3;

/** Batches of ops; ops within a batch touch disjoint byte ranges and run concurrently. */
export function crashBatches(seed: number, clusterSize: number): CrashOp[][] {
  const rand = rng(seed);
  const out: CrashOp[][] = [];
  let id = 0;
  for (let b = 0; b < CRASH_BATCHES; b++) {
    const batch: CrashOp[] = [];
    // Disjoint ranges: pick a region per op from a different 1/BATCH slice of the disk.
    for (let k = 0; k < BATCH; k++) {
      const slice = CRASH_SIZE / BATCH;
      const r = rand();
      const len =
        r < 0.7 ? 1 + Math.floor(rand() * 3 * clusterSize) : clusterSize * (1 + Math.floor(rand() * 8));
      const off = k * slice + Math.floor(rand() * (slice - len));
      if (r < 0.8) batch.push({ kind: 'write', off, len, id: id++ });
      else if (r < 0.9) batch.push({ kind: 'zero', off, len });
      else batch.push({ kind: 'discard', off, len });
    }
    out.push(batch);
  }
  return out;
}

export function opData(op: { id: number; len: number }): Buffer {
  return pattern(op.id, op.len);
}
