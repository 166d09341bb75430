/**
 * `vdisk img convert`: copy one or more images (concatenated) into a new image of any format,
 * the way qemu-img convert 7.2 does it (qemu-img.c, img_convert and convert_do_copy).
 *
 * The copy walks the sources by block status (convert-source.ts) and hands out chunks in order:
 * a data chunk is at most one buffer (2 MiB), a zero or backing chunk may be as long as the run.
 * `-m N` workers (default 8) each take the next chunk, read it, and write it. Reads always run
 * concurrently; writes go to the target in increasing offset order, one at a time, unless `-W`
 * allows them to complete out of order (qemu-img's wr_in_order). The chunk hand-out is
 * serialised by a mutex, so the status cursors only ever move forward.
 *
 * Sparseness, as qemu-img:
 * - The target "reads as zero" (has_zero_init) when it is new, has no backing file and -S is not
 *   0; or when --target-is-zero says so; or, failing those, when the whole target can be zeroed
 *   quickly (write zeroes with unmap, `fast`) before the copy.
 * - Zero chunks are skipped on such a target and written as zeroes (unmapping unless -S 0)
 *   otherwise. Backing chunks (only with -B) are never written: the backing file provides them.
 * - Data chunks are scanned for runs of zero sectors (sparse.ts): runs of at least -S bytes
 *   (default 4 KiB) are treated as zero chunks, everything else is written. `-S 0` writes all,
 *   zero runs of the source included, as data: the target is fully allocated, as with qemu-img.
 * - With -c, a qcow2 target gets compressed clusters: chunks are whole clusters (a run shorter
 *   than a cluster makes its whole cluster data), and each cluster that is not all zeroes goes
 *   through the engine's writeCompressed. (qemu-img compresses all-zero clusters that share a
 *   chunk with data; we skip them, which only makes the result sparser.) A vmdk target accepts
 *   -c as qemu-img does: its streamOptimized subformat compresses every grain anyway, and is
 *   always written in order (-W is ignored for it), the other subformats have no compression.
 *   Other formats refuse -c before anything is created.
 *
 * The target is opened with cache mode `unsafe` unless -t says otherwise, as qemu-img does, so
 * that no flush happens before the end; sources use writeback (-T).
 */
import fs from 'node:fs';
import { pageAlignedBuffer, type CacheMode } from '../block/index.js';
import { createImage, openImage, type Image, type ImageFormat } from '../formats/index.js';
import { alignDown, BlockError, Mutex, parseSize, UsageError, isZero } from '../util/index.js';
import { parseFormat, parseOptionString } from './args.js';
import { ConcatenatedSources, type ConvertStatus } from './convert-source.js';
import { errorMessage } from './output.js';
import { Progress } from './progress.js';
import { asQcow2 } from './qcow2-ops.js';
import { allocatedRun, pow2floor, SECTOR } from './sparse.js';

export interface ConvertOptions {
  /** Format of every source (-f); probed when absent. */
  format?: ImageFormat;
  /** Target format (-O), default raw. */
  outFormat?: string;
  compress?: boolean;
  options?: string[];
  progress?: boolean;
  /** -S: the shortest run of zeroes skipped inside data, as typed (default 4k; 0 = none). */
  sparseSize?: string;
  /** -n: the target exists; do not create it. */
  noCreate?: boolean;
  /** -m: requests in flight (1 to 16, default 8). */
  parallel?: string;
  /** -W: allow out-of-order writes. */
  outOfOrder?: boolean;
  /** -B: backing file of the new target. */
  backing?: string;
  /** -F: format of that backing file. */
  backingFormat?: string;
  /** -U: do not lock the sources. */
  forceShare?: boolean;
  /** -t: cache mode of the target (default unsafe). */
  cache?: CacheMode;
  /** -T: cache mode of the sources (default writeback). */
  sourceCache?: CacheMode;
  targetIsZero?: boolean;
  quiet?: boolean;
}

/** qemu-img's IO_BUF_SIZE: the largest data chunk. */
const BUF_SIZE = 2 * 1024 * 1024;
/** qemu-img's MAX_BUF_SECTORS: the largest -S. */
const MAX_SPARSE = 16 * 1024 * 1024;
/** The longest zero or backing chunk handed out at once. */
const MAX_REQUEST = 1024 * 1024 * 1024;
const MAX_WORKERS = 16;

interface Chunk {
  pos: number;
  length: number;
  status: ConvertStatus;
}

