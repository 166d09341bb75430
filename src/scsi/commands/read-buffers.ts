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
 * Reads above SLAB_MAX and up to POOL_BUFFER bytes (the 256 KiB..1 MiB reads of sequential
 * work) come from a pool of page-aligned 1 MiB buffers instead: allocating a fresh 1 MiB buffer
 * per READ made garbage collection a fifth of the time at 1 MiB reads. A pooled buffer goes back
 * only through its release function (`releaseOf`), which the transport calls once the Data-In is
 * on the socket; a buffer nobody releases is simply collected.
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

const POOL_BUFFER = 1024 * 1024;
/** Free pooled buffers kept at most (32 MiB). */
const POOL_MAX = 32;
const pool: Buffer[] = [];
const releases = new WeakMap<Buffer, () => void>();

/** The release function of a pooled read buffer, if `buf` is one. */
export function releaseOf(buf: Buffer): (() => void) | undefined {
  return releases.get(buf);
}

function pooled(length: number): Buffer {
  const whole = pool.pop() ?? pageAlignedBuffer(POOL_BUFFER);
  const buf = whole.subarray(0, length);
  let done = false;
  releases.set(buf, () => {
    if (done) return; // a second release must not put the buffer in the pool twice
    done = true;
    if (pool.length < POOL_MAX) pool.push(whole);
  });
  return buf;
}

/** An uninitialised, page-aligned buffer of `length` bytes. */
export function readBuffer(length: number): Buffer {
  if (length > POOL_BUFFER) return pageAlignedBuffer(length);
  if (length > SLAB_MAX) return pooled(length);
  if (!slab || used + length > SLAB_SIZE) {
    slab = pageAlignedBuffer(SLAB_SIZE);
    used = 0;
  }
  const start = used;
  used = Math.ceil((start + length) / PAGE) * PAGE;
  return slab.subarray(start, start + length);
}
