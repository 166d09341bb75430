/**
 * Buffers for Data-Out, reused. Every write command needs one buffer of its Expected Data Transfer
 * Length; a fresh 1 MiB ArrayBuffer per 1 MiB write made the garbage collector a fifth of the
 * server's time under sequential writes. Buffers come back here when the command is over: when
 * the SCSI core's execute has resolved (the core and the block layer are done with the bytes by
 * then: ScsiTaskRouter.execute resolves after the block I/O ended, aborted or not), or when the
 * command ends before reaching the core.
 *
 * The pool keeps buffers of the sizes writes actually use, up to `MAX_POOLED_BYTES` in all; a
 * size that does not fit is simply allocated and left to the garbage collector.
 */
const MAX_POOLED_BYTES = 64 * 1024 * 1024;
/** Below this, Node's own allocator pools small buffers well enough. */
const MIN_POOLED = 16 * 1024;

const free = new Map<number, Buffer[]>();
let pooledBytes = 0;

export function takeWriteBuffer(size: number): Buffer {
  if (size >= MIN_POOLED) {
    const list = free.get(size);
    const b = list?.pop();
    if (b) {
      pooledBytes -= size;
      return b;
    }
  }
  return Buffer.allocUnsafeSlow(size);
}

/** Gives a buffer from takeWriteBuffer back; nothing may use it afterwards. */
export function returnWriteBuffer(b: Buffer): void {
  const size = b.length;
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
