/**
 * The one interface every layer above block/ talks to (DESIGN.md, "Layers").
 *
 * Offsets and lengths are byte counts in the device's guest address space. Callers validate
 * requests at the edge (range, alignment) with `checkRange`; implementations may assert.
 * Capabilities are computed once at open and never change while the device is open, so that
 * NBD export flags and SCSI VPD pages derived from them can never disagree.
 */
import { BlockError } from '../util/index.js';

export interface BlockCaps {
  /** Writes, discards, zeroes and resizes are refused with READ_ONLY. */
  readonly readOnly: boolean;
  /** A flush does real work (false in cache=unsafe, where flush is a no-op). */
  readonly canFlush: boolean;
  /** Per-write FUA is honoured (emulated by a flush when the host has no FUA). */
  readonly canFua: boolean;
  /** discard() may release storage. */
  readonly canDiscard: boolean;
  /** writeZeroes() is efficient (no data written for the whole range). */
  readonly canZero: boolean;
  /** Data lives on spinning media (raw files on a rotational disk). */
  readonly rotational: boolean;
  /** Requests must be aligned to this (1 = byte granular). */
  readonly minBlockSize: number;
  /** The size below which requests cost read-modify-write or COW. */
  readonly preferredBlockSize: number;
  /** The largest single request the device takes. */
  readonly maxTransfer: number;
}

export interface WriteOptions {
  /** Force Unit Access: the data is durable before the promise resolves. */
  fua?: boolean;
}

export interface ZeroOptions extends WriteOptions {
  /** The range may be deallocated (reads still return zeroes). NBD's !NO_HOLE, SCSI's UNMAP bit. */
  mayUnmap?: boolean;
  /** Fail with NOT_SUPPORTED instead of writing zero bytes slowly. NBD's FAST_ZERO. */
  fast?: boolean;
}

/** One run of guest bytes with the same allocation state (qemu-img map's fields). */
export interface Extent {
  offset: number;
  length: number;
  /** Reads return data stored in the image chain (not a hole / unallocated). */
  data: boolean;
  /** Reads are known to return zeroes. */
  zero: boolean;
  /** Allocated in some layer of the chain (qemu-img map's "present"). */
  present: boolean;
  /** 0 = this image, 1 = its backing file, ... When not present, the chain's length. */
  depth: number;
  /** Host file offset of the data, when it is stored contiguously in one host file. */
  hostOffset?: number;
  /** The host file that holds `hostOffset`. */
  hostFile?: string;
}

/**
 * A read that the caller carries out itself, straight from the host file that holds its range
 * (the NBD server sends large read replies from the file with sendfile(2):
 * block/file-sender.ts). The device counts the read in flight until `finish`, so that closing
 * waits for it.
 */
export interface HostReadSource {
  /** The host file's descriptor, open for buffered reads. */
  readonly fd: number;
  /** Where the read's first byte is in that file. */
  readonly position: number;
  /** Call exactly once, when the bytes are sent or the send has failed. */
  finish(): void;
}

export interface BlockDevice {
  /** Virtual size in bytes. */
  readonly size: number;
  readonly caps: BlockCaps;
  /** Fills `buf` with the bytes at [offset, offset + buf.length). */
  read(offset: number, buf: Buffer): Promise<void>;
  write(offset: number, data: Buffer, opts?: WriteOptions): Promise<void>;
  /** Makes every completed write durable. */
  flush(): Promise<void>;
  /** Hints that the range is no longer needed. Reads afterwards return unspecified data (zero here). */
  discard(offset: number, length: number): Promise<void>;
  writeZeroes(offset: number, length: number, opts?: ZeroOptions): Promise<void>;
  /** Allocation state of [offset, offset + length), as consecutive extents covering the range. */
  blockStatus(offset: number, length: number): Promise<Extent[]>;
  /** Waits for in-flight requests, flushes and releases the device. */
  close(): Promise<void>;
  /**
   * Where the bytes of [offset, offset + length) may be read from the host file directly, on the
   * event loop, with the same result as `read`; undefined when the range is not one run of data
   * (no holes) inside a buffered host file that never waits for a disk (a file on tmpfs; not
   * direct). Optional: a device without it is always read through `read`.
   */
  readSource?(offset: number, length: number): HostReadSource | undefined;
}

/**
 * Appends `x` to a block status list, merging it into the previous extent when it continues it
 * with the same state (and, for mapped data, the same host file and a contiguous host offset).
 */
export function appendExtent(out: Extent[], x: Extent): void {
  const last = out[out.length - 1];
  if (
    last &&
    last.data === x.data &&
    last.zero === x.zero &&
    last.present === x.present &&
    last.depth === x.depth &&
    last.offset + last.length === x.offset &&
    last.hostFile === x.hostFile &&
    (last.hostOffset === undefined) === (x.hostOffset === undefined) &&
    (last.hostOffset === undefined || last.hostOffset + last.length === x.hostOffset)
  ) {
    last.length += x.length;
    return;
  }
  out.push(x);
}

/** The edge check of a request against a device: whole bytes, inside the device. */
export function checkRange(dev: { size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new BlockError('INVALID', `invalid request: offset ${offset}, length ${length}`);
  }
  if (offset + length > dev.size) {
    throw new BlockError(
      'OUT_OF_RANGE',
      `request [${offset}, ${offset + length}) is past the end of the device (${dev.size} bytes)`,
    );
  }
}

export function checkWritable(dev: { caps: BlockCaps }): void {
  if (dev.caps.readOnly) throw new BlockError('READ_ONLY', 'the device is read-only');
}
