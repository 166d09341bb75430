/**
 * Buffers for read replies, carved from 1 MiB slabs. Node pools only allocations under 4 KiB, so
 * every 4 KiB read reply (4 KiB of data behind its header) would otherwise be a fresh
 * ArrayBuffer. A slab is released by the garbage collector once the last reply carved from it is
 * gone; a reply larger than SLAB_MAX gets its own buffer.
 *
 * The data part of every reply starts on a page boundary, with the reply header in the bytes just
 * before it. The kernel copies file data into a page-aligned buffer several times faster than
 * into one at malloc's 16-byte alignment (measured: 1 GiB from the page cache in 80-100 ms
 * against 440-530 ms), so slabs are page-aligned (block's pageAlignedBuffer).
 */
import { pageAlignedBuffer } from '../block/index.js';

const PAGE = 4096;
const SLAB_SIZE = 1024 * 1024;
const SLAB_MAX = 64 * 1024;

let slab = pageAlignedBuffer(SLAB_SIZE);
let used = 0;

/**
 * An uninitialised buffer of `room + length` bytes whose byte `room` (where the data goes) is
 * page-aligned. `room` is a reply header's size, below one page.
 */
export function replyBuffer(room: number, length: number): Buffer {
  if (length > SLAB_MAX) {
    const own = pageAlignedBuffer(PAGE + length);
    return own.subarray(PAGE - room);
  }
  let start = alignUpToPage(used + room) - room;
  if (start + room + length > SLAB_SIZE) {
    slab = pageAlignedBuffer(SLAB_SIZE);
    start = PAGE - room;
  }
  used = start + room + length;
  return slab.subarray(start, used);
}

function alignUpToPage(n: number): number {
  return Math.ceil(n / PAGE) * PAGE;
}
