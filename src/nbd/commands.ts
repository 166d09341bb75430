/**
 * The transmission-phase commands, run on a request that validate.ts accepted, each returning the
 * buffers of its reply. Inside this file the request is known to be in range, aligned, allowed on
 * the export and carrying only flags that apply to it; what can still fail is the device, and its
 * BlockErrors become NBD error values in exactly one place (errno.ts).
 *
 * Replies (proto.md "Simple reply message", "Structured reply chunk message"): without structured
 * replies every reply is a simple reply, a read's data right behind its header. With them, a read
 * is one or more content chunks (or an error chunk), every other success is a simple reply (the
 * spec allows it when there is no payload: 16 bytes instead of 20), and every error is an
 * NBD_REPLY_TYPE_ERROR chunk with a message.
 *
 * A read is read straight into the buffer that carries its reply, behind the reply header, so the
 * data is never copied inside the server. A structured read of at least SPARSE_READ_MIN bytes
 * without NBD_CMD_FLAG_DF sends its runs of at least MIN_HOLE zero bytes as
 * NBD_REPLY_TYPE_OFFSET_HOLE chunks and the rest as OFFSET_DATA chunks that are views of that
 * buffer. The runs are found in the data just read (zeroRuns), not by a block status lookup,
 * which costs a SEEK_HOLE per read on raw files (a scan to the end of the data on tmpfs).
 */
