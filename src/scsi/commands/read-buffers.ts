/**
 * Data-In buffers for block reads: page-aligned views carved from 1 MiB page-aligned slabs.
 *
 * Why: a 4 KiB read is the hot path. A fresh page-aligned allocation per read costs an
 * ArrayBuffer (Node pools only allocations under 4 KiB) and the GC pressure of external memory,
 * which showed as half of the core's time per 4 KiB READ in a profile; an unaligned buffer makes
 * the kernel's page-cache copy several times slower (block/native.ts). Views are page-aligned so
 * both costs go. A slab is freed by the garbage collector once the last view into it is gone.
 * Reads larger than SLAB_MAX get their own buffer.
 *
 * (The NBD server carves reply buffers the same way for the same reason; a shared helper in
 * block/ would serve both.)
 */
import { pageAlignedBuffer } from '../../block/index.js';

const PAGE = 4096;
const SLAB_SIZE = 1024 * 1024;
const SLAB_MAX = 128 * 1024;

let slab: Buffer | undefined;
let used = SLAB_SIZE;

/** An uninitialised, page-aligned buffer of `length` bytes. */
export function readBuffer(length: number): Buffer {
  if (length > SLAB_MAX) return pageAlignedBuffer(length);
  if (!slab || used + length > SLAB_SIZE) {
    slab = pageAlignedBuffer(SLAB_SIZE);
    used = 0;
  }
  const start = used;
  used = Math.ceil((start + length) / PAGE) * PAGE;
  return slab.subarray(start, start + length);
}
