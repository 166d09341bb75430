/**
 * iSCSI numbers (RFC 7143), each defined once; names are derived from these tables, never kept
 * by hand beside them.
 */

/** The well-known iSCSI port (RFC 7143 §13.21 TargetAddress default; IANA "iscsi-target"). */
export const ISCSI_DEFAULT_PORT = 3260;

/** Opcodes (RFC 7143 §11.2.1.2). Initiator opcodes are 0x00-0x1f, target opcodes 0x20-0x3f. */
export const OP = {
  NOP_OUT: 0x00,
  SCSI_COMMAND: 0x01,
  TASK_MGMT_REQUEST: 0x02,
  LOGIN_REQUEST: 0x03,
  TEXT_REQUEST: 0x04,
  DATA_OUT: 0x05,
  LOGOUT_REQUEST: 0x06,
  SNACK_REQUEST: 0x10,
  NOP_IN: 0x20,
  SCSI_RESPONSE: 0x21,
  TASK_MGMT_RESPONSE: 0x22,
  LOGIN_RESPONSE: 0x23,
  TEXT_RESPONSE: 0x24,
  DATA_IN: 0x25,
  LOGOUT_RESPONSE: 0x26,
  R2T: 0x31,
  ASYNC_MESSAGE: 0x32,
  REJECT: 0x3f,
} as const;
export type Opcode = (typeof OP)[keyof typeof OP];

export const OPCODE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(OP).map(([k, v]) => [v, k]));

/** Reject reasons (RFC 7143 §11.17.1). */
export const REJECT_REASON = {
  DATA_DIGEST_ERROR: 0x02,
  SNACK_REJECT: 0x03,
  PROTOCOL_ERROR: 0x04,
  COMMAND_NOT_SUPPORTED: 0x05,
  IMMEDIATE_COMMAND_REJECT: 0x06,
  TASK_IN_PROGRESS: 0x07,
  INVALID_DATA_ACK: 0x08,
  INVALID_PDU_FIELD: 0x09,
  OUT_OF_RESOURCES: 0x0a,
  NEGOTIATION_RESET: 0x0b,
  WAITING_FOR_LOGOUT: 0x0c,
} as const;
export type RejectReason = (typeof REJECT_REASON)[keyof typeof REJECT_REASON];

/** Login Status-Class and Status-Detail, as one 16-bit value (RFC 7143 §11.13.5). */
export const LOGIN_STATUS = {
  SUCCESS: 0x0000,
  TARGET_MOVED_TEMPORARILY: 0x0101,
  TARGET_MOVED_PERMANENTLY: 0x0102,
  INITIATOR_ERROR: 0x0200,
  AUTHENTICATION_FAILURE: 0x0201,
  AUTHORIZATION_FAILURE: 0x0202,
  NOT_FOUND: 0x0203,
  TARGET_REMOVED: 0x0204,
  UNSUPPORTED_VERSION: 0x0205,
  TOO_MANY_CONNECTIONS: 0x0206,
  MISSING_PARAMETER: 0x0207,
  CANT_INCLUDE_IN_SESSION: 0x0208,
  SESSION_TYPE_NOT_SUPPORTED: 0x0209,
  SESSION_DOES_NOT_EXIST: 0x020a,
  INVALID_DURING_LOGIN: 0x020b,
  TARGET_ERROR: 0x0300,
  SERVICE_UNAVAILABLE: 0x0301,
  OUT_OF_RESOURCES: 0x0302,
} as const;
export type LoginStatus = (typeof LOGIN_STATUS)[keyof typeof LOGIN_STATUS];

/** Login stages, CSG and NSG (RFC 7143 §11.12.3). Stage 2 is reserved. */
export const STAGE = {
  SECURITY: 0,
  OPERATIONAL: 1,
  FULL_FEATURE: 3,
} as const;
export type Stage = (typeof STAGE)[keyof typeof STAGE];

/** Task management function codes (RFC 7143 §11.5.1). */
export const TMF_FUNCTION = {
  ABORT_TASK: 1,
  ABORT_TASK_SET: 2,
  CLEAR_ACA: 3,
  CLEAR_TASK_SET: 4,
  LOGICAL_UNIT_RESET: 5,
  TARGET_WARM_RESET: 6,
  TARGET_COLD_RESET: 7,
  TASK_REASSIGN: 8,
  QUERY_TASK: 9,
  QUERY_TASK_SET: 10,
  I_T_NEXUS_RESET: 11,
  QUERY_ASYNC_EVENT: 12,
} as const;

/** Task management responses (RFC 7143 §11.6.1). */
export const TMF_RESPONSE = {
  FUNCTION_COMPLETE: 0,
  TASK_DOES_NOT_EXIST: 1,
  LUN_DOES_NOT_EXIST: 2,
  TASK_STILL_ALLEGIANT: 3,
  REASSIGNMENT_NOT_SUPPORTED: 4,
  NOT_SUPPORTED: 5,
  AUTHORIZATION_FAILED: 6,
  FUNCTION_SUCCEEDED: 7,
  FUNCTION_REJECTED: 255,
} as const;

/** Logout reason codes (RFC 7143 §11.14.1) and responses (§11.15.1). */
export const LOGOUT_REASON = {
  CLOSE_SESSION: 0,
  CLOSE_CONNECTION: 1,
  REMOVE_CONNECTION_FOR_RECOVERY: 2,
} as const;
export const LOGOUT_RESPONSE = {
  SUCCESS: 0,
  CID_NOT_FOUND: 1,
  RECOVERY_NOT_SUPPORTED: 2,
  CLEANUP_FAILED: 3,
} as const;

/** AsyncEvent codes (RFC 7143 §11.9.1). */
export const ASYNC_EVENT = {
  SCSI_EVENT: 0,
  LOGOUT_REQUESTED: 1,
  CONNECTION_DROP: 2,
  SESSION_DROP: 3,
  NEGOTIATION_REQUEST: 4,
  TASK_TERMINATION: 5,
} as const;

/** SCSI Response "Response" field (RFC 7143 §11.4.3). */
export const SCSI_RESPONSE = {
  COMMAND_COMPLETED: 0x00,
  TARGET_FAILURE: 0x01,
} as const;

/** The reserved tag 0xffffffff (RFC 7143 §11.2.1.8, §11.7.4): no ITT, no TTT. */
export const RESERVED_TAG = 0xffffffff;

/** iSCSI version numbers (RFC 7143 §11.12.4: Version-max/min 0x00 for this draft family). */
export const ISCSI_VERSION = 0x00;