export async function imgConvert(files: string[], opts: ConvertOptions): Promise<number> {
  if (files.length < 2) throw new UsageError('Must specify image file name');
  const sources = files.slice(0, -1);
  const target = files[files.length - 1]!;
  const outFormat = parseFormat(opts.outFormat ?? 'raw');
  const minSparse = parseSparse(opts.sparseSize);
  const workers = parseWorkers(opts.parallel);

  const options: Record<string, string> = {};
  for (const o of opts.options ?? []) Object.assign(options, parseOptionString(o));
  const backingFile = opts.backing ?? take(options, 'backing_file');
  const backingFormat = opts.backingFormat ?? take(options, 'backing_fmt');
  if (opts.noCreate && (opts.options?.length ?? 0) > 0) {
    throw new UsageError('-o has no effect when skipping image creation');
  }
  if (opts.targetIsZero && !opts.noCreate) throw new UsageError('--target-is-zero requires use of -n flag');
  if (backingFile !== undefined && sources.length > 1) {
    throw new UsageError(
      'Having a backing file for the target makes no sense when concatenating multiple input images',
    );
  }
  if (backingFile !== undefined && backingFormat === undefined && !opts.noCreate) {
    throw new UsageError('Use of backing file requires explicit backing format');
  }
  if (opts.compress && outFormat !== 'qcow2' && outFormat !== 'vmdk') {
    throw new BlockError('NOT_SUPPORTED', 'Compression not supported for this file format');
  }
  // A streamOptimized VMDK is written front to back (its grains are compressed and appended).
  const sequential = outFormat === 'vmdk' && options['subformat'] === 'streamOptimized';
  if (!opts.noCreate) refuseOverwritingASource(sources, target);

  const images: Image[] = [];
  let out: Image | undefined;
  try {
    for (const file of sources) {
      images.push(
        await openImage(file, {
          format: opts.format,
          readOnly: true,
          lock: !opts.forceShare,
          cache: opts.sourceCache ?? 'writeback',
          // The copy reads only what block status calls data: readahead past a data run would
          // read the hole after it (on the bench image, 0.6 GiB of zeroes for 1 GiB of data).
          readahead: false,
        }),
      );
    }
    const input = new ConcatenatedSources(images, backingFile !== undefined);
    if (!opts.noCreate) {
      await createImage(target, {
        format: outFormat,
        size: input.size,
        ...(backingFile !== undefined ? { backingFile, backingFormat: parseFormat(backingFormat!) } : {}),
        options,
      });
    }
    out = await openImage(target, {
      format: outFormat,
      cache: opts.cache ?? 'unsafe',
      // The writes go in order, one at a time: on the thread pool, each cost two wake-ups.
      writesOnLoop: true,
    });
    if (opts.noCreate && out.size < input.size)
      throw new UsageError('output file is smaller than input file');
    const copy = new ConvertCopy(input, out, {
      minSparse,
      workers,
      inOrder: !opts.outOfOrder || sequential,
      compress: (opts.compress ?? false) && outFormat === 'qcow2',
      targetHasBacking: backingFile !== undefined,
      targetIsNew: !opts.noCreate,
      targetIsZero: opts.targetIsZero ?? false,
      progress: new Progress((opts.progress ?? false) && !opts.quiet),
    });
    await copy.run(() => new ConcatenatedSources(images, backingFile !== undefined));
    const o = out;
    out = undefined;
    await o.close();
  } finally {
    if (out) await out.close().catch(() => undefined);
    for (const img of images) await img.close();
  }
  return 0;
}

function take(options: Record<string, string>, key: string): string | undefined {
  const v = options[key];
  delete options[key];
  return v;
}

/** -S in 512-byte sectors (qemu-img's min_sparse); 8 (4 KiB) by default. */
export function parseSparse(text: string | undefined): number {
  if (text === undefined) return 8;
  const bytes = parseSize(text, 'buffer size for sparse output');
  if (bytes % SECTOR !== 0 || bytes > MAX_SPARSE) {
    throw new UsageError(
      `Invalid buffer size for sparse output specified. Valid sizes are multiples of ${SECTOR} up to ` +
        `${MAX_SPARSE}. Select 0 to disable sparse detection (fully allocates output).`,
    );
  }
  return bytes / SECTOR;
}

function parseWorkers(text: string | undefined): number {
  if (text === undefined) return 8;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_WORKERS)) {
    throw new UsageError(
      `Invalid number of coroutines. Allowed number of coroutines is between 1 and ${MAX_WORKERS}`,
    );
  }
  return n;
}

/** Creating the target truncates it: never let that be one of the sources. */
function refuseOverwritingASource(sources: string[], target: string): void {
  let real: string;
  try {
    real = fs.realpathSync.native(target);
  } catch {
    return; // the target does not exist yet
  }
  for (const s of sources) {
    try {
      if (fs.realpathSync.native(s) === real) {
        throw new UsageError(`the target ${target} is also a source: converting it would destroy it`);
      }
    } catch (err) {
      if (err instanceof UsageError) throw err;
    }
  }
}

