/**
 * Shared pieces of the block commands: range checks against the capacity, device transfers split
 * at the device's maximum request size, and the Data-Out length rule.
 *
 * Data-Out shorter than the CDB asks for (SAM-5 §5.4.3; what libiscsi's residual tests expect of
 * a target): whole logical blocks received are written and the command completes with GOOD (the
 * transport reports the overflow residual); a Data-Out that ends inside a logical block is
 * refused with INVALID FIELD IN COMMAND INFORMATION UNIT. Data-Out longer than the CDB asks for
 * is ignored beyond the CDB's length.
 */
import type { BlockCdb } from '../cdb/block-cdb.js';
import {
  illegalRequest,
  invalidCdbField,
  lbaOutOfRange,
  senseFromBlockError,
  writeProtected,
} from '../errors.js';
import type { LogicalUnit } from '../logical-unit.js';
import { ASC } from '../sense-codes.js';
import type { CommandContext } from './command.js';
import { limits } from './limits.js';
import { readBuffer } from './read-buffers.js';

export interface ByteRange {
  offset: number;
  length: number;
  lba: number;
  blocks: number;
}

/** Byte offset of the TRANSFER LENGTH field per CDB size, for field pointers. */
export function lengthFieldByte(size: number): number {
  return size === 6 ? 4 : size === 10 ? 7 : size === 12 ? 6 : 10;
}

/** SBC-3 §4.5: LBA + length must not exceed the capacity. */
export function checkLbaRange(lu: LogicalUnit, lba: number, blocks: number): ByteRange {
  const cap = lu.blocks;
  if (lba > cap || blocks > cap - lba) throw lbaOutOfRange();
  return { offset: lba * lu.blockSize, length: blocks * lu.blockSize, lba, blocks };
}

/** Range check plus the MAXIMUM TRANSFER LENGTH check of commands that move data. */
export function checkTransfer(lu: LogicalUnit, c: BlockCdb, blocks: number): ByteRange {
  const r = checkLbaRange(lu, c.lba, blocks);
  if (blocks > limits(lu).maxTransferBlocks) throw invalidCdbField(lengthFieldByte(c.size));
  return r;
}

export function checkWritable(lu: LogicalUnit): void {
  if (lu.writeProtected) throw writeProtected();
}

/** The Data-Out bytes to use for `need` bytes, per the rule at the top of this file. */
export function dataOutFor(ctx: CommandContext, need: number, blockSize: number): Buffer {
  const d = ctx.cmd.dataOut ?? Buffer.alloc(0);
  if (d.length >= need) return d.length === need ? d : d.subarray(0, need);
  if (d.length % blockSize !== 0) throw illegalRequest(ASC.INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT);
  return d;
}

/**
 * Reads [offset, offset + length) in device-sized pieces, into a page-aligned buffer
 * (read-buffers.ts); `lend` when the buffer is to be the command's Data-In.
 */
export async function readRange(
  lu: LogicalUnit,
  offset: number,
  length: number,
  lend = false,
): Promise<Buffer> {
  const buf = readBuffer(length, lend);
  const max = lu.device.caps.maxTransfer;
  try {
    for (let done = 0; done < length; done += max) {
      await lu.device.read(offset + done, buf.subarray(done, Math.min(length, done + max)));
    }
  } catch (err) {
    throw senseFromBlockError(err, 'read');
  }
  return buf;
}

export async function writeRange(lu: LogicalUnit, offset: number, data: Buffer, fua: boolean): Promise<void> {
  const max = lu.device.caps.maxTransfer;
  const opts = { fua: fua || lu.forceFua };
  try {
    if (data.length <= max) await lu.device.write(offset, data, opts);
    else {
      for (let done = 0; done < data.length; done += max) {
        await lu.device.write(offset + done, data.subarray(done, Math.min(data.length, done + max)), opts);
      }
    }
  } catch (err) {
    throw senseFromBlockError(err, 'write');
  }
}

/** Runs `fn` holding the LU's atomic range lock over the byte range (shared or exclusive). */
export function withRange<T>(
  lu: LogicalUnit,
  r: ByteRange,
  exclusive: boolean,
  fn: () => Promise<T>,
): Promise<T> {
  if (r.length === 0) return fn();
  return lu.atomic.run(r.offset, r.offset + r.length, exclusive, fn);
}
