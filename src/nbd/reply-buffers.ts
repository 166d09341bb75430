/**
 * Buffers for replies, carved from 1 MiB slabs. Node pools only allocations under 4 KiB, so every
 * 4 KiB read reply (4 KiB of data behind its header) would otherwise be a fresh ArrayBuffer. A
 * slab is released by the garbage collector once the last reply carved from it is gone; a reply
 * larger than SLAB_MAX gets its own buffer. Carved buffers start on 8-byte boundaries.
 */
const SLAB_SIZE = 1024 * 1024;
const SLAB_MAX = 64 * 1024;

let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let used = 0;

/** An uninitialised buffer of `size` bytes. */
export function replyBuffer(size: number): Buffer {
  if (size > SLAB_MAX) return Buffer.allocUnsafeSlow(size);
  if (used + size > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    used = 0;
  }
  const b = slab.subarray(used, used + size);
  used += (size + 7) & ~7;
  return b;
}
