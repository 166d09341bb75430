/**
 * READ CAPACITY (10) and (16) (SBC-3 §5.15, §5.16) and GET LBA STATUS (SBC-3 §5.5).
 *
 * - LBPME = 1 when the LU offers UNMAP (discard=on and the device can discard); LBPRZ = 1 when
 *   unmapped blocks read as zeroes (unmapping goes through writeZeroes with mayUnmap).
 * - LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT: the device's alignment unit (minBlockSize, 4 KiB
 *   on O_DIRECT over a 4K-sector disk) over the logical block size. The preferred (cluster) size
 *   is reported as the optimal granularity in VPD B0h instead: a qcow2 cluster is not a physical
 *   block (a 512-byte write inside it is not a read-modify-write of the medium), and libiscsi's
 *   GetLBAStatus tests treat 2^exponent blocks as the unit that unmaps atomically.
 * - READ CAPACITY (10): PMI = 0 with a non-zero LBA is INVALID FIELD IN CDB (SBC-3 §5.15.1).
 * - GET LBA STATUS: descriptors from the device's block status starting at the requested LBA,
 *   as many as fit the allocation length, over at most 64 GiB per command (read in 1 GiB windows;
 *   the initiator asks again from where the answer ends); blocks with data are mapped (0), holes
 *   and zero clusters deallocated (1). Without LBPME every block is mapped.
 */
import { decodeBlockCdb } from '../cdb/block-cdb.js';
import { encodeLbaStatus, LbaStatusKind, type LbaStatusDescriptor } from '../data/lba-status.js';
import { encodeReadCapacity10, encodeReadCapacity16 } from '../data/read-capacity.js';
import { invalidCdbField, lbaOutOfRange, senseFromBlockError } from '../errors.js';
import type { LogicalUnit } from '../logical-unit.js';
import type { CommandContext, CommandResult } from './command.js';

export function physicalBlockExponent(lu: LogicalUnit): number {
  const phys = Math.max(lu.blockSize, lu.device.caps.minBlockSize);
  return Math.round(Math.log2(phys / lu.blockSize));
}

export async function readCapacity10(ctx: CommandContext): Promise<CommandResult> {
  const pmi = !!(ctx.cdb[8]! & 1);
  if (!pmi && ctx.cdb.readUInt32BE(2) !== 0) throw invalidCdbField(2);
  const last = ctx.lu.blocks - 1;
  return { dataIn: encodeReadCapacity10({ returnedLba: Math.max(0, last), blockLength: ctx.lu.blockSize }) };
}

export async function readCapacity16(ctx: CommandContext): Promise<CommandResult> {
  const c = decodeBlockCdb(ctx.cdb);
  const pmi = !!(ctx.cdb[14]! & 1);
  if (!pmi && c.lba !== 0) throw invalidCdbField(2);
  const lu = ctx.lu;
  return {
    dataIn: encodeReadCapacity16({
      returnedLba: BigInt(Math.max(0, lu.blocks - 1)),
      blockLength: lu.blockSize,
      protEn: false,
      pType: 0,
      lbppbe: physicalBlockExponent(lu),
      lbpme: lu.canUnmap,
      lbprz: lu.unmapReadsZero,
      lowestAlignedLba: 0,
    }),
  };
}

/** GET LBA STATUS asks the device in windows of this size... */
const LBA_STATUS_WINDOW = 1024 * 1024 * 1024;
/** ...and looks at this much at most per command (the initiator asks again from where it ends). */
const LBA_STATUS_SCAN_BYTES = 64 * LBA_STATUS_WINDOW;

export async function getLbaStatus(ctx: CommandContext): Promise<CommandResult> {
  const c = decodeBlockCdb(ctx.cdb);
  const lu = ctx.lu;
  // SBC-3 §5.5.1: "If the specified starting LBA exceeds the capacity ... LBA OUT OF RANGE."
  if (c.lba >= lu.blocks) throw lbaOutOfRange();
  const room = Math.max(1, Math.floor((c.length - 8) / 16));
  const bs = lu.blockSize;
  const start = c.lba * bs;
  const end = Math.min(lu.blocks * bs, start + LBA_STATUS_SCAN_BYTES);
  const out: LbaStatusDescriptor[] = [];
  if (!lu.canUnmap) {
    out.push({
      lba: BigInt(c.lba),
      blocks: Math.min((end - start) / bs, 0xffffffff),
      status: LbaStatusKind.MAPPED,
    });
    return { dataIn: encodeLbaStatus(out) };
  }
  let full = false;
  for (let pos = start; pos < end && !full; pos += LBA_STATUS_WINDOW) {
    let extents;
    try {
      extents = await lu.device.blockStatus(pos, Math.min(LBA_STATUS_WINDOW, end - pos));
    } catch (err) {
      throw senseFromBlockError(err, 'read');
    }
    for (const e of extents) {
      const status = e.data ? LbaStatusKind.MAPPED : LbaStatusKind.DEALLOCATED;
      const endBlock = Math.ceil((e.offset + e.length) / bs);
      const last = out[out.length - 1];
      if (last && last.status === status) {
        last.blocks = endBlock - Number(last.lba);
        continue;
      }
      if (out.length === room) {
        full = true;
        break;
      }
      const from = last ? Number(last.lba) + last.blocks : c.lba;
      if (endBlock > from) out.push({ lba: BigInt(from), blocks: endBlock - from, status });
    }
  }
  return { dataIn: encodeLbaStatus(out) };
}