import type { Extent } from '../block/index.js';
import {
  NBD_REPLY_TYPE,
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
import { replyBuffer } from './reply-buffers.js';
import type { MetaContext, Session } from './negotiation.js';
import type { RequestHeader } from './request.js';
import { encodeSimpleReply, SIMPLE_REPLY_SIZE, writeSimpleReply } from './simple-reply.js';
import {
  CHUNK_HEADER_SIZE,
  encodeBlockStatusChunk,
  encodeErrorChunk,
  encodeNoneChunk,
  encodeOffsetHoleChunk,
  OFFSET_DATA_HEADER_SIZE,
  writeChunkHeader,
  writeOffsetDataHeader,
  type BlockStatusDescriptor,
} from './structured-reply.js';

/** Reads at least this long look for holes first (when structured replies are on). */
export const SPARSE_READ_MIN = 64 * 1024;
/** Zero runs shorter than this are sent as data: more chunks cost the client more than the bytes. */
const MIN_HOLE = 64 * 1024;
/** Cap on the descriptors of one block status chunk (1 MiB of descriptors, as qemu). */
export const MAX_STATUS_DESCRIPTORS = (1024 * 1024) / 8;

/** Runs one validated request and returns its reply (never throws). */
export async function runCommand(
  h: RequestHeader,
  payload: Buffer | undefined,
  s: Session,
): Promise<Buffer[]> {
  try {
    switch (h.type) {
      case NBD_CMD.READ:
        return await read(h, s);
      case NBD_CMD.WRITE:
        await s.export.device.write(h.offset, payload ?? Buffer.alloc(0), { fua: fua(h) });
        return ok(h);
      case NBD_CMD.FLUSH:
        await s.export.device.flush();
        return ok(h);
      case NBD_CMD.TRIM:
        await trim(h, s);
        return ok(h);
      case NBD_CMD.WRITE_ZEROES:
        await s.export.device.writeZeroes(h.offset, h.length, {
          fua: fua(h),
          mayUnmap: !(h.flags & NBD_CMD_FLAG.NO_HOLE) && s.export.policy.discard === 'unmap',
          fast: (h.flags & NBD_CMD_FLAG.FAST_ZERO) !== 0,
        });
        return ok(h);
      case NBD_CMD.CACHE:
        // A hint with no effect on semantics; the host page cache does the caching.
        return ok(h);
      case NBD_CMD.BLOCK_STATUS:
        return await blockStatus(h, s);
      default:
        throw new Error(`runCommand: command ${h.type} passed validation`);
    }
  } catch (err) {
    return errorReply(h, s, toNbdErrno(err), (err as Error)?.message ?? String(err));
  }
}

/** The reply for a request that failed with `errno`. */
export function errorReply(h: RequestHeader, s: Session, errno: NbdErrno, message: string): Buffer[] {
  if (s.structuredReplies) return [encodeErrorChunk(NBD_REPLY_FLAG_DONE, h.handle, errno, message)];
  return [encodeSimpleReply(errno, h.handle)];
}

function ok(h: RequestHeader): Buffer[] {
  return [encodeSimpleReply(0, h.handle)];
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

async function read(h: RequestHeader, s: Session): Promise<Buffer[]> {
  const dev = s.export.device;
  if (!s.structuredReplies) {
    const b = replyBuffer(SIMPLE_REPLY_SIZE + h.length);
    await dev.read(h.offset, b.subarray(SIMPLE_REPLY_SIZE));
    writeSimpleReply(b, 0, 0, h.handle);
    return [b];
  }
  if (h.length === 0) return [encodeNoneChunk(h.handle)];
  const b = replyBuffer(OFFSET_DATA_HEADER_SIZE + h.length);
  const data = b.subarray(OFFSET_DATA_HEADER_SIZE);
  await dev.read(h.offset, data);
  // DF: "the server MUST send at most one content chunk"; holes are sent as zeroes.
  if (h.length >= SPARSE_READ_MIN && !(h.flags & NBD_CMD_FLAG.DF)) {
    const holes = zeroRuns(data, MIN_HOLE);
    if (holes.length > 0) return sparseChunks(h, b, holes);
  }
  writeOffsetDataHeader(b, NBD_REPLY_FLAG_DONE, h.handle, h.offset);
  return [b];
}

/**
 * The chunks of a read whose data `b` (behind its 28-byte header room) has zero runs `holes`:
 * OFFSET_HOLE for each run, OFFSET_DATA for what lies between, in offset order, the last one
 * with NBD_REPLY_FLAG_DONE. Data chunks are a header and a view of `b`: nothing is copied.
 */
function sparseChunks(h: RequestHeader, b: Buffer, holes: readonly Run[]): Buffer[] {
  const data = b.subarray(OFFSET_DATA_HEADER_SIZE);
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
      out.push(encodeOffsetHoleChunk(flags, h.handle, at, p.length));
    } else if (p.offset === 0) {
      // The first run of data goes out in place, its header in the room before it.
      const first = b.subarray(0, OFFSET_DATA_HEADER_SIZE + p.length);
      writeOffsetDataHeader(first, flags, h.handle, at);
      out.push(first);
    } else {
      const header = Buffer.allocUnsafe(OFFSET_DATA_HEADER_SIZE);
      writeChunkHeader(header, 0, {
        flags,
        type: NBD_REPLY_TYPE.OFFSET_DATA,
        handle: h.handle,
        length: 8 + p.length,
      });
      header.writeBigUInt64BE(BigInt(at), CHUNK_HEADER_SIZE);
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
  if (start >= 0 && data.length - start >= minRun)
    out.push({ offset: start, length: data.length - start, hole: true });
  return out;
}

async function blockStatus(h: RequestHeader, s: Session): Promise<Buffer[]> {
  const extents = await s.export.device.blockStatus(h.offset, h.length);
  const reqOne = (h.flags & NBD_CMD_FLAG.REQ_ONE) !== 0;
  return s.contexts.map((c, i) => {
    let d = descriptors(extents, c);
    // REQ_ONE: "every reply chunk MUST contain exactly one descriptor, and that descriptor MUST
    // NOT exceed the length of the original request" (the device's extents never do).
    if (reqOne) d = d.slice(0, 1);
    else if (d.length > MAX_STATUS_DESCRIPTORS) d = d.slice(0, MAX_STATUS_DESCRIPTORS);
    const flags = i === s.contexts.length - 1 ? NBD_REPLY_FLAG_DONE : 0;
    return encodeBlockStatusChunk(flags, h.handle, c.id, d);
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
