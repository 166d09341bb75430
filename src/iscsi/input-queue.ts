/**
 * Received bytes not yet parsed, as the socket delivered them: a list of chunks and a read
 * position. `take(n)` hands out a view when the n bytes lie in one chunk (the common case for a
 * PDU header and its data segment), and copies only when they straddle chunks.
 *
 * (nbd/ has the same idea in its ByteQueue; the layer rule keeps iscsi/ from importing nbd/, and
 * the two would move to util/ together.)
 */
export class InputQueue {
  private chunks: Buffer[] = [];
  private head = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(chunk: Buffer): void {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
  }

  /** The byte at `i` (i < length) from the read position, without consuming anything. */
  byteAt(i: number): number {
    let at = this.head + i;
    for (const c of this.chunks) {
      if (at < c.length) return c[at]!;
      at -= c.length;
    }
    throw new RangeError(`byteAt(${i}) of ${this.size} queued bytes`);
  }

  /** The next `n` bytes (n <= length), removed from the queue. */
  take(n: number): Buffer {
    if (n > this.size) throw new RangeError(`take(${n}) of ${this.size} queued bytes`);
    if (n === 0) return Buffer.alloc(0);
    const c = this.chunks[0]!;
    if (c.length - this.head >= n) {
      const v = c.subarray(this.head, this.head + n);
      this.consume(n);
      return v;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const first = this.chunks[0]!;
      const k = Math.min(n - at, first.length - this.head);
      first.copy(out, at, this.head, this.head + k);
      at += k;
      this.consume(k);
    }
    return out;
  }

  /** True when the next `n` bytes (n <= length) lie in one received chunk (take is a view). */
  contiguous(n: number): boolean {
    const c = this.chunks[0];
    return c !== undefined && c.length - this.head >= n;
  }

  /** Removes the next `n` bytes (n <= length) into `dst` at `at`: one copy, no allocation. */
  copyInto(dst: Buffer, at: number, n: number): void {
    if (n > this.size) throw new RangeError(`copyInto(${n}) of ${this.size} queued bytes`);
    let done = 0;
    while (done < n) {
      const first = this.chunks[0]!;
      const k = Math.min(n - done, first.length - this.head);
      first.copy(dst, at + done, this.head, this.head + k);
      done += k;
      this.consume(k);
    }
  }

  /** Drops up to `n` bytes; returns how many. */
  skip(n: number): number {
    let left = Math.min(n, this.size);
    const done = left;
    while (left > 0) {
      const k = Math.min(left, this.chunks[0]!.length - this.head);
      this.consume(k);
      left -= k;
    }
    return done;
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.size = 0;
  }

  private consume(n: number): void {
    this.head += n;
    this.size -= n;
    if (this.head === this.chunks[0]!.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }
}
