/**
 * `vdisk img rebase`: give an image another backing file, as `qemu-img rebase` 7.2 does.
 *
 * Unsafe mode (-u) only rewrites the backing file name and format in the header; the image is
 * opened without its backing chain, so a moved or renamed backing file can be fixed this way.
 *
 * Safe mode keeps what the image reads the same. The image is opened with its old backing chain
 * and the new backing file is opened next to it, read-only. For every range the image does not
 * allocate itself (block status: not present at depth 0), the old chain's bytes and the new
 * backing file's bytes are compared 512-byte sector by sector, and the sectors that differ are
 * copied from the old chain into the image (as zeroes past the end of the old chain). Only then
 * is the header switched. `-b ""` rebases onto nothing: everything the old chain provided and
 * does not read as zero is copied.
 *
 * When the new backing file is itself in the old chain (rebasing onto a deeper base), ranges
 * that are allocated in that file or below it, or nowhere, read the same either way and are
 * skipped without reading (qemu-img's prefix_chain_bs).
 *
 * The new name is stored as typed and, like every backing file name, resolves relative to the
 * image's directory. qemu-img 7.2 requires the new backing format (-F): so do we, before any
 * work is done.
 */
import fs from 'node:fs';
import type { CacheMode, Extent } from '../block/index.js';
import { combineBackingPath, openImage, type Image, type ImageFormat } from '../formats/index.js';
import { BlockError, UsageError } from '../util/index.js';
import { parseFormat } from './args.js';
import { StatusCursor } from './extents.js';
import { Progress } from './progress.js';
import { asQcow2 } from './qcow2-ops.js';
import { SECTOR } from './sparse.js';

export interface RebaseOptions {
  format?: ImageFormat;
  backing?: string;
  backingFormat?: string;
  unsafe?: boolean;
  progress?: boolean;
  quiet?: boolean;
  cache?: CacheMode;
  forceShare?: boolean;
}

/** qemu-img's IO_BUF_SIZE. */
const CHUNK = 2 * 1024 * 1024;

export async function imgRebase(file: string, opts: RebaseOptions): Promise<number> {
  if (!opts.unsafe && opts.backing === undefined) {
    throw new UsageError('Must specify backing file (-b) or use unsafe mode (-u)');
  }
  const name = opts.backing === '' ? undefined : opts.backing;
  const format = opts.backingFormat === undefined ? undefined : parseFormat(opts.backingFormat);
  if (name !== undefined && format === undefined) {
    throw new UsageError(`Could not change the backing file to '${name}': backing format must be specified`);
  }
  const image = await openImage(file, {
    format: opts.format,
    cache: opts.cache ?? 'writeback',
    openBacking: !opts.unsafe,
  });
  try {
    const q = asQcow2(image, 'backing');
    if (!opts.unsafe) {
      const progress = new Progress((opts.progress ?? false) && !opts.quiet, 2.0);
      await copyDifferences(image, name, format, opts.forceShare ?? false, progress);
    }
    await q.setBacking(name, format);
  } finally {
    await image.close();
  }
  return 0;
}

/** Safe mode: copies into `image` what would read differently over the new backing file. */
async function copyDifferences(
  image: Image,
  name: string | undefined,
  format: ImageFormat | undefined,
  forceShare: boolean,
  progress: Progress,
): Promise<void> {
  let fresh: Image | undefined;
  if (name !== undefined) {
    const backingPath = combineBackingPath(image.filename, name);
    try {
      fresh = await openImage(backingPath, { format, readOnly: true, lock: !forceShare });
    } catch (err) {
      throw new BlockError(
        err instanceof BlockError ? err.code : 'IO',
        `Could not open new backing file '${backingPath}': ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  try {
    const prefixDepth = fresh ? chainDepthOf(image, fresh.filename) : -1;
    const old = Buffer.alloc(CHUNK);
    const neu = Buffer.alloc(CHUNK);
    const cursor = new StatusCursor(image, 0, image.size);
    progress.set(0);
    for (let pos = 0; pos < image.size;) {
      const e = await cursor.at(pos);
      const n = Math.min(CHUNK, e.offset + e.length - pos);
      if (!needsComparing(e, prefixDepth)) {
        pos += n;
        continue;
      }
      const a = old.subarray(0, n);
      const b = neu.subarray(0, n);
      // Unallocated here, so the image reads the old chain's bytes (zeroes past its end).
      await image.read(pos, a);
      await readPadded(fresh, pos, b);
      const oldIsZero = !e.present;
      for (let done = a.equals(b) ? n : 0; done < n;) {
        const run = sameRun(a, b, done);
        if (!run.same) {
          if (oldIsZero) await image.writeZeroes(pos + done, run.length);
          else await image.write(pos + done, a.subarray(done, done + run.length));
        }
        done += run.length;
      }
      pos += n;
      progress.set((100 * pos) / image.size);
    }
    progress.set(100);
    progress.end();
  } finally {
    if (fresh) await fresh.close();
  }
}

/**
 * Whether the range of extent `e` may read differently over the new backing file. Ranges the
 * image allocates itself never do; with the new backing file at depth `prefixDepth` of the old
 * chain, ranges allocated at that depth or deeper (or nowhere) do not either.
 */
function needsComparing(e: Extent, prefixDepth: number): boolean {
  if (e.depth === 0 && e.present) return false;
  if (prefixDepth > 0 && e.depth >= prefixDepth) return false;
  return true;
}

/** The depth of the file `target` in `image`'s open backing chain, or -1. */
function chainDepthOf(image: Image, target: string): number {
  const real = (p: string): string => {
    try {
      return fs.realpathSync(p);
    } catch {
      return p;
    }
  };
  const want = real(target);
  let depth = 0;
  for (let img: Image | undefined = image.backing; img; img = img.backing) {
    depth++;
    if (real(img.filename) === want) return depth;
  }
  return -1;
}

/** Reads `buf.length` bytes at `pos` of `img`, zeroes past its end (or all zeroes without it). */
async function readPadded(img: Image | undefined, pos: number, buf: Buffer): Promise<void> {
  const real = img ? Math.max(0, Math.min(buf.length, img.size - pos)) : 0;
  if (real > 0) await img!.read(pos, buf.subarray(0, real));
  buf.fill(0, real);
}

/** qemu-img's compare_buffers: the run of equal (or different) sectors starting at `from`. */
function sameRun(a: Buffer, b: Buffer, from: number): { same: boolean; length: number } {
  const sectorSame = (off: number): boolean => {
    const end = Math.min(a.length, off + SECTOR);
    return a.compare(b, off, end, off, end) === 0;
  };
  const same = sectorSame(from);
  let off = from + SECTOR;
  while (off < a.length && sectorSame(off) === same) off += SECTOR;
  return { same, length: Math.min(off, a.length) - from };
}
