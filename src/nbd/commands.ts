/**
 * The transmission-phase commands, run on a request that validate.ts accepted, each returning the
 * buffers of its reply. Inside this file the request is known to be in range, aligned, allowed on
 * the export and carrying only flags that apply to it; what can still fail is the device, and its
 * BlockErrors become NBD error values in exactly one place (errno.ts).
 *
 * Replies take one of three forms (reply-style.ts): simple replies, structured reply chunks (a
 * read is one or more content chunks or an error chunk, other successes are simple replies,
 * errors are NBD_REPLY_TYPE_ERROR chunks with a message), or extended chunks once
 * NBD_OPT_EXTENDED_HEADERS is negotiated (block status then as NBD_REPLY_TYPE_BLOCK_STATUS_EXT).
 *
 * A read is read straight into the buffer that carries its reply, behind the reply header, so the
 * data is never copied inside the server. A structured read of at least SPARSE_READ_MIN bytes
 * without NBD_CMD_FLAG_DF sends its runs of at least MIN_HOLE zero bytes as
 * NBD_REPLY_TYPE_OFFSET_HOLE chunks and the rest as OFFSET_DATA chunks that are views of that
 * buffer. The runs are found in the data just read (zeroRuns), not by a block status lookup,
 * which costs a SEEK_HOLE per read on raw files (a scan to the end of the data on tmpfs).
 */
import { pageAlignedSlice, releaseOf, type Extent } from '../block/index.js';
import {
  CONTEXT_ALLOCATION_DEPTH,
  CONTEXT_BASE_ALLOCATION,
  NBD_CMD,
  NBD_CMD_FLAG,
  NBD_REPLY_FLAG_DONE,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  type NbdErrno,
} from './constants.js';
import { toNbdErrno } from './errno.js';
import type { MetaContext, Session } from './negotiation.js';
import { EXTENDED_REPLIES, SIMPLE_REPLIES, STRUCTURED_REPLIES, type ReplyStyle } from './reply-style.js';
import type { RequestHeader } from './request.js';
import type { BlockStatusDescriptor } from './structured-reply.js';

/**
 * Reads at least this long are sent from the host file when the device has their range in memory
 * (nbd/connection.ts); shorter ones cost a system call more that way than the copy they save.
 */
export const SEND_FROM_FILE_MIN = 64 * 1024;
/** Reads at least this long look for holes first (when structured replies are on). */
export const SPARSE_READ_MIN = 64 * 1024;
/** Zero runs shorter than this are sent as data: more chunks cost the client more than the bytes. */
const MIN_HOLE = 64 * 1024;
/** Cap on the descriptors of one block status chunk (1 MiB of descriptors, as qemu). */
export const MAX_STATUS_DESCRIPTORS = (1024 * 1024) / 8;

/** How replies look on this session (reply-style.ts). */
export function replyStyle(s: Session): ReplyStyle {
  if (s.extendedHeaders) return EXTENDED_REPLIES;
  return s.structuredReplies ? STRUCTURED_REPLIES : SIMPLE_REPLIES;
}

/** Runs one validated request and returns its reply (never throws). */
export async function runCommand(
  h: RequestHeader,
  payload: Buffer | undefined,
  s: Session,
): Promise<Buffer[]> {
  const style = replyStyle(s);
  try {
    switch (h.type) {
      case NBD_CMD.READ:
        return await read(h, s, style);
      case NBD_CMD.WRITE:
        await s.export.device.write(h.offset, payload ?? Buffer.alloc(0), { fua: fua(h) });
        return style.ok(h);
      case NBD_CMD.FLUSH:
        await s.export.device.flush();
        return style.ok(h);
      case NBD_CMD.TRIM:
        await trim(h, s);
        return style.ok(h);
      case NBD_CMD.WRITE_ZEROES:
        await s.export.device.writeZeroes(h.offset, h.length, {
          fua: fua(h),
          mayUnmap: !(h.flags & NBD_CMD_FLAG.NO_HOLE) && s.export.policy.discard === 'unmap',
          fast: (h.flags & NBD_CMD_FLAG.FAST_ZERO) !== 0,
        });
        return style.ok(h);
      case NBD_CMD.CACHE:
        // A hint with no effect on semantics; the host page cache does the caching.
        return style.ok(h);
      case NBD_CMD.BLOCK_STATUS:
        return await blockStatus(h, s, style);
      default:
        throw new Error(`runCommand: command ${h.type} passed validation`);
    }
  } catch (err) {
    return style.error(h, toNbdErrno(err), (err as Error)?.message ?? String(err));
  }
}

