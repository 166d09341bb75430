/**
 * The command table entries of vdisk's copy manager, in the shape of commands/table.ts, for the
 * core to add to COMMANDS (like RESERVATION_COMMANDS):
 *
 * - EXTENDED COPY (LID1) (SPC-4 §6.3; opcode 83h, service action 00h): bytes 10..13 PARAMETER LIST
 *   LENGTH. A length of 0 "shall not be considered an error" and copies nothing. The list is
 *   decoded and checked whole (parameter-list.ts), every segment is resolved and checked
 *   (copy-engine.ts planCopy), and only then is data moved, segment by segment. The copy status of
 *   LIST ID USAGE 00b/10b lists is held for RECEIVE COPY RESULTS (held-results.ts) from the moment
 *   the list was accepted: in progress, then completed with or without errors.
 * - RECEIVE COPY RESULTS (SPC-4 §6.18; opcode 84h): COPY STATUS (00h) for the LIST IDENTIFIER in
 *   byte 2 (an identifier this I_T nexus holds nothing for is INVALID FIELD IN CDB, byte 2), and
 *   OPERATING PARAMETERS (03h) with the limits limits.ts enforces; ALLOCATION LENGTH bytes 10..13.
 *   RECEIVE DATA and FAILED SEGMENT DETAILS are not offered (we hold no data: HELD DATA LIMIT 0),
 *   so they are INVALID FIELD IN CDB from the dispatcher's service action check.
 *
 * `thirdPartyCopyPage` is the VPD page 8Fh the core serves (with 3PC = 1 in standard INQUIRY).
 */
import type { CommandContext, CommandEntry, CommandResult } from '../commands/command.js';
import { invalidCdbField, parameterListLengthError } from '../errors.js';
import type { LogicalUnit } from '../logical-unit.js';
import { copySegment, planCopy } from './copy-engine.js';
import { CopyManagerStatus, encodeCopyStatus, transferCountOf } from './copy-status.js';
import { BLOCK_TO_BLOCK } from './segment-descriptor.js';
import { IDENTIFICATION_DESCRIPTOR } from './cscd-descriptor.js';
import { heldResultsOf, type HeldCopy } from './held-results.js';
import {
  HELD_DATA_LIMIT,
  MAX_CSCD_DESCRIPTORS,
  MAX_DESCRIPTOR_LIST_LENGTH,
  MAX_HELD_LISTS,
  MAX_INLINE_DATA_LENGTH,
  MAX_SEGMENT_DESCRIPTORS,
  maxSegmentBytes,
  TOTAL_CONCURRENT_COPIES,
} from './limits.js';
import { encodeOperatingParameters, type OperatingParameters } from './operating-parameters.js';
import { ListIdUsage } from './parameter-list-header.js';
import { decodeParameterList } from './parameter-list.js';
import { encodeThirdPartyCopyPage } from './third-party-copy-vpd.js';

export const EXTENDED_COPY = 0x83;
export const RECEIVE_COPY_RESULTS = 0x84;
/** SPC-4 Table 102: EXTENDED COPY (LID1). */
export const EXTENDED_COPY_LID1 = 0x00;
/** SPC-4 Table 136: RECEIVE COPY RESULTS service actions (LID1). */
export const CopyResultsAction = { COPY_STATUS: 0x00, OPERATING_PARAMETERS: 0x03 } as const;

const IMPLEMENTED_DESCRIPTORS = [BLOCK_TO_BLOCK, IDENTIFICATION_DESCRIPTOR];
const BULK = { nominal: 10, recommended: 600 };
const QUICK = { nominal: 0, recommended: 10 };
const FF4 = [0xff, 0xff, 0xff, 0xff];

const log2 = (n: number): number => 31 - Math.clz32(n);

export function operatingParameters(lu: LogicalUnit): OperatingParameters {
  const g = log2(lu.blockSize);
  return {
    snlid: true,
    maxCscdDescriptorCount: MAX_CSCD_DESCRIPTORS,
    maxSegmentDescriptorCount: MAX_SEGMENT_DESCRIPTORS,
    maxDescriptorListLength: MAX_DESCRIPTOR_LIST_LENGTH,
    maxSegmentLength: maxSegmentBytes(lu.blockSize),
    maxInlineDataLength: MAX_INLINE_DATA_LENGTH,
    heldDataLimit: HELD_DATA_LIMIT,
    maxStreamDeviceTransferSize: 0,
    totalConcurrentCopies: TOTAL_CONCURRENT_COPIES,
    maxConcurrentCopies: MAX_HELD_LISTS,
    dataSegmentGranularity: g,
    inlineDataGranularity: g,
    heldDataGranularity: g,
    implementedDescriptorTypeCodes: IMPLEMENTED_DESCRIPTORS,
  };
}

