/**
 * vdisk's copy manager (SPC-4 §5.16 third-party copy): EXTENDED COPY (LID1) with identification
 * CSCD descriptors that name vdisk's own logical units and block to block segments, RECEIVE COPY
 * RESULTS (COPY STATUS, OPERATING PARAMETERS) and the third-party copy VPD page 8Fh. The core
 * spreads XCOPY_COMMANDS into its command table, serves `thirdPartyCopyPage(lu)` as VPD 8Fh with
 * 3PC = 1 in standard INQUIRY, and keeps `copyTargets` current as targets map and unmap LUs.
 *
 * Design: commands.ts (entry points), parameter-list.ts (validation), copy-engine.ts (planning,
 * locking and chunked server-side copying), copy-targets.ts (finding LUs by designator),
 * held-results.ts (what RECEIVE COPY RESULTS reports), limits.ts (every limit we advertise).
 */
export {
  XCOPY_COMMANDS,
  EXTENDED_COPY,
  RECEIVE_COPY_RESULTS,
  CopyResultsAction,
  operatingParameters,
  thirdPartyCopyPage,
} from './commands.js';
export {
  THIRD_PARTY_COPY_PAGE,
  decodeThirdPartyCopyPage,
  encodeThirdPartyCopyPage,
} from './third-party-copy-vpd.js';
export type { TpcDescriptor } from './third-party-copy-vpd.js';
export {
  copyTargets,
  designates,
  LogicalUnitDirectory,
  resolveCopyTarget,
  type CopyTargetDesignator,
  type CopyTargetDirectory,
} from './copy-targets.js';
export { CopyAsc } from './copy-sense.js';
export * from './limits.js';
export {
  decodeParameterListHeader,
  encodeParameterListHeader,
  ListIdUsage,
  PARAMETER_LIST_HEADER_LENGTH,
  type ParameterListHeader,
} from './parameter-list-header.js';
export {
  decodeCscdDescriptor,
  encodeIdentificationDescriptor,
  CSCD_DESCRIPTOR_LENGTH,
  IDENTIFICATION_DESCRIPTOR,
  type CscdDescriptor,
  type IdentificationDescriptor,
} from './cscd-descriptor.js';
export {
  decodeSegmentDescriptor,
  encodeBlockToBlockSegment,
  BLOCK_TO_BLOCK,
  BLOCK_TO_BLOCK_LENGTH,
  type BlockToBlockSegment,
  type SegmentDescriptor,
} from './segment-descriptor.js';
export {
  decodeOperatingParameters,
  encodeOperatingParameters,
  type OperatingParameters,
} from './operating-parameters.js';
export { CopyManagerStatus, decodeCopyStatus, encodeCopyStatus, type CopyStatus } from './copy-status.js';
export { decodeParameterList, type ParameterList } from './parameter-list.js';
export { heldResultsOf } from './held-results.js';
