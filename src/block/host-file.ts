/**
 * The host-file leaf: a regular file (or block device) as a BlockDevice, honouring the cache
 * mode's three flags (cache-mode.ts) and holding the QEMU-compatible image lock (image-lock.ts).
 *
 * O_DIRECT needs the buffer address, the file offset and the length aligned to the logical block
 * size. A transfer whose three are aligned goes straight between the caller's buffer and the
 * file: the buffers of the data path start on a page (page-slabs.ts, pageAlignedBuffer). Any other
 * goes through a bounce buffer from the native helper's aligned allocator, since a Node Buffer
 * gives no address guarantee. Unaligned writes become read-modify-write of
 * the covering blocks, serialised against overlapping writes by a range lock (an aligned write
 * takes the range shared, a read-modify-write takes it exclusive), so no update is lost.
 *
 * Reads past the end of the file return zeroes; formats rely on that for clusters at the tail.
 *
 * `length` is the file's logical size. A direct write past the end reserves its new end in
 * `length` before any I/O, and a padded tail block is cut back to `length` (never to this write's
 * own end), so a concurrent extending write's data is never truncated away.
 *
 * Small transfers (up to NOWAIT_MAX bytes, not direct; writes on tmpfs up to IN_MEMORY_WRITE_MAX)
 * first try to complete at once on the event loop, without a thread-pool round trip: on tmpfs,
 * where the page cache is the storage and nothing waits for a disk, with plain pread/pwrite;
 * elsewhere, with preadv2/pwritev2(RWF_NOWAIT), which copy from or to the page cache and refuse
 * (-1) when they would have to wait for the disk. A file system that never does it for a
 * direction (ext4 for buffered writes: EOPNOTSUPP) is not asked again for that file.
 * Whatever they do not finish goes to the thread pool as before, so a slow disk never stalls the
 * event loop. Writes in writethrough mode always take the thread pool (O_DSYNC waits). A file
 * opened with `writesOnLoop` (img convert's target) writes every buffered write with plain pwrite
 * on the event loop, whatever its size.
 *
 * Transfers that do not finish at once run on the file's I/O engine (aio.ts: the thread pool,
 * io_uring or Linux AIO, QEMU's aio=threads|io_uring|native).
 *
 * Every request counts itself in flight; `close` refuses new requests, waits for those in flight,
 * then flushes and closes the descriptor (a request still queued on the thread pool must never
 * reach a descriptor number that the process has meanwhile reused for another file).
 */
import fs from 'node:fs';
import { alignDown, alignUp, BlockError, fromSystemError, RangeLock } from '../util/index.js';
import { cacheFlags, type CacheFlags, type CacheMode } from './cache-mode.js';
import {
  checkRange,
  checkWritable,
  type BlockCaps,
  type BlockDevice,
  type Extent,
  type HostReadSource,
  type WriteOptions,
  type ZeroOptions,
} from './device.js';
import { aioEngine, type AioEngine, type AioMode } from './aio.js';
import { acquireImageLock, releaseImageLock } from './image-lock.js';
import { alignedBuffer, FALLOC, native, SEEK_DATA, SEEK_HOLE } from './native.js';

export interface HostFileOptions {
  readOnly?: boolean;
  cache?: CacheMode;
  /** The I/O engine (aio.ts): threads (default), io_uring, or native (direct cache modes only). */
  aio?: AioMode;
  /** Take the image lock (default true). */
  lock?: boolean;
  /** Create the file if it does not exist (fails if it does, unless `truncate`). */
  create?: boolean;
  truncate?: boolean;
  /**
   * Readahead past what is read (default true). False (POSIX_FADV_RANDOM) suits a reader that
   * follows block status, as convert does: on a sparse file, readahead past a data run reads the
   * hole after it, zero-filling page cache that nobody asked for.
   */
  readahead?: boolean;
  /**
   * Buffered writes of any size run on the calling thread, with pwrite (default false). For a
   * batch copy that owns its event loop and writes in order (img convert): each thread-pool round
   * trip on that one-at-a-time path costs a wake-up of a pool thread and one of the loop, which
   * were a fifth of a warm raw -> qcow2 convert. A server never sets it: a write that waits for
   * dirty pages to be written back would stall every other client. Direct and writethrough
   * files ignore it (those writes wait for the disk).
   */
  writesOnLoop?: boolean;
}

