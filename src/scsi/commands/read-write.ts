/**
 * READ and WRITE (6/10/12/16), WRITE AND VERIFY (10/12/16), VERIFY (10/12/16) and ORWRITE (16)
 * (SBC-3 §5.7-§5.32, §5.9).
 *
 * - READ (6)/WRITE (6): a TRANSFER LENGTH of 0 means 256 blocks (SBC-3 §5.7); elsewhere 0 moves
 *   nothing and is not an error.
 * - FUA makes the write durable before GOOD; DPO is a cache hint and is accepted. WCE = 0 on a
 *   write-back cache mode forces FUA on every write (LogicalUnit.forceFua).
 * - Protection fields (RDPROTECT/WRPROTECT/VRPROTECT) are outside the CDB usage data: with no
 *   protection information they are refused by the dispatcher with INVALID FIELD IN CDB.
 * - VERIFY BYTCHK (SBC-3 §5.29 Table 96): 00b verify the medium only, 01b compare the Data-Out
 *   with the blocks, 11b compare one block of Data-Out with every block, 10b reserved. A
 *   difference is MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION with INFORMATION set to the
 *   byte offset of the first difference from the start of the Data-Out (SBC-3 §5.29).
 * - WRITE AND VERIFY writes with FUA (the verification reads the medium), and compares when
 *   BYTCHK asks for it.
 * - ORWRITE (16) reads, ORs the Data-Out in and writes, holding the range exclusively so no other
 *   write lands in between.
 */
import { BlockFlag, decodeBlockCdb, type BlockCdb } from '../cdb/block-cdb.js';
import { invalidCdbField, ScsiError } from '../errors.js';
import { ASC, SenseKey } from '../sense-codes.js';
import type { CommandContext, CommandResult } from './command.js';
import { checkTransfer, checkWritable, dataOutFor, readRange, withRange, writeRange } from './io.js';

/** The number of blocks a READ/WRITE-family CDB moves (6-byte: 0 means 256). */
export function transferBlocks(c: BlockCdb): number {
  return c.size === 6 && c.length === 0 ? 256 : c.length;
}

export async function read(ctx: CommandContext): Promise<CommandResult> {
  const c = decodeBlockCdb(ctx.cdb);
  const r = checkTransfer(ctx.lu, c, transferBlocks(c));
  if (r.length === 0) return {};
  return { dataIn: await readRange(ctx.lu, r.offset, r.length, true) };
}

export async function write(ctx: CommandContext): Promise<CommandResult> {
  const c = decodeBlockCdb(ctx.cdb);
  checkWritable(ctx.lu);
  const r = checkTransfer(ctx.lu, c, transferBlocks(c));
  if (r.length === 0) return {};
  const data = dataOutFor(ctx, r.length, ctx.lu.blockSize);
  if (data.length === 0) return {};
  await withRange(ctx.lu, r, false, () => writeRange(ctx.lu, r.offset, data, !!(c.flags & BlockFlag.FUA)));
  return {};
}

function miscompare(offset: number): ScsiError {
  return new ScsiError(SenseKey.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY, { information: BigInt(offset) });
}

/** Offset of the first byte where `a` and `b` differ, or -1. */
export function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  if (a.compare(b, 0, n, 0, n) === 0) return -1;
  let lo = 0;
  let hi = n;
  // Binary search on prefix equality: Buffer.compare is native, a JS byte loop is not.
  while (hi - lo > 64) {
    const mid = (lo + hi) >>> 1;
    if (a.compare(b, lo, mid, lo, mid) === 0) lo = mid;
    else hi = mid;
  }
  for (let i = lo; i < hi; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** BYTCHK of VERIFY (bits 2..1); WRITE AND VERIFY in SBC-3 uses bit 1 only (01b). */
function bytchk(c: BlockCdb): number {
  return (c.flags & BlockFlag.BYTCHK_MASK) >> 1;
}

export async function verify(ctx: CommandContext): Promise<CommandResult> {
  const c = decodeBlockCdb(ctx.cdb);
  const mode = bytchk(c);
  if (mode === 2) throw invalidCdbField(1, 2);
  const r = checkTransfer(ctx.lu, c, c.length);
  if (r.length === 0) return {};
  const medium = await readRange(ctx.lu, r.offset, r.length);
  if (mode === 0) return {};
  const bs = ctx.lu.blockSize;
  if (mode === 1) {
    const data = dataOutFor(ctx, r.length, bs);
    const at = firstDifference(medium, data);
    if (at >= 0) throw miscompare(at);
    return {};
  }
  // BYTCHK 11b: one block of Data-Out against every block.
  const pattern = dataOutFor(ctx, bs, bs);
  for (let off = 0; off < medium.length; off += bs) {
    const at = firstDifference(medium.subarray(off, off + bs), pattern);
    if (at >= 0) throw miscompare(off + at);
  }
  return {};
}

export async function writeAndVerify(ctx: CommandContext): Promise<CommandResult> {
  const c = decodeBlockCdb(ctx.cdb);
  const mode = bytchk(c);
  if (mode === 2) throw invalidCdbField(1, 2);
  checkWritable(ctx.lu);
  const r = checkTransfer(ctx.lu, c, c.length);
  if (r.length === 0) return {};
  if (mode === 3) {
    // SBC-4 §5.47: BYTCHK 11b writes one block of Data-Out to every block.
    const pattern = dataOutFor(ctx, ctx.lu.blockSize, ctx.lu.blockSize);
    const data = Buffer.alloc(r.length);
    for (let off = 0; off < r.length; off += pattern.length) pattern.copy(data, off);
    await withRange(ctx.lu, r, false, () => writeRange(ctx.lu, r.offset, data, true));
    return {};
  }
  const data = dataOutFor(ctx, r.length, ctx.lu.blockSize);
  if (data.length === 0) return {};
  await withRange(ctx.lu, r, false, async () => {
    await writeRange(ctx.lu, r.offset, data, true);
    const back = await readRange(ctx.lu, r.offset, data.length);
    const at = firstDifference(back, data);
    if (at >= 0) throw miscompare(at);
  });
  return {};
}

export async function orWrite(ctx: CommandContext): Promise<CommandResult> {
  const c = decodeBlockCdb(ctx.cdb);
  checkWritable(ctx.lu);
  const r = checkTransfer(ctx.lu, c, c.length);
  if (r.length === 0) return {};
  const data = dataOutFor(ctx, r.length, ctx.lu.blockSize);
  if (data.length === 0) return {};
  await withRange(ctx.lu, r, true, async () => {
    const cur = await readRange(ctx.lu, r.offset, data.length);
    for (let i = 0; i < cur.length; i++) cur[i]! |= data[i]!;
    await writeRange(ctx.lu, r.offset, cur, !!(c.flags & BlockFlag.FUA));
  });
  return {};
}
