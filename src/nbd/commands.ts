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
 * data is never copied inside the server. Reads of at least SPARSE_READ_MIN bytes without
 * NBD_CMD_FLAG_DF first ask the device for block status and send holes as NBD_REPLY_TYPE_OFFSET_HOLE
 * chunks; smaller reads are not worth the lookup.
 */
import type { Extent } from '../block/index.js';
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
import type { RequestHeader } from './request.js';
import { encodeSimpleReply, SIMPLE_REPLY_SIZE, writeSimpleReply } from './simple-reply.js';
import {
  encodeBlockStatusChunk,
  encodeErrorChunk,
  encodeNoneChunk,
  encodeOffsetHoleChunk,
  OFFSET_DATA_HEADER_SIZE,
  writeOffsetDataHeader,
  type BlockStatusDescriptor,
} from './structured-reply.js';

/** Reads at least this long look for holes first (when structured replies are on). */
export const SPARSE_READ_MIN = 64 * 1024;
/** Holes shorter than this are sent as data: a chunk costs more than the zeroes. */
const MIN_HOLE = 4096;
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
    const b = Buffer.allocUnsafe(SIMPLE_REPLY_SIZE + h.length);
    await dev.read(h.offset, b.subarray(SIMPLE_REPLY_SIZE));
    writeSimpleReply(b, 0, 0, h.handle);
    return [b];
  }
  if (h.length === 0) return [encodeNoneChunk(h.handle)];
  if (h.length < SPARSE_READ_MIN || h.flags & NBD_CMD_FLAG.DF) {
    // DF: "the server MUST send at most one content chunk"; holes are sent as zeroes.
    return [await readChunk(dev, h.handle, h.offset, h.length, NBD_REPLY_FLAG_DONE)];
  }
  const runs = contentRuns(await dev.blockStatus(h.offset, h.length), h.offset, h.length);
  const chunks = await Promise.all(
    runs.map((r, i) => {
      const flags = i === runs.length - 1 ? NBD_REPLY_FLAG_DONE : 0;
      return r.hole
        ? encodeOffsetHoleChunk(flags, h.handle, r.offset, r.length)
        : readChunk(dev, h.handle, r.offset, r.length, flags);
    }),
  );
  return chunks;
}

/** One NBD_REPLY_TYPE_OFFSET_DATA chunk, the data read into the buffer behind its header. */
async function readChunk(
  dev: Session['export']['device'],
  handle: bigint,
  offset: number,
  length: number,
  flags: number,
): Promise<Buffer> {
  const b = Buffer.allocUnsafe(OFFSET_DATA_HEADER_SIZE + length);
  await dev.read(offset, b.subarray(OFFSET_DATA_HEADER_SIZE));
  writeOffsetDataHeader(b, flags, handle, offset);
  return b;
}

interface Run {
  offset: number;
  length: number;
  hole: boolean;
}

/**
 * Splits [offset, offset + length) into alternating data and hole runs. A hole is a range known
 * to read as zeroes; holes shorter than MIN_HOLE join the data around them.
 */
export function contentRuns(extents: readonly Extent[], offset: number, length: number): Run[] {
  const runs: Run[] = [];
  const add = (o: number, n: number, hole: boolean): void => {
    const last = runs[runs.length - 1];
    if (last && last.hole === hole) last.length += n;
    else runs.push({ offset: o, length: n, hole });
  };
  let pos = offset;
  const end = offset + length;
  for (const x of extents) {
    const a = Math.max(x.offset, pos);
    const b = Math.min(x.offset + x.length, end);
    if (b <= a) continue;
    add(a, b - a, x.zero);
    pos = b;
  }
  if (pos < end) add(pos, end - pos, false);
  // Fold short holes into data, then merge the data runs that touch.
  const out: Run[] = [];
  for (const r of runs) {
    const hole = r.hole && r.length >= MIN_HOLE;
    const last = out[out.length - 1];
    if (last && last.hole === hole) last.length += r.length;
    else out.push({ offset: r.offset, length: r.length, hole });
  }
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