const MAX_TRANSFER = 32 * 1024 * 1024;

/** Transfers up to this size try the event loop first (see the file comment). */
const NOWAIT_MAX = 64 * 1024;
/**
 * Writes to a file on tmpfs up to this size run on the event loop. Writes to one file serialise
 * on its inode lock in the kernel, so the thread pool cannot overlap them; it only adds a hand-off
 * (bench nbd, 1 MiB writes at QD8 on tmpfs: 2.1-2.5 GB/s through the pool, 3.0-3.2 GB/s here).
 */
const IN_MEMORY_WRITE_MAX = 1024 * 1024;

const DONE: Promise<void> = Promise.resolve();

/** statfs f_type of tmpfs: accepts O_DIRECT since Linux 6.6 but still goes through the page cache. */
const TMPFS_MAGIC = 0x01021994;

export class HostFile implements BlockDevice {
  readonly path: string;
  readonly flags: CacheFlags;
  readonly caps: BlockCaps;
  /** Alignment of offsets, lengths and buffers for direct I/O (1 when not direct). */
  readonly align: number;
  readonly aio: AioEngine;
  private fd: number;
  private length: number;
  private readonly rmw = new RangeLock();
  private closed = false;
  /** On tmpfs: a small transfer is a memory copy and may run on the event loop. */
  private readonly inMemory: boolean;
  /** HostFileOptions.writesOnLoop, for a buffered file that is not writethrough. */
  private readonly writesOnLoop: boolean;
  /** Cleared when the file system answers EOPNOTSUPP to RWF_NOWAIT: it never will do it. */
  private nowaitReads = true;
  private nowaitWrites = true;
  /** Cleared when the file system refuses FALLOC_FL_ZERO_RANGE (tmpfs does). */
  private zeroRangeWorks = true;
  private closing: Promise<void> | undefined;
  private inflight = 0;
  private drained: (() => void) | undefined;

  private constructor(
    path: string,
    fd: number,
    length: number,
    flags: CacheFlags,
    readOnly: boolean,
    align: number,
    aio: AioEngine,
    writesOnLoop: boolean,
  ) {
    this.path = path;
    this.aio = aio;
    this.fd = fd;
    this.length = length;
    this.flags = flags;
    this.align = align;
    this.inMemory = align === 1 && onTmpfs(path);
    this.writesOnLoop = writesOnLoop && align === 1 && !flags.writethrough;
    this.caps = {
      readOnly,
      canFlush: !flags.noFlush,
      canFua: true,
      canDiscard: !readOnly,
      canZero: !readOnly,
      rotational: false,
      minBlockSize: 1,
      preferredBlockSize: 4096,
      maxTransfer: MAX_TRANSFER,
    };
  }

