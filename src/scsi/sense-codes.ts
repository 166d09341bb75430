/**
 * Sense keys and additional sense codes (SPC-4 §4.5.6 Table 28, Annex D.2), defined once.
 *
 * Each condition the core reports is one named entry of `ASC` (ASC in the high byte, ASCQ in the
 * low byte), so handlers write `ASC.LBA_OUT_OF_RANGE` instead of two magic numbers, and the
 * names printed in logs and tests come from the same table.
 */

/** SPC-4 §4.5.6 Table 27: sense keys. */
export const SenseKey = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  BLANK_CHECK: 0x8,
  VENDOR_SPECIFIC: 0x9,
  COPY_ABORTED: 0xa,
  ABORTED_COMMAND: 0xb,
  VOLUME_OVERFLOW: 0xd,
  MISCOMPARE: 0xe,
  COMPLETED: 0xf,
} as const;
export type SenseKey = (typeof SenseKey)[keyof typeof SenseKey];

/** Additional sense code and qualifier, as `(ASC << 8) | ASCQ` (SPC-4 Annex D.2). */
export const ASC = {
  NO_ADDITIONAL_SENSE: 0x0000,
  WRITE_ERROR: 0x0c00,
  UNRECOVERED_READ_ERROR: 0x1100,
  INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT: 0x0e03,
  PARAMETER_LIST_LENGTH_ERROR: 0x1a00,
  MISCOMPARE_DURING_VERIFY: 0x1d00,
  INVALID_COMMAND_OPERATION_CODE: 0x2000,
  LBA_OUT_OF_RANGE: 0x2100,
  INVALID_FIELD_IN_CDB: 0x2400,
  LOGICAL_UNIT_NOT_SUPPORTED: 0x2500,
  INVALID_FIELD_IN_PARAMETER_LIST: 0x2600,
  PARAMETER_NOT_SUPPORTED: 0x2601,
  PARAMETER_VALUE_INVALID: 0x2602,
  INVALID_RELEASE_OF_PERSISTENT_RESERVATION: 0x2604,
  WRITE_PROTECTED: 0x2700,
  SPACE_ALLOCATION_FAILED_WRITE_PROTECT: 0x2707,
  POWER_ON_RESET_OR_BUS_DEVICE_RESET: 0x2900,
  POWER_ON_OCCURRED: 0x2901,
  SCSI_BUS_RESET_OCCURRED: 0x2902,
  BUS_DEVICE_RESET_FUNCTION_OCCURRED: 0x2903,
  I_T_NEXUS_LOSS_OCCURRED: 0x2907,
  MODE_PARAMETERS_CHANGED: 0x2a01,
  RESERVATIONS_PREEMPTED: 0x2a03,
  RESERVATIONS_RELEASED: 0x2a04,
  REGISTRATIONS_PREEMPTED: 0x2a05,
  CAPACITY_DATA_HAS_CHANGED: 0x2a09,
  COMMANDS_CLEARED_BY_ANOTHER_INITIATOR: 0x2f00,
  COMMANDS_CLEARED_BY_DEVICE_SERVER: 0x2f02,
  SAVING_PARAMETERS_NOT_SUPPORTED: 0x3900,
  MEDIUM_NOT_PRESENT: 0x3a00,
  REPORTED_LUNS_DATA_HAS_CHANGED: 0x3f0e,
  INTERNAL_TARGET_FAILURE: 0x4400,
  MEDIUM_REMOVAL_PREVENTED: 0x5302,
  INSUFFICIENT_REGISTRATION_RESOURCES: 0x5504,
  OVERLAPPED_COMMANDS_ATTEMPTED: 0x4e00,
  LOGICAL_UNIT_NOT_READY_CAUSE_NOT_REPORTABLE: 0x0400,
  LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED: 0x0402,
  SANITIZE_IN_PROGRESS: 0x041b,
  SANITIZE_COMMAND_FAILED: 0x3103,
} as const;
export type AscName = keyof typeof ASC;

const ASC_NAMES = new Map<number, string>(Object.entries(ASC).map(([k, v]) => [v, k]));
const KEY_NAMES = new Map<number, string>(Object.entries(SenseKey).map(([k, v]) => [v, k]));

/** `ILLEGAL_REQUEST/INVALID_FIELD_IN_CDB`, for logs and test messages. */
export function describeSense(key: number, ascq: number): string {
  const k = KEY_NAMES.get(key) ?? `key 0x${key.toString(16)}`;
  const a = ASC_NAMES.get(ascq) ?? `asc 0x${ascq.toString(16).padStart(4, '0')}`;
  return `${k}/${a}`;
}
