/**
 * COMPARE AND WRITE (SBC-3 §5.2) for the SCSI core: the command table entries (spread into
 * commands/table.ts COMMANDS like RESERVATION_COMMANDS) and the limit VPD B0h advertises as
 * MAXIMUM COMPARE AND WRITE LENGTH. Design and atomicity argument: compare-and-write.ts.
 */
import type { CommandEntry } from '../commands/command.js';
import { COMPARE_AND_WRITE_ENTRY } from './compare-and-write.js';

export {
  COMPARE_AND_WRITE,
  MAX_COMPARE_AND_WRITE_BLOCKS,
  compareAndWrite,
  decodeCompareAndWriteCdb,
  encodeCompareAndWriteCdb,
  type CompareAndWriteCdb,
} from './compare-and-write.js';

/** Every COMPARE AND WRITE command entry, in opcode order. */
export const CAW_COMMANDS: readonly CommandEntry[] = [COMPARE_AND_WRITE_ENTRY];