  static async open(path: string, opts: HostFileOptions = {}): Promise<HostFile> {
    const readOnly = opts.readOnly ?? false;
    const flags = cacheFlags(opts.cache ?? 'writeback');
    const C = fs.constants;
    const mode = opts.cache ?? 'writeback';
    if (opts.aio === 'native' && !flags.direct) {
      throw new BlockError(
        'INVALID',
        `aio=native requires a direct cache mode (cache=none or directsync), not cache=${mode}: ` +
          'Linux AIO is only asynchronous for O_DIRECT',
      );
    }
    const aio = aioEngine(opts.aio ?? 'threads');
    let oflags = readOnly ? C.O_RDONLY : C.O_RDWR;
    if (opts.create) oflags |= C.O_CREAT | (opts.truncate ? C.O_TRUNC : C.O_EXCL);
    if (flags.writethrough) oflags |= C.O_DSYNC;
    if (flags.direct) oflags |= C.O_DIRECT;
    let fd: number;
    try {
      fd = fs.openSync(path, oflags, 0o644);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (flags.direct && code === 'EINVAL') {
        throw new BlockError('NOT_SUPPORTED', noDirectIo(path, mode, 'its file system rejects O_DIRECT'), {
          cause: err,
        });
      }
      throw fromSystemError(err, `cannot open ${path}`);
    }
    try {
      const st = fs.fstatSync(fd);
      if (st.isDirectory()) throw new BlockError('INVALID', `${path} is a directory`);
      const length = st.isBlockDevice() ? blockDeviceSize(fd) : st.size;
      const align = flags.direct ? directAlignment(fd, path, mode, st) : 1;
      if (opts.lock ?? true) acquireImageLock(fd, path, !readOnly);
      if (opts.readahead === false) native().fadviseRandom?.(fd);
      return new HostFile(path, fd, length, flags, readOnly, align, aio, opts.writesOnLoop ?? false);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  get size(): number {
    return this.length;
  }

  /** The raw file descriptor, for the few callers that need it (tests, diagnostics). */
  get descriptor(): number {
    return this.fd;
  }

  read(offset: number, buf: Buffer): Promise<void> {
    try {
      checkRange(this, offset, buf.length);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.pread(offset, buf);
  }

  write(offset: number, data: Buffer, opts?: WriteOptions): Promise<void> {
    try {
      checkWritable(this);
      checkRange(this, offset, data.length);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.pwrite(offset, data, opts);
  }

  /**
   * Reads at any offset; bytes past the end of the file read as zeroes. A small read that
   * completes at once on the event loop (see the file comment) settles here, without the async
   * frames of track/doRead/readFully: on tmpfs they cost as much as the read.
   */
  pread(offset: number, buf: Buffer): Promise<void> {
    let done = 0;
    if (!this.closed && this.readsNow(buf.length)) {
      done = this.readNow(buf, offset);
      if (done === 0) {
        buf.fill(0); // end of file
        return DONE;
      }
      if (done === buf.length) return DONE;
      done = Math.max(0, done);
    }
    return this.track(() => this.doRead(offset, buf, done));
  }

  /**
   * Writes at any offset, extending the file when the write goes past its end. As in pread, a
   * small write that completes at once settles here (unless FUA asks for a flush).
   */
  pwrite(offset: number, data: Buffer, opts?: WriteOptions): Promise<void> {
    let done = 0;
    if (!this.closed && this.writesNow(data.length)) {
      done = Math.max(0, this.writeNow(data, offset));
      if (done === data.length && !opts?.fua) {
        if (offset + done > this.length) this.length = offset + done;
        return DONE;
      }
    }
    return this.track(() => this.doWrite(offset, data, opts, done));
  }

  /**
   * The file itself as the source of a read (device.ts), when the file is on tmpfs, read through
   * the page cache (no O_DIRECT), holds the whole range, and has no holes at all: then every
   * byte of it is data, and a reply that carries it needs no hole chunks. (Finding the holes of
   * one range costs a SEEK_HOLE, which on tmpfs scans on to the end of the data; a file whose
   * allocated blocks cover its size has none, and fstat says so.) Counted in flight until
   * `finish`.
   */
  readSource(offset: number, length: number): HostReadSource | undefined {
    if (this.closed || !this.inMemory || this.flags.direct || length <= 0) return undefined;
    if (offset + length > this.length) return undefined;
    try {
      const st = fs.fstatSync(this.fd);
      if (st.blocks * 512 < st.size) return undefined;
    } catch {
      return undefined;
    }
    return this.lend(offset);
  }

  /** The descriptor at `position` for a caller's own I/O, counted in flight until `finish`. */
  private lend(position: number): HostReadSource {
    this.inflight++;
    let finished = false;
    return {
      fd: this.fd,
      position,
      finish: () => {
        if (finished) return;
        finished = true;
        this.untrack();
      },
    };
  }

  /** One request in flight is done; the last one lets a waiting `close` go on. */
  private untrack(): void {
    if (--this.inflight === 0 && this.drained) this.drained();
  }

  /** Runs one request, counted in flight so that `close` can wait for it. */
  private async track<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new BlockError('IO', `${this.path} is closed`);
    this.inflight++;
    try {
      return await fn();
    } finally {
      this.untrack();
    }
  }

  /** `done`: bytes pread already read at once (only when not direct). */
  private async doRead(offset: number, buf: Buffer, done = 0): Promise<void> {
    if (buf.length === 0) return;
    if (this.align > 1 && !(offset % this.align === 0 && buf.length % this.align === 0)) {
      const start = alignDown(offset, this.align);
      const end = alignUp(offset + buf.length, this.align);
      const bounce = alignedBuffer(end - start, this.align);
      await this.readFully(bounce, start);
      bounce.copy(buf, 0, offset - start, offset - start + buf.length);
      return;
    }
    if (this.align > 1 && !this.addressAligned(buf)) {
      const bounce = alignedBuffer(buf.length, this.align);
      await this.readFully(bounce, offset);
      bounce.copy(buf);
      return;
    }
    await this.readFully(buf, offset, done);
  }

  /** Reads `buf` from `pos` on the I/O engine, from byte `done` on; zeroes past the end of file. */
  private async readFully(buf: Buffer, pos: number, done = 0): Promise<void> {
    try {
      while (done < buf.length) {
        const n = await this.aio.read(this.fd, done === 0 ? buf : buf.subarray(done), pos + done);
        // With O_DIRECT a short read ends at the end of the file, inside a block: the next read
        // would start unaligned (EINVAL), and there is nothing more to read anyway.
        if (n === 0 || (this.align > 1 && (pos + done + n) % this.align !== 0)) {
          buf.fill(0, done + n);
          return;
        }
        done += n;
      }
    } catch (err) {
      throw fromSystemError(err, `read of ${this.path} at ${pos + done} failed`);
    }
  }

  /** Writes `buf` at `pos` on the I/O engine, from byte `done` on. */
  private async writeFully(buf: Buffer, pos: number, done = 0): Promise<void> {
    try {
      while (done < buf.length) {
        done += await this.aio.write(this.fd, done === 0 ? buf : buf.subarray(done), pos + done);
      }
    } catch (err) {
      throw fromSystemError(err, `write to ${this.path} at ${pos + done} failed`);
    }
  }

  /** Bytes read at once without waiting for a disk, 0 at the end of the file, -1 for none. */
  private readNow(buf: Buffer, pos: number): number {
    try {
      if (this.inMemory) return fs.readSync(this.fd, buf, 0, buf.length, pos);
      const n = native().readNowait?.(this.fd, buf, pos) ?? -2;
      if (n === -2) this.nowaitReads = false;
      return Math.max(n, -1);
    } catch {
      return -1; // the thread pool repeats it and reports the error
    }
  }

  /** Whether a read of `n` bytes tries the event loop first (see the file comment). */
  private readsNow(n: number): boolean {
    return n > 0 && n <= NOWAIT_MAX && this.align === 1 && this.nowaitReads;
  }

  /** Whether a write of `n` bytes tries the event loop first (see the file comment). */
  private writesNow(n: number): boolean {
    if (this.writesOnLoop) return n > 0;
    return (
      n > 0 &&
      n <= (this.inMemory ? IN_MEMORY_WRITE_MAX : NOWAIT_MAX) &&
      this.align === 1 &&
      !this.flags.writethrough &&
      (this.inMemory || this.nowaitWrites)
    );
  }

  /**
   * Bytes written at once without waiting for a disk, or -1. ext4 answers EOPNOTSUPP to every
   * buffered RWF_NOWAIT write; after the first, writes on such a file go straight to the engine
   * (asking every time had cost a failed system call per small write).
   */
  private writeNow(buf: Buffer, pos: number): number {
    try {
      if (this.inMemory || this.writesOnLoop) return fs.writeSync(this.fd, buf, 0, buf.length, pos);
      const n = native().writeNowait?.(this.fd, buf, pos) ?? -2;
      if (n === -2) this.nowaitWrites = false;
      return Math.max(n, -1);
    } catch {
      return -1;
    }
  }

  /** `done`: bytes pwrite already wrote at once (only when not direct). */
  private async doWrite(offset: number, data: Buffer, opts?: WriteOptions, done = 0): Promise<void> {
    if (data.length === 0) return;
    if (this.align === 1) {
      await this.writeFully(data, offset, done);
      if (offset + data.length > this.length) this.length = offset + data.length;
    } else {
      await this.directWrite(offset, data);
    }
    if (opts?.fua && !this.flags.writethrough) await this.doFlush();
  }

  private async directWrite(offset: number, data: Buffer): Promise<void> {
    const a = this.align;
    const start = alignDown(offset, a);
    const end = alignUp(offset + data.length, a);
    const aligned = start === offset && end === offset + data.length;
    // Reserve the new end before any await: a concurrent padded write cuts the file back to
    // `length`, and must not cut off this write's data.
    if (offset + data.length > this.length) this.length = offset + data.length;
    const release = await this.rmw.acquire(start, end, !aligned);
    try {
      if (aligned && this.addressAligned(data)) {
        await this.writeFully(data, start);
        return;
      }
      const bounce = alignedBuffer(end - start, a);
      if (!aligned) {
        // Read-modify-write the partial head and tail blocks.
        await this.readFully(bounce.subarray(0, a), start);
        if (end - a > start) await this.readFully(bounce.subarray(end - start - a), end - a);
      }
      data.copy(bounce, offset - start);
      await this.writeFully(bounce, start);
      // A padded tail block must not grow the file past its logical end.
      if (end > this.length) {
        try {
          fs.ftruncateSync(this.fd, this.length);
        } catch (err) {
          throw fromSystemError(err, `truncate of ${this.path} failed`);
        }
      }
    } finally {
      release();
    }
  }

  /** Whether O_DIRECT takes `buf` where it is (an older helper cannot tell: then it never does). */
  private addressAligned(buf: Buffer): boolean {
    return (native().pageOffset?.(buf, this.align) ?? -1) === 0;
  }

  async flush(): Promise<void> {
    return this.track(() => this.doFlush());
  }

  private async doFlush(): Promise<void> {
    if (this.flags.noFlush || this.caps.readOnly) return;
    try {
      await this.aio.fdatasync(this.fd);
    } catch (err) {
      throw fromSystemError(err, `flush of ${this.path} failed`);
    }
  }

  /** Releases the host blocks of the range (punch hole). Best effort: unsupported is not an error. */
  async discard(offset: number, length: number): Promise<void> {
    checkWritable(this);
    checkRange(this, offset, length);
    if (length === 0) return;
    return this.track(async () => {
      try {
        await native().fallocate(this.fd, FALLOC.PUNCH_HOLE | FALLOC.KEEP_SIZE, offset, length);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'EOPNOTSUPP') throw fromSystemError(err, `discard on ${this.path} failed`);
      }
    });
  }

  async writeZeroes(offset: number, length: number, opts?: ZeroOptions): Promise<void> {
    checkWritable(this);
    checkRange(this, offset, length);
    return this.track(() => this.doZeroRange(offset, length, opts));
  }

  /** Zeroes a host range at any offset (may extend the file). */
  async zeroRange(offset: number, length: number, opts?: ZeroOptions): Promise<void> {
    return this.track(() => this.doZeroRange(offset, length, opts));
  }

  /**
   * Whether zeroRange is a metadata operation here (FALLOC_FL_ZERO_RANGE), not a write of zero
   * bytes. True until the file system has refused it once.
   */
  get zeroesQuickly(): boolean {
    return this.zeroRangeWorks;
  }

  private async doZeroRange(offset: number, length: number, opts?: ZeroOptions): Promise<void> {
    if (length === 0) return;
    const within = offset + length <= this.length;
    // Reserve the new end first, like directWrite: a padded direct write cuts back to `length`.
    if (!within) this.length = offset + length;
    const punch = opts?.mayUnmap === true && within;
    if (punch || this.zeroRangeWorks) {
      const mode = punch
        ? FALLOC.PUNCH_HOLE | FALLOC.KEEP_SIZE
        : FALLOC.ZERO_RANGE | (within ? FALLOC.KEEP_SIZE : 0);
      try {
        await native().fallocate(this.fd, mode, offset, length);
        if (opts?.fua && !this.flags.writethrough) await this.doFlush();
        return;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'EOPNOTSUPP') throw fromSystemError(err, `write zeroes on ${this.path} failed`);
        if (!punch) this.zeroRangeWorks = false;
      }
    }
    if (opts?.fast)
      throw new BlockError('NOT_SUPPORTED', 'fast zeroing is not supported by the host file system');
    await this.writeZeroBytes(offset, length);
    if (opts?.fua && !this.flags.writethrough) await this.doFlush();
  }

  private async writeZeroBytes(offset: number, length: number): Promise<void> {
    const chunk = Buffer.alloc(Math.min(length, 1024 * 1024));
    for (let done = 0; done < length; done += chunk.length) {
      const n = Math.min(chunk.length, length - done);
      await this.doWrite(offset + done, chunk.subarray(0, n));
    }
  }

  /** Data and holes of the host file, from SEEK_DATA / SEEK_HOLE. */
  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    checkRange(this, offset, length);
    if (this.closed) throw new BlockError('IO', `${this.path} is closed`);
    const out: Extent[] = [];
    const end = offset + length;
    const n = native();
    let pos = offset;
    const push = (len: number, data: boolean): void => {
      const last = out[out.length - 1];
      if (last && last.data === data) {
        last.length += len;
        return;
      }
      out.push({
        offset: pos,
        length: len,
        data,
        zero: !data,
        present: true,
        depth: 0,
        hostOffset: pos,
        hostFile: this.path,
      });
    };
    while (pos < end) {
      let dataStart: number;
      try {
        dataStart = n.seek(this.fd, pos, SEEK_DATA);
      } catch {
        // No SEEK_DATA support: report everything as data.
        push(end - pos, true);
        break;
      }
      if (dataStart < 0 || dataStart >= end) {
        push(end - pos, false);
        break;
      }
      if (dataStart > pos) {
        push(dataStart - pos, false);
        pos = dataStart;
      }
      let holeStart = n.seek(this.fd, pos, SEEK_HOLE);
      // A hole at pos can only appear if the range was punched between the two seeks; a
      // data extent of at least one byte keeps the loop moving.
      if (holeStart < 0 || holeStart > end) holeStart = end;
      if (holeStart <= pos) holeStart = pos + 1;
      push(holeStart - pos, true);
      pos = holeStart;
    }
    return out;
  }

