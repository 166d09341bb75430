/**
 * REPORT LUNS (SPC-4 §6.33), REPORT SUPPORTED OPERATION CODES (§6.35) and REPORT SUPPORTED TASK
 * MANAGEMENT FUNCTIONS (§6.36).
 *
 * REPORT LUNS: SELECT REPORT 00h and 02h list every logical unit (there are no well-known
 * logical units), 01h lists none; anything else is INVALID FIELD IN CDB. Processing it clears
 * REPORTED LUNS DATA HAS CHANGED for the nexus in every LU of the target (LUICLR = 1).
 *
 * REPORT SUPPORTED OPERATION CODES is generated from the command table: every entry, in table
 * order, with its CDB length, usage data and timeouts (RCTD = 1).
 */
import { decodeReportLunsCdb, decodeRsocCdb, decodeRstmfCdb } from '../cdb/report-cdb.js';
import { encodeReportLuns } from '../data/report-luns.js';
import { encodeAllCommands, encodeOneCommand, Support } from '../data/supported-opcodes.js';
import { encodeSupportedTmf } from '../data/supported-tmf.js';
import { invalidCdbField } from '../errors.js';
import type { CommandContext, CommandEntry, CommandResult } from './command.js';

export async function reportLuns(ctx: CommandContext): Promise<CommandResult> {
  const select = decodeReportLunsCdb(ctx.cdb).selectReport;
  if (select !== 0x00 && select !== 0x01 && select !== 0x02) throw invalidCdbField(2);
  ctx.target.clearReportedLunsChanged(ctx.nexus);
  return { dataIn: encodeReportLuns(select === 0x01 ? [] : ctx.target.luns()) };
}

/** REPORT LUNS for a LUN without a logical unit: the same list, from the target alone. */
export function reportLunsData(cdb: Buffer, luns: number[]): Buffer {
  const select = decodeReportLunsCdb(cdb).selectReport;
  if (select !== 0x00 && select !== 0x01 && select !== 0x02) throw invalidCdbField(2);
  return encodeReportLuns(select === 0x01 ? [] : luns);
}

export async function reportSupportedOpcodes(ctx: CommandContext): Promise<CommandResult> {
  const {
    rctd,
    reportingOptions: options,
    requestedOpcode: opcode,
    requestedServiceAction: sa,
  } = decodeRsocCdb(ctx.cdb);
  const all = ctx.commands;
  const timeouts = (e: CommandEntry) => (rctd ? { timeouts: e.timeout } : {});
  switch (options) {
    case 0:
      return {
        dataIn: encodeAllCommands(
          all.map((e) => ({
            opcode: e.opcode,
            ...(e.serviceAction !== undefined ? { serviceAction: e.serviceAction } : {}),
            cdbLength: e.cdbLength,
            ...timeouts(e),
          })),
        ),
      };
    case 1: {
      // One command, no service action: an opcode that has service actions is an error.
      if (all.some((e) => e.opcode === opcode && e.serviceAction !== undefined)) throw invalidCdbField(2, 2);
      const e = all.find((x) => x.opcode === opcode);
      return { dataIn: oneCommand(e, rctd) };
    }
    case 2: {
      // One command with a service action: an opcode without service actions is an error.
      if (all.some((x) => x.opcode === opcode && x.serviceAction === undefined)) throw invalidCdbField(2, 2);
      const e = all.find((x) => x.opcode === opcode && x.serviceAction === sa);
      return { dataIn: oneCommand(e, rctd) };
    }
    case 3: {
      const e = all.find(
        (x) => x.opcode === opcode && (x.serviceAction === undefined || x.serviceAction === sa),
      );
      return { dataIn: oneCommand(e, rctd) };
    }
    default:
      throw invalidCdbField(2, 2);
  }
}

function oneCommand(e: CommandEntry | undefined, rctd: boolean): Buffer {
  if (!e) return encodeOneCommand({ support: Support.NOT_SUPPORTED, usage: [] });
  return encodeOneCommand({
    support: Support.STANDARD,
    usage: e.usage,
    ...(rctd ? { timeouts: e.timeout } : {}),
  });
}

export async function reportSupportedTmf(ctx: CommandContext): Promise<CommandResult> {
  const { repd } = decodeRstmfCdb(ctx.cdb);
  return {
    dataIn: encodeSupportedTmf(
      {
        abortTask: true,
        abortTaskSet: true,
        clearAca: false,
        clearTaskSet: true,
        luReset: true,
        queryTask: true,
        targetReset: true,
        wakeup: false,
        queryAsyncEvent: true,
        queryTaskSet: true,
        itNexusReset: false,
      },
      repd,
    ),
  };
}
