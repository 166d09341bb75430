/**
 * The bytes received on a connection and not yet parsed: a queue of the socket's chunks with a
 * read position in the first one. The transports' parsers (nbd/option-parser.ts,
 * nbd/request-parser.ts, iscsi/pdu-parser.ts) ask it for exactly the bytes of one field or
 * message, so nothing is copied until a message is known to be complete, and a message that lies
 * inside one chunk is never copied at all (`take` returns a view of the chunk). `copyInto` moves
 * bytes straight to their final place when a message straddles chunks.
 *
 * Invariant: `length` is the sum of the unread bytes of every queued chunk, and no queued chunk is
 * empty.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Read position in chunks[0]. */
  private pos = 0;
  private total = 0;
  /** The buffer `own` made last (already the queue's: no need to copy it again). */
  private owned: Buffer | undefined;

  /** Unread bytes. */
  get length(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** The byte at `i` (i < length) from the read position, without consuming anything. */
  byteAt(i: number): number {
    let at = this.pos + i;
    for (const c of this.chunks) {
      if (at < c.length) return c[at]!;
      at -= c.length;
    }
    throw new RangeError(`byteAt(${i}) with ${this.total} bytes queued`);
  }

  /**
   * Removes and returns the next `n` bytes (n <= length): a view into the first chunk when it
   * holds them all, else one new buffer with the bytes copied from the chunks that hold them.
   */
  take(n: number): Buffer {
    if (n > this.total) throw new RangeError(`take(${n}) with ${this.total} bytes queued`);
    const first = this.chunks[0];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (first.length - this.pos >= n) {
      const out = first.subarray(this.pos, this.pos + n);
      this.advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    this.copyInto(out, 0, n);
    return out;
  }

  /**
   * Removes and returns the next `n` bytes (n <= length) in a buffer of their own, copied once:
   * what a parser keeps when the pushed chunks are a staging buffer that the next read reuses.
   */
  takeCopy(n: number): Buffer {
    if (n > this.total) throw new RangeError(`takeCopy(${n}) with ${this.total} bytes queued`);
    const out = Buffer.allocUnsafe(n);
    this.copyInto(out, 0, n);
    return out;
  }

  /** Removes the next `n` bytes (n <= length) and copies them into `dst` at `at`. */
  copyInto(dst: Buffer, at: number, n: number): void {
    if (n > this.total) throw new RangeError(`copyInto(${n}) with ${this.total} bytes queued`);
    let done = 0;
    while (done < n) {
      const c = this.chunks[0]!;
      const k = Math.min(n - done, c.length - this.pos);
      c.copy(dst, at + done, this.pos, this.pos + k);
      done += k;
      this.advance(k);
    }
  }

  /** Drops up to `n` bytes; returns how many were dropped. */
  skip(n: number): number {
    const k = Math.min(n, this.total);
    let left = k;
    while (left > 0) {
      const c = this.chunks[0]!;
      const m = Math.min(left, c.length - this.pos);
      this.advance(m);
      left -= m;
    }
    return k;
  }

  /**
   * Copies the unread bytes into one buffer of the queue's own, so that no pushed chunk is
   * referenced any more (the socket reader reuses its staging buffer: util/socket-input.ts).
   */
  own(): void {
    if (this.total === 0) {
      this.clear();
      return;
    }
    if (this.chunks.length === 1 && this.owned === this.chunks[0]) return;
    const b = Buffer.allocUnsafe(this.total);
    this.copyInto(b, 0, this.total);
    this.clear();
    this.push(b);
    this.owned = b;
  }

  /** Drops every queued byte (a connection that is being dropped). */
  clear(): void {
    this.chunks = [];
    this.pos = 0;
    this.total = 0;
    this.owned = undefined;
  }

  private advance(n: number): void {
    this.pos += n;
    this.total -= n;
    if (this.pos === this.chunks[0]!.length) {
      this.chunks.shift();
      this.pos = 0;
    }
  }
}