  /** Sets the file length. Growing extends with a hole unless preallocation is asked for. */
  async truncate(length: number, prealloc: 'off' | 'falloc' | 'full' = 'off'): Promise<void> {
    checkWritable(this);
    return this.track(async () => {
      const old = this.length;
      try {
        if (prealloc === 'full' && length > old) {
          await this.writeZeroBytes(old, length - old);
        } else {
          fs.ftruncateSync(this.fd, length);
          if (prealloc === 'falloc' && length > old) await native().fallocate(this.fd, 0, old, length - old);
        }
      } catch (err) {
        throw fromSystemError(err, `resize of ${this.path} failed`);
      }
      this.length = length;
    });
  }

  /** Allocates host blocks for [offset, offset+length) without changing their contents. */
  async allocate(offset: number, length: number): Promise<void> {
    return this.track(async () => {
      try {
        await native().fallocate(this.fd, 0, offset, length);
      } catch (err) {
        throw fromSystemError(err, `preallocation of ${this.path} failed`);
      }
      if (offset + length > this.length) this.length = offset + length;
    });
  }

  /** Bytes the file occupies on the host (st_blocks * 512), qemu-img's "actual-size". */
  allocatedBytes(): number {
    return fs.fstatSync(this.fd).blocks * 512;
  }

