/**
 * COMPARE AND WRITE (SBC-3 §5.2): the device server reads NUMBER OF LOGICAL BLOCKS blocks at the
 * LBA, compares them with the first half of the Data-Out (the verify instance), and only if every
 * byte matches writes the second half (the write instance). The whole read-compare-write is one
 * atomic operation with respect to every other command of every I_T nexus.
 *
 * Atomicity: the handler holds the LU's `atomic` range lock EXCLUSIVELY over the byte range from
 * before the read until the write has completed. Every other medium-modifying command of the core
 * takes the same lock (WRITE, WRITE AND VERIFY, WRITE SAME and UNMAP take it shared, ORWRITE and
 * SANITIZE exclusively: commands/io.ts `withRange`), and RangeLock is FIFO among overlapping
 * requests, so no write of any initiator, session or connection can land between the compare and
 * the write, and two COMPARE AND WRITEs on overlapping ranges run one after the other (exactly one
 * of several racing "compare with the old value" commands wins).
 *
 * Checks, in order:
 * - write-protected medium: DATA PROTECT / WRITE PROTECTED (as WRITE does);
 * - NUMBER OF LOGICAL BLOCKS above MAXIMUM COMPARE AND WRITE LENGTH (VPD B0h):
 *   "the device server shall terminate the command ... INVALID FIELD IN CDB" (SBC-3 §5.2), field
 *   pointer byte 13;
 * - LBA + NUMBER OF LOGICAL BLOCKS beyond the capacity: LOGICAL BLOCK ADDRESS OUT OF RANGE;
 * - NUMBER OF LOGICAL BLOCKS 0: "shall not be considered an error" and nothing is read, compared or
 *   written (SBC-3 §5.2). One exception: a Data-Out longer than any COMPARE AND WRITE we accept
 *   (2 x the maximum) can only come from an initiator whose block count overflowed the one-byte
 *   field (256 blocks is 0); it is refused with INVALID FIELD IN CDB (byte 13) rather than silently
 *   ignored, which is also what libiscsi's CompareAndWrite.Simple expects at 256 blocks;
 * - a Data-Out that is not exactly 2 x NUMBER OF LOGICAL BLOCKS blocks: the verify and write
 *   instances cannot be told apart, so INVALID FIELD IN CDB (byte 13) and nothing is written
 *   (LIO refuses any over- or underflow of a COMPARE AND WRITE the same way).
 *
 * A miscompare is CHECK CONDITION, MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION with VALID = 1
 * and INFORMATION = the offset of the first differing byte from the start of the verify data
 * (SBC-3 §5.2), and the medium is left unchanged.
 *
 * FUA: the write instance is durable before GOOD. DPO is a cache hint and is accepted; both are in
 * the CDB usage data, so REPORT SUPPORTED OPERATION CODES agrees with the DPOFUA bit of MODE SENSE.
 */
import { BlockFlag } from '../cdb/block-cdb.js';
import type { CommandContext, CommandEntry, CommandResult } from '../commands/command.js';
import { checkLbaRange, checkWritable, readRange, withRange, writeRange } from '../commands/io.js';
import { firstDifference } from '../commands/read-write.js';
import { invalidCdbField, ScsiError } from '../errors.js';
import { ASC, SenseKey } from '../sense-codes.js';

export const COMPARE_AND_WRITE = 0x89;

/**
 * MAXIMUM COMPARE AND WRITE LENGTH advertised in VPD B0h and enforced here: the largest value the
 * one-byte NUMBER OF LOGICAL BLOCKS field can carry (Data-Out up to 510 blocks, 2 MiB at 4096).
 */
export const MAX_COMPARE_AND_WRITE_BLOCKS = 255;

/** The CDB (SBC-3 §5.2 Table 16). */
export interface CompareAndWriteCdb {
  /** Byte 1 bit 4. */
  dpo: boolean;
  /** Byte 1 bit 3. */
  fua: boolean;
  /** Bytes 2..9 (clamped to MAX_SAFE_INTEGER, out of range of any device). */
  lba: number;
  /** Byte 13. */
  blocks: number;
  /** Byte 14 bits 4..0. */
  group: number;
}

export const NUMBER_OF_LOGICAL_BLOCKS_BYTE = 13;

export function decodeCompareAndWriteCdb(cdb: Buffer): CompareAndWriteCdb {
  const lba = cdb.readBigUInt64BE(2);
  return {
    dpo: !!(cdb[1]! & BlockFlag.DPO),
    fua: !!(cdb[1]! & BlockFlag.FUA),
    lba: lba > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(lba),
    blocks: cdb[NUMBER_OF_LOGICAL_BLOCKS_BYTE]!,
    group: cdb[14]! & 0x1f,
  };
}

export function encodeCompareAndWriteCdb(c: CompareAndWriteCdb): Buffer {
  const b = Buffer.alloc(16);
  b[0] = COMPARE_AND_WRITE;
  b[1] = (c.dpo ? BlockFlag.DPO : 0) | (c.fua ? BlockFlag.FUA : 0);
  b.writeBigUInt64BE(BigInt(c.lba), 2);
  b[NUMBER_OF_LOGICAL_BLOCKS_BYTE] = c.blocks;
  b[14] = c.group & 0x1f;
  return b;
}

function miscompare(offset: number): ScsiError {
  return new ScsiError(SenseKey.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY, { information: BigInt(offset) });
}

export async function compareAndWrite(ctx: CommandContext): Promise<CommandResult> {
  const lu = ctx.lu;
  const c = decodeCompareAndWriteCdb(ctx.cdb);
  const bs = lu.blockSize;
  const dataOut = ctx.cmd.dataOut ?? Buffer.alloc(0);
  checkWritable(lu);
  if (c.blocks > MAX_COMPARE_AND_WRITE_BLOCKS) throw invalidCdbField(NUMBER_OF_LOGICAL_BLOCKS_BYTE);
  const r = checkLbaRange(lu, c.lba, c.blocks);
  if (c.blocks === 0) {
    if (dataOut.length > 2 * MAX_COMPARE_AND_WRITE_BLOCKS * bs) {
      throw invalidCdbField(NUMBER_OF_LOGICAL_BLOCKS_BYTE);
    }
    return {};
  }
  if (dataOut.length !== 2 * r.length) throw invalidCdbField(NUMBER_OF_LOGICAL_BLOCKS_BYTE);
  const verifyData = dataOut.subarray(0, r.length);
  const writeData = dataOut.subarray(r.length);
  await withRange(lu, r, true, async () => {
    const medium = await readRange(lu, r.offset, r.length);
    const at = firstDifference(medium, verifyData);
    if (at >= 0) throw miscompare(at);
    await writeRange(lu, r.offset, writeData, c.fua);
  });
  return {};
}

const FF8 = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

/** The command table entry (commands/table.ts shape). */
export const COMPARE_AND_WRITE_ENTRY: CommandEntry = {
  name: 'COMPARE AND WRITE',
  opcode: COMPARE_AND_WRITE,
  cdbLength: 16,
  // WRPROTECT (7..5) is outside: no protection information. DPO (4), FUA (3); FUA_NV is obsolete.
  usage: [COMPARE_AND_WRITE, 0x18, ...FF8, 0, 0, 0, 0xff, 0x1f, 0],
  direction: 'out',
  dataLength: (cdb, bs) => 2 * cdb[NUMBER_OF_LOGICAL_BLOCKS_BYTE]! * bs,
  timeout: { nominal: 1, recommended: 30 },
  handler: compareAndWrite,
};
