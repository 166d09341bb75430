/**
 * READ DEFECT DATA (10) and (12) (SBC-3 §5.17, §5.18). An image has no medium defects, so the
 * primary and grown lists are both reported valid and empty, in the DEFECT LIST FORMAT requested
 * (an empty list is valid in every format). Linux's sg_reassign/sg_defect and Windows' disk
 * management ask for it; libiscsi's ReadDefectData tests expect GOOD.
 */
import { encodeDefectHeader } from '../data/defect-data.js';
import type { CommandContext, CommandResult } from './command.js';

export async function readDefectData(ctx: CommandContext): Promise<CommandResult> {
  const size = ctx.cdb[0] === 0x37 ? 10 : 12;
  const flags = size === 10 ? ctx.cdb[2]! : ctx.cdb[1]!;
  return {
    dataIn: encodeDefectHeader(size, {
      plistv: !!(flags & 0x10),
      glistv: !!(flags & 0x08),
      format: flags & 7,
      listLength: 0,
    }),
  };
}
