/**
 * Data-In buffers for block reads, made by block/page-slabs.ts, all page-aligned (block/native.ts:
 * the kernel's page-cache copy into a buffer 16 bytes into a page, where large Node Buffers start,
 * is about 5x slower):
 *
 * - up to 128 KiB, views carved from shared 1 MiB slabs (block/page-slabs.ts, the same carving
 *   as NBD's read replies): a 4 KiB READ is the hot path, and a fresh allocation per read was
 *   half of the core's time per 4 KiB READ in a profile;
 * - above it and up to 1 MiB (the 256 KiB..1 MiB reads of sequential work), buffers lent
 *   from block/page-slabs.ts's pool (shared with NBD's read replies): allocating a fresh 1 MiB
 *   buffer per READ made garbage collection a fifth of the time at 1 MiB reads. A pooled buffer
 *   goes back only through its release function (`releaseOf`), which the transport calls once the
 *   Data-In is on the socket; a buffer nobody releases is simply collected;
 * - larger reads get their own buffer.
 */
import { pageAlignedSlice } from '../../block/index.js';

export { releaseOf } from '../../block/index.js';

/**
 * An uninitialised, page-aligned buffer of `length` bytes. `lend`: the buffer becomes a command's
 * Data-In, which the transport hands back once sent, so a large one may come from the pool.
 * Buffers the core reads for itself (VERIFY, COMPARE AND WRITE, copies) never leave the pool's
 * stock: nothing would give them back.
 */
export function readBuffer(length: number, lend = false): Buffer {
  return pageAlignedSlice(0, length, lend);
}