interface CopySettings {
  minSparse: number;
  workers: number;
  inOrder: boolean;
  compress: boolean;
  targetHasBacking: boolean;
  targetIsNew: boolean;
  targetIsZero: boolean;
  progress: Progress;
}

/** One copy from the concatenated sources to the opened target (qemu-img's ImgConvertState). */
class ConvertCopy {
  private readonly total: number;
  private hasZeroInit = false;
  private clusterSize = 0;
  private writeCompressed: ((offset: number, data: Buffer) => Promise<void>) | undefined;
  private targetBackingSize = -1;
  private alignment = 1;
  /** The target's copy-on-write unit (BlockCaps.preferredBlockSize). */
  private readonly targetBlock: number;
  /** Cached status of [.., statusEnd): qemu-img's sector_next_status. */
  private status: ConvertStatus = 'data';
  private statusEnd = 0;
  private next = 0;
  private readonly handOut = new Mutex();
  /** In-order writes: where the next write starts, and who waits for which offset. */
  private writtenTo = 0;
  private readonly waiting = new Map<number, () => void>();
  private failure: Error | undefined;
  private allocatedTotal = 0;
  private allocatedDone = 0;

  constructor(
    private input: ConcatenatedSources,
    private readonly target: Image,
    private readonly s: CopySettings,
  ) {
    this.total = input.size;
    this.targetBlock = target.caps.preferredBlockSize;
  }

  async run(freshInput: () => ConcatenatedSources): Promise<void> {
    const s = this.s;
    if (s.compress) {
      const q = asQcow2(this.target, 'compress');
      this.writeCompressed = (offset, data) => q.writeCompressed(offset, data);
      this.clusterSize = q.clusterSize;
      if (this.clusterSize > BUF_SIZE)
        throw new BlockError('INVALID', 'invalid cluster size for compression');
    }
    if (s.targetHasBacking) this.targetBackingSize = this.target.backing?.size ?? -1;
    // Write alignment for data runs: -S rounded down to a power of two, in sectors.
    this.alignment = Math.max(1, pow2floor(s.minSparse), Math.ceil(this.target.caps.minBlockSize / SECTOR));
    this.hasZeroInit = s.targetIsZero;
    if (!this.hasZeroInit && s.targetIsNew && s.minSparse > 0 && !s.targetHasBacking) this.hasZeroInit = true;
    if (!this.hasZeroInit && !s.targetHasBacking && s.minSparse > 0 && this.target.caps.canZero) {
      try {
        await this.target.writeZeroes(0, this.target.size, { mayUnmap: true, fast: true });
        this.hasZeroInit = true;
      } catch {
        // No quick way to zero it all: zero chunks are written as they come.
      }
    }

    if (s.progress.enabled) {
      // A first pass over the status, to weigh the progress by what has to be copied (only
      // worth its metadata reads when there is a progress line to print).
      for (let pos = 0; pos < this.total;) {
        const c = await this.iteration(pos);
        if (this.counts(c.status)) this.allocatedTotal += c.length;
        pos += c.length;
      }
      this.input = freshInput();
      this.statusEnd = 0;
    }
    s.progress.set(0);
    await Promise.all(Array.from({ length: s.workers }, () => this.worker()));
    if (this.failure) throw this.failure;
    s.progress.set(100);
    s.progress.end();
  }

  private counts(status: ConvertStatus): boolean {
    // qemu-img also counts zero chunks with -S 0; those are data chunks here.
    return status === 'data';
  }

  /** qemu-img's convert_iteration_sectors: the chunk that starts at `pos`. */
  private async iteration(pos: number): Promise<Chunk> {
    let n = Math.min(this.total - pos, MAX_REQUEST);
    let postBackingZero = false;
    if (this.targetBackingSize >= 0) {
      if (pos >= this.targetBackingSize) postBackingZero = true;
      else if (pos + n > this.targetBackingSize) n = this.targetBackingSize - pos;
    }
    if (this.statusEnd <= pos) {
      const run = await this.input.status(pos, n);
      n = run.length;
      this.status = run.status;
      if (run.status === 'zero') {
        // Past the end of the target's backing file the target reads zeroes anyway. With -S 0,
        // qemu-img 7.2 writes zero runs as data (the target ends up fully allocated).
        if (postBackingZero) this.status = 'backing';
        else if (this.s.minSparse === 0) this.status = 'data';
      }
      this.statusEnd = pos + n;
    }
    n = Math.min(n, this.statusEnd - pos);
    let status = this.status;
    if (status === 'data' && n > BUF_SIZE) {
      n = BUF_SIZE;
      // A run longer than the buffer is cut on a boundary of the target's blocks (qcow2
      // clusters, vmdk grains), so that the chunks after its first start on one: a chunk that
      // starts or ends inside a cluster costs the target a copy-on-write of that cluster, and a
      // second write for it. Not on a multiple of the buffer size (what qemu-img's chunks do
      // not do either): a 2 MiB write at a 2 MiB-aligned file offset makes the page cache
      // allocate one 2 MiB folio, which on the bench machine was up to 10x slower at random.
      const cut = alignDown(pos + n, this.targetBlock) - pos;
      if (cut > 0) n = cut;
    }
    if (this.s.compress) {
      const cs = this.clusterSize;
      if (n < cs) {
        n = Math.min(cs, this.total - pos);
        status = 'data';
      } else {
        n = alignDown(n, cs);
      }
    }
    return { pos, length: n, status };
  }

