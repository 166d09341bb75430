/**
 * Loader for the native helper (native/vdisk_native.c), built by node-gyp at install time.
 * It provides what Node's fs lacks: aligned buffers for O_DIRECT, fallocate, SEEK_DATA/SEEK_HOLE,
 * open-file-description locks and the io_uring / Linux AIO engines.
 */
import { createRequire } from 'node:module';
import type net from 'node:net';
import { BlockError } from '../util/index.js';

export interface NativeHelper {
  allocAligned(size: number, align: number): ArrayBuffer;
  /** The address of the buffer's first byte modulo `align`. Absent in an older helper. */
  pageOffset?(buf: Uint8Array, align: number): number;
  fallocate(fd: number, mode: number, offset: number, length: number): Promise<void>;
  /** whence 3 = SEEK_DATA, 4 = SEEK_HOLE; returns -1 when there is no data past offset (ENXIO). */
  seek(fd: number, offset: number, whence: 3 | 4): number;
  /** posix_fadvise(POSIX_FADV_RANDOM): no readahead past what is read. Absent in an older helper. */
  fadviseRandom?(fd: number): void;
  ofdLock(fd: number, offset: number, exclusive: boolean): boolean;
  ofdUnlock(fd: number, offset: number): void;
  ofdTest(fd: number, offset: number): boolean;
  /**
   * statx(STATX_DIOALIGN): direct I/O alignment of the open file, zeroes when the file system
   * does not do direct I/O on it, null when it cannot say (old kernel, tmpfs). Absent in a
   * helper built before it was added.
   */
  dioAlign?(fd: number): { memAlign: number; offsetAlign: number } | null;
  /**
   * preadv2/pwritev2 with RWF_NOWAIT, synchronously: bytes transferred, -1 when the transfer
   * would wait for the disk (or the file system cannot tell, or it failed), -2 when the file
   * system never supports it in this direction (EOPNOTSUPP: ext4 for buffered writes). Absent
   * in a helper built before they were added.
   */
  readNowait?(fd: number, buf: Buffer, offset: number): number;
  writeNowait?(fd: number, buf: Buffer, offset: number): number;
  /** The io_uring / Linux AIO engines (native/aio_engine.c; used by aio.ts). */
  aioCreate?(
    kind: 'io_uring' | 'native',
    depth: number,
    results: Int32Array,
    onComplete: (count: number) => void,
  ): unknown;
  aioSubmit?(
    engine: unknown,
    op: number,
    fd: number,
    buf: Buffer | null,
    pos: number,
    id: number,
    rwFlags: number,
  ): number;
  aioClose?(engine: unknown): void;
  /**
   * File-to-socket read replies with sendfile(2) (native/sendfile.c; used by file-sender.ts).
   * sendFile returns 0 (sent), a negative errno (the stream is lost), or null: the rest goes
   * later, and onSent gets the code. Absent in an older helper.
   */
  sendFileOpen?(socketFd: number, onSent: (code: number) => void): unknown;
  sendFile?(sender: unknown, header: Buffer, fileFd: number, position: number, length: number): number | null;
  sendFileClose?(sender: unknown): void;
  /**
   * TCP_CONGESTION of a socket: sets it when `name` is given (1 to 15 bytes, else EINVAL);
   * returns the name in use.
   */
  tcpCongestion?(socketFd: number, name?: string): string;
}

/** fallocate(2) modes. */
export const FALLOC = {
  KEEP_SIZE: 0x01,
  PUNCH_HOLE: 0x02,
  ZERO_RANGE: 0x10,
} as const;

export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

let cached: NativeHelper | undefined;

export function native(): NativeHelper {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  // From dist/src/block/native.js (tests), or from the chunk of dist/bundle/ that holds this code
  // (the `vdisk` command, scripts/bundle.mjs).
  const candidates = ['../../../build/Release/vdisk_native.node', '../../build/Release/vdisk_native.node'];
  for (const c of candidates) {
    try {
      const mod = require(c) as Record<string, unknown>;
      // A plain, writable copy of the addon's (read-only) exports, so that a test can stand in
      // for one primitive, e.g. remove dioAlign to exercise the path of kernels without it.
      cached = Object.fromEntries(
        Object.getOwnPropertyNames(mod).map((k) => [k, mod[k]]),
      ) as unknown as NativeHelper;
      return cached;
    } catch (err) {
      if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  throw new BlockError('NOT_SUPPORTED', 'the native helper is not built: run `npm ci` (it runs node-gyp)');
}

/** An aligned, zero-filled Buffer suitable for O_DIRECT I/O. */
export function alignedBuffer(size: number, align: number): Buffer {
  return Buffer.from(native().allocAligned(size, align));
}

const PAGE = 4096;

/**
 * An uninitialised Buffer of `size` bytes that starts on a page boundary, carved from an ordinary
 * Node allocation (garbage collected, counted by V8 like any Buffer). Large Node Buffers of a
 * fresh process start 16 bytes into a page (malloc's header on an mmap'd chunk), and the kernel's
 * copy from the page cache into a buffer at that offset measured about 5x slower than into a
 * page-aligned one (`npm run bench -- aio`: about 400-480 against 72-100 ms per GiB; offsets 64 and
 * 2832 were as fast as 0). Buffers that large reads fill should come from here.
 */
export function pageAlignedBuffer(size: number): Buffer {
  const raw = Buffer.allocUnsafeSlow(size + PAGE - 1);
  const mod = native().pageOffset?.(raw, PAGE) ?? 0;
  const skip = (PAGE - mod) % PAGE;
  return raw.subarray(skip, skip + size);
}

/**
 * The descriptor under a Node socket or server, for the native helper: undefined when it has none
 * (not yet connected or listening, or closed).
 */
export function socketFd(handleOwner: net.Socket | net.Server): number | undefined {
  const fd = (handleOwner as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
