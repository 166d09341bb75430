/**
 * `vdisk img compare`: are two images' guest contents the same? Follows qemu-img compare.
 *
 * Both images are walked by block status together. A range that reads as zeroes in both is
 * skipped without reading; a range allocated in both is read and compared 512-byte sector by
 * sector; a range allocated in only one must read as zeroes there. The first difference is
 * reported at the start of its sector, as qemu-img does ("Content mismatch at offset N!").
 * When the sizes differ, the common part is compared first, then the tail of the larger image
 * must read as zeroes. Strict mode (-s) also fails on a size or allocation-state difference.
 *
 * Exit codes (qemu-img's): 0 identical, 1 different, 2 an image could not be opened (or bad
 * arguments), 3 block status failed, 4 a read failed.
 */
import type { Extent } from '../block/index.js';
import { openImage, type Image, type ImageFormat } from '../formats/index.js';
import { isZero } from '../util/index.js';
import { StatusCursor } from './extents.js';
import { errorMessage, print, printError } from './output.js';

export interface CompareOptions {
  format1?: ImageFormat;
  format2?: ImageFormat;
  strict?: boolean;
  quiet?: boolean;
  forceShare?: boolean;
}

export const EXIT_IDENTICAL = 0;
export const EXIT_DIFFERENT = 1;
export const EXIT_OPEN_ERROR = 2;
export const EXIT_STATUS_ERROR = 3;
export const EXIT_READ_ERROR = 4;

/** qemu-img's IO_BUF_SIZE: the most compared at once. */
const IO_BUF_SIZE = 2 * 1024 * 1024;
const SECTOR = 512;

/** Thrown inside the walk to leave it with a given exit code (its message already printed). */
class CompareExit extends Error {
  constructor(readonly code: number) {
    super(`compare finished with exit code ${code}`);
  }
}

export async function imgCompare(file1: string, file2: string, opts: CompareOptions): Promise<number> {
  const images: Image[] = [];
  try {
    try {
      images.push(await openImage(file1, { format: opts.format1, readOnly: true, lock: !opts.forceShare }));
      images.push(await openImage(file2, { format: opts.format2, readOnly: true, lock: !opts.forceShare }));
    } catch (err) {
      printError(errorMessage(err));
      return EXIT_OPEN_ERROR;
    }
    const c = new Comparison(images[0]!, file1, images[1]!, file2, opts);
    try {
      return await c.run();
    } catch (err) {
      if (err instanceof CompareExit) return err.code;
      printError(errorMessage(err));
      return EXIT_OPEN_ERROR;
    }
  } finally {
    for (const img of images) await img.close();
  }
}

class Comparison {
  private readonly buf1 = Buffer.alloc(IO_BUF_SIZE);
  private readonly buf2 = Buffer.alloc(IO_BUF_SIZE);

  constructor(
    private readonly img1: Image,
    private readonly name1: string,
    private readonly img2: Image,
    private readonly name2: string,
    private readonly opts: CompareOptions,
  ) {}

  private say(text: string): void {
    if (!this.opts.quiet) print(text + '\n');
  }

  private different(offset: number): never {
    this.say(`Content mismatch at offset ${offset}!`);
    throw new CompareExit(EXIT_DIFFERENT);
  }

  async run(): Promise<number> {
    const size1 = this.img1.size;
    const size2 = this.img2.size;
    if (this.opts.strict && size1 !== size2) {
      this.say('Strict mode: Image size mismatch!');
      return EXIT_DIFFERENT;
    }
    const common = Math.min(size1, size2);
    const cur1 = new StatusCursor(this.img1, 0, common);
    const cur2 = new StatusCursor(this.img2, 0, common);
    for (let pos = 0; pos < common;) {
      const e1 = await this.status(cur1, pos);
      const e2 = await this.status(cur2, pos);
      let chunk = Math.min(e1.offset + e1.length, e2.offset + e2.length, common) - pos;
      if (this.opts.strict && !sameStatus(e1, e2)) {
        this.say(`Strict mode: Offset ${pos} block status mismatch!`);
        return EXIT_DIFFERENT;
      }
      if (e1.zero && e2.zero) {
        // Zeroes in both: nothing to read.
      } else if (e1.present === e2.present) {
        if (e1.present) {
          chunk = Math.min(chunk, IO_BUF_SIZE);
          const a = await this.read(this.img1, this.name1, pos, this.buf1.subarray(0, chunk));
          const b = await this.read(this.img2, this.name2, pos, this.buf2.subarray(0, chunk));
          const at = firstDifferentSector(a, b);
          if (at >= 0) this.different(pos + at);
        }
      } else {
        chunk = Math.min(chunk, IO_BUF_SIZE);
        if (e1.present) await this.checkZero(this.img1, this.name1, pos, chunk);
        else await this.checkZero(this.img2, this.name2, pos, chunk);
      }
      pos += chunk;
    }
    if (size1 !== size2) {
      this.say('Warning: Image size mismatch!');
      const [over, name] = size1 > size2 ? [this.img1, this.name1] : [this.img2, this.name2];
      const cur = new StatusCursor(over, common, over.size);
      for (let pos = common; pos < over.size;) {
        const e = await this.status(cur, pos);
        let chunk = e.offset + e.length - pos;
        if (e.present) {
          chunk = Math.min(chunk, IO_BUF_SIZE);
          await this.checkZero(over, name, pos, chunk);
        }
        pos += chunk;
      }
    }
    this.say('Images are identical.');
    return EXIT_IDENTICAL;
  }

  private async status(cur: StatusCursor, pos: number): Promise<Extent> {
    try {
      return await cur.at(pos);
    } catch (err) {
      printError(`error while reading block status at offset ${pos}: ${errorMessage(err)}`);
      throw new CompareExit(EXIT_STATUS_ERROR);
    }
  }

  private async read(img: Image, name: string, pos: number, buf: Buffer): Promise<Buffer> {
    try {
      await img.read(pos, buf);
      return buf;
    } catch (err) {
      printError(`error while reading offset ${pos} of ${name}: ${errorMessage(err)}`);
      throw new CompareExit(EXIT_READ_ERROR);
    }
  }

  /** qemu-img's check_empty_sectors: the range must read as zeroes. */
  private async checkZero(img: Image, name: string, pos: number, len: number): Promise<void> {
    const buf = await this.read(img, name, pos, this.buf1.subarray(0, len));
    const at = firstNonZeroSector(buf);
    if (at >= 0) this.different(pos + at);
  }
}

function sameStatus(a: Extent, b: Extent): boolean {
  return a.present === b.present && a.zero === b.zero && a.data === b.data;
}

/** Offset of the first 512-byte sector that differs, or -1 (qemu-img's compare_buffers). */
export function firstDifferentSector(a: Buffer, b: Buffer): number {
  if (a.equals(b)) return -1;
  for (let i = 0; i < a.length; i += SECTOR) {
    const end = Math.min(a.length, i + SECTOR);
    if (a.compare(b, i, end, i, end) !== 0) return i;
  }
  return -1;
}

/** Offset of the first 512-byte sector that is not all zeroes, or -1. */
export function firstNonZeroSector(buf: Buffer): number {
  if (isZero(buf)) return -1;
  for (let i = 0; i < buf.length; i += SECTOR) {
    if (!isZero(buf.subarray(i, Math.min(buf.length, i + SECTOR)))) return i;
  }
  return -1;
}
