/**
 * Carrying out an EXTENDED COPY (LID1) parameter list: first `planCopy` resolves every segment to
 * (source LU, byte range) -> (destination LU, byte range) and checks everything that can be
 * checked without moving data, so a list with a bad segment copies nothing; then `copySegment`
 * moves each segment through the block devices (server-side copy: no data crosses the transport).
 *
 * Planning errors (SPC-4 §6.3, COPY ABORTED unless said otherwise):
 * - a CSCD DESCRIPTOR ID past the CSCD list: UNREACHABLE COPY TARGET (the obsolete NUL bit is
 *   ignored, cscd-descriptor.ts);
 * - a designator that names no logical unit this process serves (copy-targets.ts), or a copy
 *   target that refuses the I_T nexus (reservation conflict): COPY TARGET DEVICE NOT REACHABLE;
 * - a DISK BLOCK LENGTH other than the LU's block length: INVALID FIELD IN PARAMETER LIST at it;
 * - a segment whose byte count is not whole blocks on both sides: UNEXPECTED INEXACT SEGMENT;
 * - a range past the end of a copy target: COPY TARGET DEVICE NOT REACHABLE (what LIO reports and
 *   libiscsi expects; the copy target itself would have answered LBA OUT OF RANGE);
 * - a write-protected destination: COPY ABORTED / WRITE PROTECTED.
 *
 * Moving data (copySegment): chunks of COPY_CHUNK_BYTES, each read under the source LU's
 * `atomic` range lock held shared (no write or COMPARE AND WRITE lands in the middle of the read)
 * and then written under the destination's held exclusively, the next chunk being read while the
 * current one is written. One lock is never held while waiting for another, so concurrent copies
 * in any directions cannot deadlock (ordered acquisition over FIFO range locks is not enough: a
 * queued exclusive request blocks later compatible ones). Source extents known to read as zeroes
 * are written with writeZeroes (deallocating where the destination reads unmapped blocks as
 * zeroes), so a copy of a thin volume stays thin. Overlapping ranges on one LU copy like memmove.
 *
 * The command is not atomic as a whole (SPC-4 does not ask that of EXTENDED COPY): each chunk's
 * read sees one state of the source, and each chunk's write is atomic against other writers.
 */
import type { ItNexus } from '../task.js';
import type { LogicalUnit } from '../logical-unit.js';
import { invalidParamField, ScsiError, senseFromBlockError } from '../errors.js';
import { ASC, SenseKey } from '../sense-codes.js';
import { readRange, writeRange } from '../commands/io.js';
import { CopyAsc, copyAborted } from './copy-sense.js';
import { resolveCopyTarget, type CopyTargetDirectory } from './copy-targets.js';
import { COPY_CHUNK_BYTES } from './limits.js';
import type { ParameterList } from './parameter-list.js';

export interface PlannedSegment {
  src: LogicalUnit;
  srcOffset: number;
  dst: LogicalUnit;
  dstOffset: number;
  bytes: number;
}