  private async worker(): Promise<void> {
    // Page-aligned: a plain 2 MiB Buffer starts 16 bytes into a page, and the kernel fills such a
    // buffer from the page cache about 5x slower (block/native.ts, pageAlignedBuffer).
    const buf = pageAlignedBuffer(BUF_SIZE);
    for (;;) {
      let chunk: Chunk;
      const release = await this.handOut.lock();
      try {
        if (this.failure || this.next >= this.total) return;
        chunk = await this.iteration(this.next);
        this.next += chunk.length;
      } catch (err) {
        this.fail(err, 'error while reading block status at byte', this.next);
        return;
      } finally {
        release();
      }
      const data = buf.subarray(0, chunk.status === 'data' ? chunk.length : 0);
      if (chunk.status === 'data') {
        try {
          await this.input.read(chunk.pos, data);
        } catch (err) {
          this.fail(err, 'error while reading at byte', chunk.pos);
          return;
        }
      }
      if (this.s.inOrder) await this.turn(chunk.pos);
      if (this.failure) return;
      try {
        await this.write(chunk, data);
      } catch (err) {
        this.fail(err, 'error while writing at byte', chunk.pos);
        return;
      }
      if (this.s.inOrder) {
        this.writtenTo = chunk.pos + chunk.length;
        this.waiting.get(this.writtenTo)?.();
      }
      if (this.counts(chunk.status)) {
        this.allocatedDone += chunk.length;
        this.s.progress.set((100 * this.allocatedDone) / this.allocatedTotal);
      }
    }
  }

  /** Waits until every write before `pos` has completed. */
  private async turn(pos: number): Promise<void> {
    while (this.writtenTo !== pos && !this.failure) {
      await new Promise<void>((resolve) => this.waiting.set(pos, resolve));
      this.waiting.delete(pos);
    }
  }

  private fail(err: unknown, what: string, pos: number): void {
    if (!this.failure) {
      const code = err instanceof BlockError ? err.code : 'IO';
      this.failure = new BlockError(code, `${what} ${pos}: ${errorMessage(err)}`, { cause: err });
    }
    for (const wake of this.waiting.values()) wake();
  }

  /** qemu-img's convert_co_write. */
  private async write(chunk: Chunk, data: Buffer): Promise<void> {
    switch (chunk.status) {
      case 'backing':
        return;
      case 'zero':
        return this.zero(chunk.pos, chunk.length);
      case 'data':
        if (this.writeCompressed) return this.writeClusters(chunk.pos, data);
        if (this.s.minSparse === 0) return this.target.write(chunk.pos, data);
        return this.writeSparse(chunk.pos, data);
    }
  }

  private async zero(pos: number, length: number): Promise<void> {
    if (this.hasZeroInit) return;
    await this.target.writeZeroes(pos, length, { mayUnmap: this.s.minSparse > 0 });
  }

  /** Writes the data runs of `data` and treats its long zero runs as zero chunks. */
  private async writeSparse(pos: number, data: Buffer): Promise<void> {
    const sectors = Math.ceil(data.length / SECTOR);
    for (let done = 0; done < sectors;) {
      const run = allocatedRun(
        data.subarray(done * SECTOR),
        sectors - done,
        this.s.minSparse,
        pos / SECTOR + done,
        this.alignment,
      );
      const from = done * SECTOR;
      const to = Math.min(data.length, (done + run.sectors) * SECTOR);
      if (run.allocated) await this.target.write(pos + from, data.subarray(from, to));
      else await this.zero(pos + from, to - from);
      done += run.sectors;
    }
  }

  /** Compressed clusters, one at a time; all-zero clusters are zero chunks. */
  private async writeClusters(pos: number, data: Buffer): Promise<void> {
    const cs = this.clusterSize;
    for (let off = 0; off < data.length; off += cs) {
      const cluster = data.subarray(off, Math.min(data.length, off + cs));
      if (this.s.minSparse > 0 && isZero(cluster)) await this.zero(pos + off, cluster.length);
      else await this.writeCompressed!(pos + off, cluster);
    }
  }
}
