/**
 * Page-aligned buffers for data that a read fills, carved from 1 MiB slabs: the read replies of
 * both transports (NBD reply buffers, SCSI Data-In).
 *
 * Two costs meet here. Node pools only allocations under 4 KiB, so a fresh buffer per 4 KiB read
 * is a fresh ArrayBuffer and garbage-collection work; and a buffer 16 bytes into a page, where
 * large Node Buffers start, is filled from the page cache about 5x slower than a page-aligned one
 * (native.ts, pageAlignedBuffer). So the data part of every carved buffer starts on a page, with
 * `room` bytes before it for a protocol header that is sent in the same write. A slab is freed by
 * the garbage collector once the last view into it is gone; a request above SLAB_MAX gets its own
 * buffer.
 */
import { pageAlignedBuffer } from './native.js';

const PAGE = 4096;
const SLAB_SIZE = 1024 * 1024;
/** Larger requests get their own buffer. */
export const SLAB_MAX = 128 * 1024;

let slab: Buffer | undefined;
let used = SLAB_SIZE;

/**
 * An uninitialised buffer of `room + length` bytes whose byte `room` (where the data goes) is
 * page-aligned. `room` is below one page.
 */
export function pageAlignedSlice(room: number, length: number): Buffer {
  if (length > SLAB_MAX) return pageAlignedBuffer(PAGE + length).subarray(PAGE - room);
  let start = Math.ceil((used + room) / PAGE) * PAGE - room;
  if (!slab || start + room + length > SLAB_SIZE) {
    slab = pageAlignedBuffer(SLAB_SIZE);
    start = PAGE - room;
  }
  used = start + room + length;
  return slab.subarray(start, used);
}