const DISK_BLOCK_LENGTH_BYTE = 29;
const READ16 = Buffer.from([0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const WRITE16 = Buffer.from([0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

function toNumber(v: bigint): number {
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** Resolves and checks every segment of `list` for `nexus` on copy manager `self`. */
export function planCopy(
  self: LogicalUnit,
  list: ParameterList,
  nexus: ItNexus,
  directory?: CopyTargetDirectory,
): PlannedSegment[] {
  const resolved = new Map<number, LogicalUnit>();
  const target = (index: number, write: boolean): LogicalUnit => {
    const d = list.cscds[index];
    if (!d) throw copyAborted(CopyAsc.UNREACHABLE_COPY_TARGET);
    let lu = resolved.get(index);
    if (!lu) {
      lu = resolveCopyTarget(self, d, directory);
      if (!lu) throw copyAborted(CopyAsc.COPY_TARGET_DEVICE_NOT_REACHABLE);
      if (d.diskBlockLength !== lu.blockSize)
        throw invalidParamField(list.cscdOffsets[index]! + DISK_BLOCK_LENGTH_BYTE);
      resolved.set(index, lu);
    }
    if (lu.reservations.conflicts(nexus, write ? 'WRITE (16)' : 'READ (16)', write ? WRITE16 : READ16)) {
      throw copyAborted(CopyAsc.COPY_TARGET_DEVICE_NOT_REACHABLE);
    }
    if (write && lu.writeProtected) throw new ScsiError(SenseKey.COPY_ABORTED, ASC.WRITE_PROTECTED);
    return lu;
  };
  return list.segments.map((s) => {
    const src = target(s.source, false);
    const dst = target(s.destination, true);
    const bytes = s.blocks * (s.dc ? dst.blockSize : src.blockSize);
    if (bytes % src.blockSize !== 0 || bytes % dst.blockSize !== 0) {
      throw copyAborted(CopyAsc.UNEXPECTED_INEXACT_SEGMENT);
    }
    const srcLba = toNumber(s.sourceLba);
    const dstLba = toNumber(s.destinationLba);
    const srcBlocks = bytes / src.blockSize;
    const dstBlocks = bytes / dst.blockSize;
    if (srcLba > src.blocks - srcBlocks || dstLba > dst.blocks - dstBlocks) {
      throw copyAborted(CopyAsc.COPY_TARGET_DEVICE_NOT_REACHABLE);
    }
    return { src, srcOffset: srcLba * src.blockSize, dst, dstOffset: dstLba * dst.blockSize, bytes };
  });
}

/** The parts of [off, off + len) of `lu` known to read as zeroes, in order. */
async function zeroRuns(lu: LogicalUnit, off: number, len: number): Promise<Array<[number, number]>> {
  let extents;
  try {
    extents = await lu.device.blockStatus(off, len);
  } catch {
    return [];
  }
  const runs: Array<[number, number]> = [];
  for (const e of extents) {
    const from = Math.max(e.offset, off);
    const to = Math.min(e.offset + e.length, off + len);
    if (e.zero && to > from) runs.push([from, to]);
  }
  return runs.sort((a, b) => a[0] - b[0]);
}

/** One piece of a chunk to put at `offset` (relative to the chunk): data, or `zeroes` bytes. */
type Piece = { offset: number; data: Buffer } | { offset: number; zeroes: number };

/** Reads [off, off + len) of `lu` as data pieces and zero runs. */
async function readChunk(lu: LogicalUnit, off: number, len: number, zeroAware: boolean): Promise<Piece[]> {
  const zeroes = zeroAware ? await zeroRuns(lu, off, len) : [];
  const pieces: Piece[] = [];
  let pos = off;
  for (const [from, to] of [...zeroes, [off + len, off + len] as [number, number]]) {
    if (from > pos) pieces.push({ offset: pos - off, data: await readRange(lu, pos, from - pos) });
    const z = Math.max(from, pos);
    if (to > z) pieces.push({ offset: z - off, zeroes: to - z });
    pos = Math.max(pos, to);
  }
  return pieces;
}

async function writeChunk(lu: LogicalUnit, off: number, pieces: Piece[]): Promise<void> {
  for (const p of pieces) {
    if ('data' in p) await writeRange(lu, off + p.offset, p.data, false);
    else
      await lu.device.writeZeroes(off + p.offset, p.zeroes, {
        mayUnmap: lu.unmapReadsZero,
        fua: lu.forceFua,
      });
  }
}

/** Reads one chunk of the source under its range lock held shared. */
function readLocked(src: LogicalUnit, off: number, len: number): Promise<Piece[]> {
  return src.atomic.run(off, off + len, false, () => readChunk(src, off, len, true));
}

/** Writes one chunk of the destination under its range lock held exclusively. */
function writeLocked(dst: LogicalUnit, off: number, pieces: Piece[]): Promise<void> {
  const len = pieces.reduce((n, p) => Math.max(n, p.offset + ('data' in p ? p.data.length : p.zeroes)), 0);
  return dst.atomic.run(off, off + len, true, () => writeChunk(dst, off, pieces));
}

/** Overlapping ranges on one LU: read and write under one exclusive lock over both. */
function copyOverlapping(lu: LogicalUnit, srcOff: number, dstOff: number, len: number): Promise<void> {
  const start = Math.min(srcOff, dstOff);
  return lu.atomic.run(start, Math.max(srcOff, dstOff) + len, true, async () =>
    writeChunk(lu, dstOff, await readChunk(lu, srcOff, len, false)),
  );
}

/**
 * Moves one planned segment; `progress` is told each chunk's byte count once it is written.
 *
 * Each chunk is read under the source's range lock held shared, then written under the
 * destination's held exclusively, and the next chunk is read while the current one is written
 * (at most two chunks in memory). No lock is held while waiting for another, so copies cannot
 * deadlock whatever their directions. When source and destination overlap on one LU closer than
 * a chunk, each chunk is read and written under one exclusive lock over both, without read-ahead;
 * farther apart, chunks go in the direction (backwards when the destination is after the source)
 * that never reads what an earlier chunk wrote, and read-ahead is safe.
 */
export async function copySegment(
  s: PlannedSegment,
  progress: (bytes: number) => void = () => {},
  aborted: () => boolean = () => false,
): Promise<void> {
  const sameLu = s.src === s.dst;
  const backwards = sameLu && s.dstOffset > s.srcOffset && s.dstOffset < s.srcOffset + s.bytes;
  const close = sameLu && Math.abs(s.dstOffset - s.srcOffset) < COPY_CHUNK_BYTES;
  const chunks = Math.ceil(s.bytes / COPY_CHUNK_BYTES);
  const chunk = (i: number): { rel: number; len: number } => {
    const k = backwards ? chunks - 1 - i : i;
    const rel = k * COPY_CHUNK_BYTES;
    return { rel, len: Math.min(COPY_CHUNK_BYTES, s.bytes - rel) };
  };
  const read = (i: number): Promise<Piece[]> => {
    const { rel, len } = chunk(i);
    return readLocked(s.src, s.srcOffset + rel, len);
  };
  try {
    let next = close || chunks === 0 ? undefined : read(0);
    for (let i = 0; i < chunks; i++) {
      // An aborted task stops between chunks; what is copied stays copied.
      if (aborted()) throw new ScsiError(SenseKey.ABORTED_COMMAND, 0);
      const { rel, len } = chunk(i);
      if (close) {
        await copyOverlapping(s.src, s.srcOffset + rel, s.dstOffset + rel, len);
      } else {
        const pieces = await next!;
        next = i + 1 < chunks ? read(i + 1) : undefined;
        // A read-ahead that fails is reported when its turn comes; do not leave it unhandled.
        next?.catch(() => {});
        await writeLocked(s.dst, s.dstOffset + rel, pieces);
      }
      progress(len);
    }
  } catch (err) {
    // A failure of a copy target during the copy is COPY ABORTED with that target's ASC.
    const e = senseFromBlockError(err, 'write');
    throw new ScsiError(SenseKey.COPY_ABORTED, e.asc, { message: e.message });
  }
}
