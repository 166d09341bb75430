/**
 * UNMAP (SBC-3 §5.28) and WRITE SAME (10/16) (SBC-3 §5.41-§5.42).
 *
 * Unmapping goes through writeZeroes with mayUnmap when the device can zero (so unmapped blocks
 * read as zeroes and LBPRZ = 1 is true), else through discard.
 *
 * UNMAP: offered only with discard=on on a device that can discard (else the opcode is not
 * supported). ANCHOR is refused (ANC_SUP = 0). A parameter list shorter than its header is a
 * PARAMETER LIST LENGTH ERROR; more descriptors or blocks than VPD B0h allows is INVALID FIELD
 * IN PARAMETER LIST; every descriptor is range-checked before anything is unmapped.
 *
 * WRITE SAME: one block of Data-Out (none with NDOB = 1, which means zeroes) written to every
 * block of the range. NUMBER OF LOGICAL BLOCKS = 0 means "to the last block" (WSNZ = 0) and is
 * limited by MAXIMUM WRITE SAME LENGTH like any other count. UNMAP = 1 unmaps the range when the
 * LU offers unmapping (otherwise the data is written, SBC-3 §5.42); zero data without UNMAP
 * writes zeroes; a non-zero pattern is written in 1 MiB batches. The Data-Out must be exactly one
 * logical block.
 */
import { BlockFlag, decodeBlockCdb } from '../cdb/block-cdb.js';
import { decodeUnmapCdb } from '../cdb/provisioning-cdb.js';
import { decodeUnmapList, UNMAP_HEADER_LENGTH } from '../data/unmap-list.js';
import {
  illegalRequest,
  invalidCdbField,
  invalidParamField,
  lbaOutOfRange,
  parameterListLengthError,
  senseFromBlockError,
} from '../errors.js';
import type { LogicalUnit } from '../logical-unit.js';
import { ASC } from '../sense-codes.js';
import { isZero } from '../../util/index.js';
import type { CommandContext, CommandResult } from './command.js';
import {
  checkLbaRange,
  checkWritable,
  lengthFieldByte,
  withRange,
  writeRange,
  type ByteRange,
} from './io.js';
import { limits } from './limits.js';

async function unmapRange(lu: LogicalUnit, r: ByteRange): Promise<void> {
  try {
    if (lu.unmapReadsZero) await lu.device.writeZeroes(r.offset, r.length, { mayUnmap: true });
    else await lu.device.discard(r.offset, r.length);
  } catch (err) {
    throw senseFromBlockError(err, 'write');
  }
}

export async function unmap(ctx: CommandContext): Promise<CommandResult> {
  const lu = ctx.lu;
  const { anchor, parameterListLength: listLength } = decodeUnmapCdb(ctx.cdb);
  if (anchor) throw invalidCdbField(1, 0); // ANC_SUP = 0
  checkWritable(lu);
  if (listLength === 0) return {};
  if (listLength < UNMAP_HEADER_LENGTH) throw parameterListLengthError();
  const data = ctx.cmd.dataOut ?? Buffer.alloc(0);
  if (data.length < listLength) throw parameterListLengthError();
  const ds = decodeUnmapList(data.subarray(0, listLength));
  const l = limits(lu);
  if (ds.length > l.maxUnmapDescriptors) throw invalidParamField(2);
  // Parameter list limits first (SBC-3 §5.28.1), then every descriptor against the capacity.
  let total = 0;
  ds.forEach((d, i) => {
    total += d.blocks;
    if (total > l.maxUnmapBlocks) throw invalidParamField(UNMAP_HEADER_LENGTH + 16 * i + 8);
  });
  const ranges: ByteRange[] = ds.map((d) => {
    if (d.lba > BigInt(lu.blocks)) throw lbaOutOfRange();
    return checkLbaRange(lu, Number(d.lba), d.blocks);
  });
  for (const r of ranges) {
    if (r.length) await withRange(lu, r, false, () => unmapRange(lu, r));
  }
  return {};
}

const WRITE_SAME_BATCH = 1024 * 1024;

export async function writeSame(ctx: CommandContext): Promise<CommandResult> {
  const lu = ctx.lu;
  const c = decodeBlockCdb(ctx.cdb);
  const anchor = !!(c.flags & BlockFlag.WS_ANCHOR);
  const unmapBit = !!(c.flags & BlockFlag.WS_UNMAP);
  const ndob = c.size === 16 && !!(c.flags & BlockFlag.WS_NDOB);
  if (anchor) throw invalidCdbField(1, 4); // ANC_SUP = 0
  checkWritable(lu);
  const blocks = c.length === 0 ? Math.max(0, lu.blocks - c.lba) : c.length;
  const r = checkLbaRange(lu, c.lba, blocks);
  if (blocks > limits(lu).maxWriteSameBlocks) throw invalidCdbField(lengthFieldByte(c.size));
  const bs = lu.blockSize;
  let pattern: Buffer;
  if (ndob) {
    pattern = Buffer.alloc(bs);
  } else {
    // Exactly one block: libiscsi's WriteSame*.InvalidDataOutSize expects a half block and two
    // blocks of Data-Out to fail.
    const d = ctx.cmd.dataOut ?? Buffer.alloc(0);
    if (d.length !== bs) throw illegalRequest(ASC.INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT);
    pattern = d;
  }
  if (r.length === 0) return {};
  await withRange(lu, r, false, async () => {
    // UNMAP = 1 unmaps whatever the data (as LIO does, and as libiscsi's WriteSame*.UnmapUntilEnd
    // expects: 0xFF data with UNMAP = 1 reads back as zeroes when LBPRZ = 1).
    if (unmapBit && lu.canUnmap) return unmapRange(lu, r);
    if (isZero(pattern)) {
      if (lu.device.caps.canZero) {
        try {
          await lu.device.writeZeroes(r.offset, r.length, { fua: lu.forceFua });
        } catch (err) {
          throw senseFromBlockError(err, 'write');
        }
        return;
      }
    }
    const batch = Buffer.alloc(Math.min(r.length, Math.max(bs, WRITE_SAME_BATCH - (WRITE_SAME_BATCH % bs))));
    for (let off = 0; off < batch.length; off += bs) pattern.copy(batch, off);
    for (let done = 0; done < r.length; done += batch.length) {
      const n = Math.min(batch.length, r.length - done);
      await writeRange(lu, r.offset + done, batch.subarray(0, n), false);
    }
  });
  return {};
}