/**
 * The header of a read reply whose data follows from elsewhere (the host file): a simple reply
 * header, or one OFFSET_DATA chunk with NBD_REPLY_FLAG_DONE. It carries the whole range as data:
 * the caller sends it only for ranges with no holes.
 */
export function fileReadHeader(h: RequestHeader, s: Session): Buffer {
  const style = replyStyle(s);
  const header = Buffer.allocUnsafe(style.dataHeaderSize);
  style.writeDataHeader(header, NBD_REPLY_FLAG_DONE, h, h.offset, h.length);
  return header;
}

/** The reply for a request that failed with `errno`. */
export function errorReply(h: RequestHeader, s: Session, errno: NbdErrno, message: string): Buffer[] {
  return replyStyle(s).error(h, errno, message);
}

function fua(h: RequestHeader): boolean {
  return (h.flags & NBD_CMD_FLAG.FUA) !== 0;
}

async function trim(h: RequestHeader, s: Session): Promise<void> {
  const exp = s.export;
  // With discard=ignore NBD_FLAG_SEND_TRIM is not offered; a trim that comes anyway is a hint
  // the server may ignore ("A server MAY discard ... but is not required to").
  if (exp.policy.discard !== 'unmap' || !exp.device.caps.canDiscard || h.length === 0) return;
  await exp.device.discard(h.offset, h.length);
  if (fua(h)) await exp.device.flush();
}

async function read(h: RequestHeader, s: Session, style: ReplyStyle): Promise<Buffer[]> {
  if (h.length === 0 && style.structured) return [style.none(h)];
  const room = style.dataHeaderSize;
  // The data part starts on a page, its reply header in the room before it (block/page-slabs.ts);
  // a large one is lent from the pool, and goes back once the reply is on the socket.
  const b = pageAlignedSlice(room, h.length, true);
  const data = b.subarray(room);
  try {
    await s.export.device.read(h.offset, data);
  } catch (err) {
    releaseOf(b)?.();
    throw err;
  }
  let reply = [b];
  // DF: "the server MUST send at most one content chunk"; holes are sent as zeroes.
  const holes =
    style.structured && h.length >= SPARSE_READ_MIN && !(h.flags & NBD_CMD_FLAG.DF)
      ? zeroRuns(data, MIN_HOLE)
      : [];
  if (holes.length > 0) reply = sparseChunks(h, style, b, holes);
  else style.writeDataHeader(b, NBD_REPLY_FLAG_DONE, h, h.offset, h.length);
  const release = releaseOf(b);
  if (release) replyReleases.set(reply, release);
  return reply;
}

const replyReleases = new WeakMap<Buffer[], () => void>();

/** What gives a reply's lent buffer back, to call once the reply is written (or dropped). */
export function releaseOfReply(reply: Buffer[]): (() => void) | undefined {
  return replyReleases.get(reply);
}

/**
 * The chunks of a read whose data (behind `style.dataHeaderSize` bytes of room in `b`) has zero
 * runs `holes`: OFFSET_HOLE for each run, OFFSET_DATA for what lies between, in offset order,
 * the last one with NBD_REPLY_FLAG_DONE. Data chunks are a header and a view of `b`.
 */
