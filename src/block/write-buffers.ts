/**
 * Buffers for the data of write commands, reused: iSCSI's Data-Out (one buffer of the command's
 * Expected Data Transfer Length) and NBD's large write payloads. A fresh 1 MiB ArrayBuffer per
 * 1 MiB write made the garbage collector a fifth of the iSCSI server's time under sequential
 * writes. Buffers come back here when the command is over: iSCSI's when the SCSI core's execute
 * has resolved (the core and the block layer are done with the bytes by then:
 * ScsiTaskRouter.execute resolves after the block I/O ended, aborted or not) or when the command
 * ends before reaching the core; NBD's when the device write has settled.
 *
 * A socket read may be under way into a buffer (util/socket-input.ts reads payloads straight into
 * their place): a parser pins the buffer for that time, and a pinned buffer that comes back is
 * dropped instead of pooled, so no later command can be handed memory that a read still fills.
 *
 * Pooled buffers start on a page, so that a write to an image opened with O_DIRECT (cache=none or
 * directsync) goes from them straight to the file, with no aligned copy (host-file.ts). Each is
 * carved from an allocation up to a page larger (pageAlignedBuffer); the pool's cap counts the
 * buffers' own sizes, so a pool of 4 KiB buffers can hold up to twice its cap in memory.
 *
 * The pool keeps buffers of the sizes writes actually use, up to `MAX_POOLED_BYTES` in all; a
 * size that does not fit is simply allocated and left to the garbage collector.
 */
import { pageAlignedBuffer } from './native.js';

const MAX_POOLED_BYTES = 64 * 1024 * 1024;
/** Below this, Node's own allocator pools small buffers well enough (under 4 KiB). */
const MIN_POOLED = 4 * 1024;

const free = new Map<number, Buffer[]>();
let pooledBytes = 0;
/** Weak: a pin that is never lifted (its connection died mid-read) only keeps the buffer out of the pool. */
const pinned = new WeakSet<ArrayBufferLike>();

export function takeWriteBuffer(size: number): Buffer {
  if (size >= MIN_POOLED) {
    const list = free.get(size);
    const b = list?.pop();
    if (b) {
      pooledBytes -= size;
      return b;
    }
  }
  return size >= MIN_POOLED ? pageAlignedBuffer(size) : Buffer.allocUnsafe(size);
}

/** Gives a buffer from takeWriteBuffer back; nothing may use it afterwards. */
export function returnWriteBuffer(b: Buffer): void {
  const size = b.length;
  if (pinned.has(b.buffer)) return;
  if (size < MIN_POOLED || pooledBytes + size > MAX_POOLED_BYTES) return;
  let list = free.get(size);
  if (!list) free.set(size, (list = []));
  list.push(b);
  pooledBytes += size;
}

/** Bytes the pool holds (for tests). */
export function pooledWriteBytes(): number {
  return pooledBytes;
}

/** A socket read may write into `b`'s memory until `unpinWriteBuffer`: it is never pooled meanwhile. */
export function pinWriteBuffer(b: Buffer): void {
  pinned.add(b.buffer);
}

export function unpinWriteBuffer(b: Buffer): void {
  pinned.delete(b.buffer);
}
