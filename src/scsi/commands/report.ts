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
 *
 * REPORT TARGET PORT GROUPS (implicit ALUA, TPGS = 01b): every port of the target is active/
 * optimized, since every portal reaches the same logical units through the same engine. One
 * descriptor per target port group (the iSCSI target portal group tag), listing the ports the
 * transport has announced in I_T nexuses (always including the asking one), ascending.
 */
import { decodeReportLunsCdb, decodeRsocCdb, decodeRstmfCdb, decodeRtpgCdb } from '../cdb/report-cdb.js';
import { AccessState, encodeTargetPortGroups, type TargetPortGroup } from '../data/target-port-groups.js';
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

export async function reportTargetPortGroups(ctx: CommandContext): Promise<CommandResult> {
  const { parameterDataFormat } = decodeRtpgCdb(ctx.cdb);
  if (parameterDataFormat > 1) throw invalidCdbField(1, 7);
  const byGroup = new Map<number, Set<number>>();
  const add = (port: number, group: number) => {
    let ports = byGroup.get(group);
    if (!ports) byGroup.set(group, (ports = new Set()));
    ports.add(port);
  };
  for (const [port, group] of ctx.target.ports?.() ?? []) add(port, group);
  add(ctx.nexus.relativeTargetPortId, ctx.nexus.targetPortGroup);
  const groups: TargetPortGroup[] = [...byGroup.keys()]
    .sort((a, b) => a - b)
    .map((group) => ({
      pref: false,
      state: AccessState.ACTIVE_OPTIMIZED,
      supported: 0x01, // AO_SUP: active/optimized is the only state a port is ever in
      group,
      statusCode: 0,
      ports: [...byGroup.get(group)!].sort((a, b) => a - b),
    }));
  return { dataIn: encodeTargetPortGroups(groups, parameterDataFormat === 1) };
}