  /** Refuses new requests, waits for the ones in flight, flushes and releases lock and descriptor. */
  async close(): Promise<void> {
    // A second caller waits for the same close instead of returning while it is still running.
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    if (this.inflight > 0) {
      await new Promise<void>((resolve) => {
        this.drained = resolve;
      });
    }
    try {
      if (!this.caps.readOnly) await this.doFlush();
    } finally {
      try {
        releaseImageLock(this.fd);
      } catch {
        // Closing the descriptor drops the locks anyway.
      }
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

function onTmpfs(path: string): boolean {
  try {
    return fs.statfsSync(path).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

function blockDeviceSize(fd: number): number {
  // lseek to the end gives a block device's size.
  const n = native().seek(fd, 0, SEEK_HOLE);
  return n < 0 ? 0 : n;
}

function noDirectIo(path: string, mode: CacheMode, why: string): string {
  return (
    `cannot open ${path} with cache=${mode}: ${why}, so the host page cache cannot be bypassed ` +
    `(O_DIRECT); use cache=writeback or cache=writethrough on this file system`
  );
}

/**
 * The alignment direct I/O needs on this file (offsets, lengths and buffer addresses), or a
 * NOT_SUPPORTED error when direct I/O would not really bypass the page cache. Never degrades
 * silently (DESIGN.md: "If a mode cannot be honoured on this host, opening fails loudly").
 */
function directAlignment(fd: number, path: string, mode: CacheMode, st: fs.Stats): number {
  const dio = native().dioAlign?.(fd) ?? null;
  if (dio) {
    if (dio.offsetAlign === 0) {
      throw new BlockError(
        'NOT_SUPPORTED',
        noDirectIo(path, mode, 'its file system does not support direct I/O on this file'),
      );
    }
    return Math.max(dio.offsetAlign, dio.memAlign, 1);
  }
  // The kernel cannot tell (before Linux 6.1, or tmpfs): check the file system, then probe.
  if (st.isFile()) {
    let type: number | undefined;
    try {
      type = fs.statfsSync(path).type;
    } catch {
      type = undefined;
    }
    if (type === TMPFS_MAGIC) {
      throw new BlockError(
        'NOT_SUPPORTED',
        noDirectIo(path, mode, 'it is on tmpfs, which accepts O_DIRECT but serves it from the page cache'),
      );
    }
  }
  return probeDirectAlignment(fd, path);
}

/**
 * The smallest alignment a direct read at offset 0 accepts: 512 or 4096 bytes. An empty file
 * proves nothing (a read at the end of the file succeeds before any alignment check), so then
 * the answer is 4096, which every device accepts (QEMU does the same).
 */
function probeDirectAlignment(fd: number, path: string): number {
  for (const a of [512, 4096]) {
    const buf = alignedBuffer(a, 4096);
    try {
      const n = fs.readSync(fd, buf, 0, a, 0);
      return n === 0 ? 4096 : a;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EINVAL') throw fromSystemError(err, `cannot read ${path}`);
    }
  }
  throw new BlockError('NOT_SUPPORTED', `cannot do direct I/O on ${path}: no usable alignment`);
}