function sparseChunks(h: RequestHeader, style: ReplyStyle, b: Buffer, holes: readonly Run[]): Buffer[] {
  const room = style.dataHeaderSize;
  const data = b.subarray(room);
  const pieces: Run[] = [];
  let pos = 0;
  for (const r of holes) {
    if (r.offset > pos) pieces.push({ offset: pos, length: r.offset - pos, hole: false });
    pieces.push(r);
    pos = r.offset + r.length;
  }
  if (pos < data.length) pieces.push({ offset: pos, length: data.length - pos, hole: false });
  const out: Buffer[] = [];
  pieces.forEach((p, i) => {
    const flags = i === pieces.length - 1 ? NBD_REPLY_FLAG_DONE : 0;
    const at = h.offset + p.offset;
    if (p.hole) {
      out.push(style.hole(flags, h, at, p.length));
    } else if (p.offset === 0) {
      // The first run of data goes out in place, its header in the room before it.
      style.writeDataHeader(b, flags, h, at, p.length);
      out.push(b.subarray(0, room + p.length));
    } else {
      const header = Buffer.allocUnsafe(room);
      style.writeDataHeader(header, flags, h, at, p.length);
      out.push(header, data.subarray(p.offset, p.offset + p.length));
    }
  });
  return out;
}

interface Run {
  offset: number;
  length: number;
  hole: boolean;
}

const ZERO_BLOCK = Buffer.alloc(4096);

/**
 * The runs of zero bytes in `data` at least `minRun` long, found 4 KiB block by block from the
 * start of the buffer (memcmp stops at the first non-zero byte, so data costs one compare per
 * block). A content-based check, as the bytes are read anyway: it finds unallocated ranges of
 * every format, and zeroes written as data, without a block status lookup per read.
 */
export function zeroRuns(data: Buffer, minRun: number): Run[] {
  const out: Run[] = [];
  let start = -1;
  const B = ZERO_BLOCK.length;
  for (let off = 0; off <= data.length; off += B) {
    const n = Math.min(B, data.length - off);
    const zero = n > 0 && ZERO_BLOCK.compare(data, off, off + n, 0, n) === 0;
    if (zero && start < 0) start = off;
    if (!zero && start >= 0) {
      if (off - start >= minRun) out.push({ offset: start, length: off - start, hole: true });
      start = -1;
    }
    if (n < B) break;
  }
  if (start >= 0 && data.length - start >= minRun) {
    out.push({ offset: start, length: data.length - start, hole: true });
  }
  return out;
}

async function blockStatus(h: RequestHeader, s: Session, style: ReplyStyle): Promise<Buffer[]> {
  // Compact replies carry 32-bit extent lengths: ask for at most what they can describe.
  const length = s.extendedHeaders ? h.length : Math.min(h.length, 0xffffffff);
  const extents = await s.export.device.blockStatus(h.offset, length);
  const reqOne = (h.flags & NBD_CMD_FLAG.REQ_ONE) !== 0;
  return s.contexts.map((c, i) => {
    let d = descriptors(extents, c);
    // REQ_ONE: "every reply chunk MUST contain exactly one descriptor, and that descriptor MUST
    // NOT exceed the length of the original request" (the device's extents never do).
    if (reqOne) d = d.slice(0, 1);
    else if (d.length > MAX_STATUS_DESCRIPTORS) d = d.slice(0, MAX_STATUS_DESCRIPTORS);
    const flags = i === s.contexts.length - 1 ? NBD_REPLY_FLAG_DONE : 0;
    return style.blockStatus(flags, h, c.id, d);
  });
}

/**
 * The descriptors of one metadata context, adjacent extents with the same status merged.
 *
 * - `base:allocation`: NBD_STATE_HOLE when the range holds no data (reads come from no layer's
 *   data), NBD_STATE_ZERO when it reads as zeroes: qemu's mapping of its own block status.
 * - `qemu:allocation-depth` (qemu docs/interop/nbd.rst): "0 for unallocated, 1 for the active
 *   layer, 2 for the first backing layer, and so forth", i.e. the Extent's depth + 1 when present.
 */
export function descriptors(extents: readonly Extent[], c: MetaContext): BlockStatusDescriptor[] {
  const out: BlockStatusDescriptor[] = [];
  for (const x of extents) {
    if (x.length === 0) continue;
    const flags =
      c.name === CONTEXT_BASE_ALLOCATION
        ? (x.data ? 0 : NBD_STATE_HOLE) | (x.zero ? NBD_STATE_ZERO : 0)
        : c.name === CONTEXT_ALLOCATION_DEPTH && x.present
          ? x.depth + 1
          : 0;
    const last = out[out.length - 1];
    if (last && last.flags === flags) last.length += x.length;
    else out.push({ length: x.length, flags });
  }
  return out;
}