/** VPD page 8Fh (SPC-4 §7.8.17) for `lu`, with peripheral byte `peripheral`. */
export function thirdPartyCopyPage(lu: LogicalUnit, peripheral = 0): Buffer {
  return encodeThirdPartyCopyPage(peripheral, [
    {
      kind: 'supported-commands',
      commands: [
        { opcode: EXTENDED_COPY, serviceActions: [EXTENDED_COPY_LID1] },
        {
          opcode: RECEIVE_COPY_RESULTS,
          serviceActions: [CopyResultsAction.COPY_STATUS, CopyResultsAction.OPERATING_PARAMETERS],
        },
      ],
    },
    {
      kind: 'parameter-data',
      maxCscdDescriptorCount: MAX_CSCD_DESCRIPTORS,
      maxSegmentDescriptorCount: MAX_SEGMENT_DESCRIPTORS,
      maxDescriptorListLength: MAX_DESCRIPTOR_LIST_LENGTH,
      maxInlineDataLength: MAX_INLINE_DATA_LENGTH,
    },
    { kind: 'supported-descriptors', typeCodes: IMPLEMENTED_DESCRIPTORS },
    { kind: 'supported-cscd-ids', ids: [] },
    {
      kind: 'general-copy-operations',
      totalConcurrentCopies: TOTAL_CONCURRENT_COPIES,
      maxIdentifiedConcurrentCopies: MAX_HELD_LISTS,
      maxSegmentLength: maxSegmentBytes(lu.blockSize),
      dataSegmentGranularity: log2(lu.blockSize),
      inlineDataGranularity: log2(lu.blockSize),
    },
  ]);
}

async function extendedCopy(ctx: CommandContext): Promise<CommandResult> {
  const length = ctx.cdb.readUInt32BE(10);
  if (length === 0) return {};
  const data = ctx.cmd.dataOut ?? Buffer.alloc(0);
  if (data.length < length) throw parameterListLengthError();
  const list = decodeParameterList(data.subarray(0, length));
  const held: HeldCopy | undefined =
    list.header.listIdUsage === ListIdUsage.NONE
      ? undefined
      : heldResultsOf(ctx.lu).begin(ctx.nexus.key, list.header.listId);
  try {
    const plan = planCopy(ctx.lu, list, ctx.nexus);
    for (const s of plan) {
      await copySegment(
        s,
        (n) => {
          if (held) held.bytes += n;
        },
        ctx.aborted,
      );
      if (held) held.segmentsProcessed++;
    }
    if (held) held.status = CopyManagerStatus.COMPLETED_WITHOUT_ERRORS;
  } catch (err) {
    if (held) held.status = CopyManagerStatus.COMPLETED_WITH_ERRORS;
    throw err;
  }
  return {};
}

async function copyStatus(ctx: CommandContext): Promise<CommandResult> {
  const held = heldResultsOf(ctx.lu).get(ctx.nexus.key, ctx.cdb[2]!);
  if (!held) throw invalidCdbField(2);
  return {
    dataIn: encodeCopyStatus({
      hdd: false,
      status: held.status,
      segmentsProcessed: held.segmentsProcessed,
      ...transferCountOf(held.bytes),
    }),
  };
}

async function operatingParametersCommand(ctx: CommandContext): Promise<CommandResult> {
  return { dataIn: encodeOperatingParameters(operatingParameters(ctx.lu)) };
}

const rcrEntry = (sa: number, listId: boolean, handler: CommandEntry['handler']): CommandEntry => ({
  name: 'RECEIVE COPY RESULTS',
  opcode: RECEIVE_COPY_RESULTS,
  serviceAction: sa,
  cdbLength: 16,
  usage: [RECEIVE_COPY_RESULTS, sa, listId ? 0xff : 0, 0, 0, 0, 0, 0, 0, 0, ...FF4, 0, 0],
  direction: 'in',
  dataLength: (cdb) => cdb.readUInt32BE(10),
  timeout: QUICK,
  handler,
});

/** Every copy manager command entry, in opcode and service action order. */
export const XCOPY_COMMANDS: readonly CommandEntry[] = [
  {
    name: 'EXTENDED COPY',
    opcode: EXTENDED_COPY,
    serviceAction: EXTENDED_COPY_LID1,
    cdbLength: 16,
    usage: [EXTENDED_COPY, EXTENDED_COPY_LID1, 0, 0, 0, 0, 0, 0, 0, 0, ...FF4, 0, 0],
    direction: 'out',
    dataLength: (cdb) => cdb.readUInt32BE(10),
    timeout: BULK,
    handler: extendedCopy,
  },
  rcrEntry(CopyResultsAction.COPY_STATUS, true, copyStatus),
  rcrEntry(CopyResultsAction.OPERATING_PARAMETERS, false, operatingParametersCommand),
];
