/**
 * The input side of `img convert`: one or more source images seen as one concatenated disk,
 * as qemu-img sees them. Each source occupies its size rounded up to whole 512-byte sectors
 * (qemu-img's src_sectors), so a source whose size is not a multiple of 512 is followed by
 * zeroes up to the next sector, and the next source starts there.
 *
 * `status(pos, max)` classifies the run that starts at `pos` (never crossing a source boundary)
 * into qemu-img's three kinds of convert block (ImgConvertBlockStatus):
 *
 * - `data`: must be read and (unless it turns out to be zeroes) written;
 * - `zero`: reads as zeroes; written as zeroes unless the target already reads as zero;
 * - `backing`: left unallocated in a target with a backing file (-B), which provides it.
 *
 * With a target backing file, only each source's top layer counts (qemu-img asks for block
 * status above the source's own backing file): a range the top layer does not allocate is
 * `backing`; without one, the whole chain counts and an unallocated range reads as zeroes.
 *
 * Status comes from one cursor per source that walks its extents forward, window by window
 * (extents.ts), so a convert asks for each source's map once.
 */
import { alignUp } from '../util/index.js';
import type { Image } from '../formats/index.js';
import { StatusCursor } from './extents.js';
import { SECTOR } from './sparse.js';

export type ConvertStatus = 'data' | 'zero' | 'backing';

export interface StatusRun {
  status: ConvertStatus;
  /** Bytes from the queried position, at most the asked maximum. */
  length: number;
}

interface Part {
  image: Image;
  /** Offset of this source in the concatenation. */
  start: number;
  /** Its sector-rounded length. */
  length: number;
  cursor: StatusCursor;
}

export class ConcatenatedSources {
  private readonly parts: Part[] = [];
  readonly size: number;

  constructor(
    images: Image[],
    private readonly topLayerOnly: boolean,
  ) {
    let start = 0;
    for (const image of images) {
      const length = alignUp(image.size, SECTOR);
      this.parts.push({ image, start, length, cursor: new StatusCursor(image, 0, image.size) });
      start += length;
    }
    this.size = start;
  }

  private partAt(pos: number): Part {
    // Few sources, walked in order: a linear search is the simplest correct thing.
    for (const p of this.parts) if (pos < p.start + p.length) return p;
    throw new RangeError(`offset ${pos} is past the end of the sources (${this.size} bytes)`);
  }

  /** Bytes from `pos` to the end of the source that holds it. */
  remainingInPart(pos: number): number {
    const p = this.partAt(pos);
    return p.start + p.length - pos;
  }

  /** The run at `pos`, no longer than `max` and never past the end of its source. */
  async status(pos: number, max: number): Promise<StatusRun> {
    const p = this.partAt(pos);
    const local = pos - p.start;
    const limit = Math.min(max, p.length - local);
    if (local >= p.image.size) return { status: 'data', length: limit }; // the zero padding
    const e = await p.cursor.at(local);
    let end = e.offset + e.length;
    if (end === p.image.size) end = p.length; // the padding joins the last extent
    const length = Math.min(limit, end - local);
    let status: ConvertStatus;
    if (this.topLayerOnly && e.depth > 0) status = 'backing';
    else if (e.zero) status = 'zero';
    else status = 'data';
    return { status, length };
  }

  /** Fills `buf` with the concatenation's bytes at `pos` (zeroes in the sector padding). */
  async read(pos: number, buf: Buffer): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const p = this.partAt(pos + done);
      const local = pos + done - p.start;
      const n = Math.min(buf.length - done, p.length - local);
      const real = Math.max(0, Math.min(n, p.image.size - local));
      if (real > 0) await p.image.read(local, buf.subarray(done, done + real));
      if (real < n) buf.fill(0, done + real, done + n);
      done += n;
    }
  }
}
