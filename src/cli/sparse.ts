/**
 * Sparse detection for `img convert`: which parts of a buffer of guest data are worth writing.
 *
 * This is qemu-img's `is_allocated_sectors` / `is_allocated_sectors_min` (qemu-img.c), in
 * 512-byte sectors, so that `-S SIZE` means exactly what it means to qemu-img:
 *
 * - A buffer is split into runs of zero and non-zero sectors. A run that does not end on the
 *   write alignment is moved to it (a data run grows up to it, a zero run shrinks down to it),
 *   so that writes to the target stay aligned and avoid read-modify-write.
 * - A run of zeroes in the middle of data is only skipped when it is at least `minSparse`
 *   sectors long; shorter ones are written as data. A buffer that starts with zeroes answers
 *   "zero" for that first run whatever its length (qemu-img does the same).
 *
 * `allocatedRun` answers for the start of a buffer: `{ allocated, sectors }`. The caller writes
 * (or skips) that many sectors and asks again for the rest.
 */
import { isZero } from '../util/index.js';

export const SECTOR = 512;

export interface Run {
  /** The run holds data to write (false: zeroes that may be skipped). */
  allocated: boolean;
  /** Length of the run in sectors (at least 1 when the buffer is not empty). */
  sectors: number;
}

function sectorIsZero(buf: Buffer, i: number): boolean {
  const off = i * SECTOR;
  // Cheap rejection first: random data almost never starts a sector with a zero byte.
  if (buf[off] !== 0) return false;
  return isZero(buf.subarray(off, off + SECTOR));
}

/** qemu-img's is_allocated_sectors: the first run of `n` sectors of `buf`. */
export function firstRun(buf: Buffer, n: number, sectorNum: number, alignment: number): Run {
  if (n <= 0) return { allocated: false, sectors: 0 };
  let zero = sectorIsZero(buf, 0);
  let i = 1;
  while (i < n && sectorIsZero(buf, i) === zero) i++;
  if (i === n) return { allocated: !zero, sectors: i };
  const tail = (sectorNum + i) & (alignment - 1);
  if (tail) {
    // The next sector is data and will rewrite this tail anyway (read-modify-write): write now.
    if (zero && i <= tail) zero = false;
    if (!zero) i = Math.min(i + alignment - tail, n);
    else i -= tail;
  }
  return { allocated: !zero, sectors: i };
}

/**
 * qemu-img's is_allocated_sectors_min: like `firstRun`, but zero runs shorter than `minSparse`
 * sectors inside data count as data.
 */
export function allocatedRun(
  buf: Buffer,
  n: number,
  minSparse: number,
  sectorNum: number,
  alignment: number,
): Run {
  const min = Math.min(minSparse, n);
  const first = firstRun(buf, n, sectorNum, alignment);
  if (!first.allocated) return first;
  let used = first.sectors;
  let checked = used;
  while (checked < n) {
    const r = firstRun(buf.subarray(checked * SECTOR), n - checked, sectorNum + checked, alignment);
    checked += r.sectors;
    if (r.allocated) used = checked;
    else if (r.sectors >= min) break;
  }
  return { allocated: true, sectors: used };
}

/** The largest power of two not above `n` (qemu's pow2floor); 0 for 0. */
export function pow2floor(n: number): number {
  return n <= 0 ? 0 : 2 ** Math.floor(Math.log2(n));
}
