/**
 * An in-memory BlockDevice: sparse 64 KiB chunks, absent chunks read as zeroes. Used as the
 * reference model in differential tests and for scratch devices.
 */
import { BlockError } from '../util/index.js';
import {
  checkRange,
  checkWritable,
  type BlockCaps,
  type BlockDevice,
  type Extent,
  type WriteOptions,
  type ZeroOptions,
} from './device.js';

const CHUNK = 64 * 1024;

export class MemoryDevice implements BlockDevice {
  private chunks = new Map<number, Buffer>();
  private length: number;
  readonly caps: BlockCaps;

  constructor(size: number, opts: { readOnly?: boolean } = {}) {
    if (!Number.isSafeInteger(size) || size < 0) throw new BlockError('INVALID', `invalid size ${size}`);
    this.length = size;
    this.caps = {
      readOnly: opts.readOnly ?? false,
      canFlush: false,
      canFua: true,
      canDiscard: true,
      canZero: true,
      rotational: false,
      minBlockSize: 1,
      preferredBlockSize: 4096,
      maxTransfer: 32 * 1024 * 1024,
    };
  }

  get size(): number {
    return this.length;
  }

  async read(offset: number, buf: Buffer): Promise<void> {
    checkRange(this, offset, buf.length);
    let done = 0;
    while (done < buf.length) {
      const pos = offset + done;
      const idx = Math.floor(pos / CHUNK);
      const within = pos - idx * CHUNK;
      const n = Math.min(CHUNK - within, buf.length - done);
      const chunk = this.chunks.get(idx);
      if (chunk) chunk.copy(buf, done, within, within + n);
      else buf.fill(0, done, done + n);
      done += n;
    }
  }

  async write(offset: number, data: Buffer, _opts?: WriteOptions): Promise<void> {
    checkWritable(this);
    checkRange(this, offset, data.length);
    let done = 0;
    while (done < data.length) {
      const pos = offset + done;
      const idx = Math.floor(pos / CHUNK);
      const within = pos - idx * CHUNK;
      const n = Math.min(CHUNK - within, data.length - done);
      let chunk = this.chunks.get(idx);
      if (!chunk) {
        chunk = Buffer.alloc(CHUNK);
        this.chunks.set(idx, chunk);
      }
      data.copy(chunk, within, done, done + n);
      done += n;
    }
  }

  async flush(): Promise<void> {}

  async discard(offset: number, length: number): Promise<void> {
    await this.writeZeroes(offset, length);
  }

  async writeZeroes(offset: number, length: number, _opts?: ZeroOptions): Promise<void> {
    checkWritable(this);
    checkRange(this, offset, length);
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const idx = Math.floor(pos / CHUNK);
      const within = pos - idx * CHUNK;
      const n = Math.min(CHUNK - within, length - done);
      if (n === CHUNK) this.chunks.delete(idx);
      else this.chunks.get(idx)?.fill(0, within, within + n);
      done += n;
    }
  }

  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    checkRange(this, offset, length);
    const out: Extent[] = [];
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const idx = Math.floor(pos / CHUNK);
      const n = Math.min((idx + 1) * CHUNK, end) - pos;
      const data = this.chunks.has(idx);
      const last = out[out.length - 1];
      if (last && last.data === data) last.length += n;
      else out.push({ offset: pos, length: n, data, zero: !data, present: data, depth: 0 });
      pos += n;
    }
    return out;
  }

  async resize(size: number): Promise<void> {
    checkWritable(this);
    if (!Number.isSafeInteger(size) || size < 0) throw new BlockError('INVALID', `invalid size ${size}`);
    if (size < this.length) {
      for (const idx of [...this.chunks.keys()]) {
        if (idx * CHUNK >= size) this.chunks.delete(idx);
      }
      const idx = Math.floor(size / CHUNK);
      this.chunks.get(idx)?.fill(0, size - idx * CHUNK);
    }
    this.length = size;
  }

  async close(): Promise<void> {}
}
