/**
 * Page-aligned buffers for data that a read fills, carved from 1 MiB slabs: the read replies of
 * both transports (NBD reply buffers, SCSI Data-In).
 *
 * Two costs meet here. Node pools only allocations under 4 KiB, so a fresh buffer per 4 KiB read
 * is a fresh ArrayBuffer and garbage-collection work; and a buffer 16 bytes into a page, where
 * large Node Buffers start, is filled from the page cache about 5x slower than a page-aligned one
 * (native.ts, pageAlignedBuffer). So the data part of every carved buffer starts on a page, with
 * `room` bytes before it for a protocol header that is sent in the same write. A slab is freed by
 * the garbage collector once the last view into it is gone.
 *
 * Larger reads (the 256 KiB..1 MiB of sequential work) are lent from a pool of page-aligned
 * buffers (`pageAlignedSlice(room, length, true)`): a fresh 1 MiB buffer per read made garbage
 * collection a fifth of the time at 1 MiB reads. A lent buffer goes back only through its
 * release function (`releaseOf`), which the transport calls once the reply is on the socket; a
 * buffer nobody releases is simply collected.
 */
import { pageAlignedBuffer } from './native.js';

const PAGE = 4096;
const SLAB_SIZE = 1024 * 1024;
/** Larger requests are lent from the pool, or get their own buffer. */
const SLAB_MAX = 128 * 1024;
/** The largest data part a pooled buffer holds. */
const POOLED_MAX = 1024 * 1024;
/** Free pooled buffers kept at most (32 MiB). */
const POOL_MAX = 32;
const pool: Buffer[] = [];
const releases = new WeakMap<Buffer, () => void>();

let slab: Buffer | undefined;
let used = SLAB_SIZE;

/**
 * An uninitialised buffer of `room + length` bytes whose byte `room` (where the data goes) is
 * page-aligned. `room` is below one page. Up to SLAB_MAX it is carved from a slab; above, with
 * `lend` (the caller gives it back through `releaseOf` once nothing uses it any more) and up to
 * POOLED_MAX it comes from the pool; otherwise it is a buffer of its own.
 */
export function pageAlignedSlice(room: number, length: number, lend = false): Buffer {
  if (length > SLAB_MAX) {
    if (lend && length <= POOLED_MAX) return lendPooled(room, length);
    return pageAlignedBuffer(PAGE + length).subarray(PAGE - room);
  }
  let start = Math.ceil((used + room) / PAGE) * PAGE - room;
  if (!slab || start + room + length > SLAB_SIZE) {
    slab = pageAlignedBuffer(SLAB_SIZE);
    start = PAGE - room;
  }
  used = start + room + length;
  return slab.subarray(start, used);
}

function lendPooled(room: number, length: number): Buffer {
  const whole = pool.pop() ?? pageAlignedBuffer(PAGE + POOLED_MAX);
  const buf = whole.subarray(PAGE - room, PAGE + length);
  let done = false;
  releases.set(buf, () => {
    if (done) return; // a second release must not put the buffer in the pool twice
    done = true;
    if (pool.length < POOL_MAX) pool.push(whole);
  });
  return buf;
}

/** The release function of a buffer lent by pageAlignedSlice, if `buf` is one. */
export function releaseOf(buf: Buffer): (() => void) | undefined {
  return releases.get(buf);
}
