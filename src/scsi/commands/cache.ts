/**
 * SYNCHRONIZE CACHE (10/16) (SBC-3 §5.22/§5.23) and PRE-FETCH (10/16) (SBC-3 §5.10/§5.11).
 *
 * SYNCHRONIZE CACHE flushes the whole device whatever the range (the device has no ranged flush;
 * flushing more than asked is allowed). NUMBER OF LOGICAL BLOCKS = 0 means "to the end"; the
 * range is still checked (LBA OUT OF RANGE). IMMED = 1 is accepted and the flush still completes
 * before status, which SBC-3 allows.
 *
 * PRE-FETCH checks the range and answers CONDITION MET: the host page cache can always hold the
 * blocks (SBC-3 §5.10: CONDITION MET "if ... the cache has sufficient capacity").
 */
import { decodeBlockCdb } from '../cdb/block-cdb.js';
import { senseFromBlockError } from '../errors.js';
import { ScsiStatus } from '../task.js';
import type { CommandContext, CommandResult } from './command.js';
import { checkLbaRange } from './io.js';

export async function synchronizeCache(ctx: CommandContext): Promise<CommandResult> {
  const c = decodeBlockCdb(ctx.cdb);
  const blocks = c.length === 0 ? Math.max(0, ctx.lu.blocks - c.lba) : c.length;
  checkLbaRange(ctx.lu, c.lba, blocks);
  try {
    await ctx.lu.device.flush();
  } catch (err) {
    throw senseFromBlockError(err, 'write');
  }
  return {};
}

export async function preFetch(ctx: CommandContext): Promise<CommandResult> {
  const c = decodeBlockCdb(ctx.cdb);
  const blocks = c.length === 0 ? Math.max(0, ctx.lu.blocks - c.lba) : c.length;
  checkLbaRange(ctx.lu, c.lba, blocks);
  return { status: ScsiStatus.CONDITION_MET };
}
