/**
 * The contract between the SCSI core and its transports (DESIGN.md: "scsi/ is transport-agnostic:
 * a CDB and a data buffer in, status + sense + data out").
 *
 * A transport (iSCSI today) decodes its wire protocol, collects a command's Data-Out in full
 * (immediate, unsolicited and solicited data, up to the Expected Data Transfer Length), and hands
 * one `ScsiCommand` to `ScsiTarget.execute`. The core never sees PDUs, sockets or sequence
 * numbers; the transport never parses a CDB. Residuals (SAM-5 §5.4.3) are the transport's job:
 * it compares the Expected Data Transfer Length with `ScsiResponse.transferLength`.
 *
 * Identity follows SAM-5 §4.6: an I_T nexus is one initiator port and one target port. For iSCSI
 * (RFC 7143 §4.2.7 / SPC-4 TransportID), the initiator port is `<iqn>,i,0x<ISID>` and the target
 * port `<iqn>,t,0x<TPGT>`. Per-nexus state (unit attentions, and in the next issue persistent
 * reservation registrations) is keyed by `ItNexus.key`.
 */

/** SAM-5 §5.3 status codes. */
export const ScsiStatus = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  CONDITION_MET: 0x04,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  ACA_ACTIVE: 0x30,
  TASK_ABORTED: 0x40,
} as const;
export type ScsiStatus = (typeof ScsiStatus)[keyof typeof ScsiStatus];

/** SAM-5 §8.6 task attributes. */
export type TaskAttribute = 'simple' | 'ordered' | 'head-of-queue' | 'aca';

/** One I_T nexus (SAM-5 §4.6.3). Built once per session by the transport; immutable. */
export interface ItNexus {
  /** Stable map key: `${initiatorPort}|${targetPort}`. */
  readonly key: string;
  /** The initiator's device name (iSCSI: InitiatorName). */
  readonly initiatorName: string;
  /** The initiator port name (iSCSI: `<InitiatorName>,i,0x<ISID as 12 hex digits>`). */
  readonly initiatorPort: string;
  /** The target's device name (iSCSI: TargetName). */
  readonly targetName: string;
  /** The target port name (iSCSI: `<TargetName>,t,0x<TPGT as 4 hex digits>`). */
  readonly targetPort: string;
  /** RELATIVE TARGET PORT IDENTIFIER (SPC-4 §7.8.6.7), 1-based. */
  readonly relativeTargetPortId: number;
  /** TARGET PORT GROUP (SPC-4 §7.8.6.8): the iSCSI target portal group tag. */
  readonly targetPortGroup: number;
  /** The transport's protocol identifier (SPC-4 Table 362): 5 = iSCSI. */
  readonly protocolId: number;
}

/** One SCSI command as the transport delivers it. */
export interface ScsiCommand {
  readonly nexus: ItNexus;
  /** The logical unit number, decoded from the transport's 8-byte LUN field (SAM-5 §4.7). */
  readonly lun: number;
  /** The initiator's task tag (iSCSI: Initiator Task Tag), unique per nexus while in flight. */
  readonly tag: number;
  /** The CDB (6 to 16 bytes for now; 260 with AHS-extended CDBs). */
  readonly cdb: Buffer;
  readonly attribute: TaskAttribute;
  /** The Expected Data Transfer Length the initiator announced (for reads and writes). */
  readonly expectedLength: number;
  /** Data-Out: for write-type commands, all the bytes the initiator sent (<= expectedLength). */
  readonly dataOut?: Buffer;
}

/** What the core answers. */
export interface ScsiResponse {
  status: ScsiStatus;
  /** Sense data (fixed format, SPC-4 §4.5.3) when status is CHECK CONDITION. */
  sense?: Buffer;
  /** Data-In. Never longer than the CDB's allocation length; the transport clips to expectedLength. */
  dataIn?: Buffer;
  /**
   * The number of bytes the CDB called for in its data direction (Data-In or Data-Out), from
   * which the transport computes the residual against expectedLength.
   */
  transferLength: number;
  /**
   * Set when task management or nexus loss aborted the task (status is then TASK ABORTED).
   * The transport decides whether its protocol sends a response for an aborted task.
   */
  aborted?: boolean;
  /**
   * Hands `dataIn`'s memory back to the core's buffer pool. A transport calls it once it no longer
   * needs the bytes (they were written to the socket, or the connection is gone), and never
   * touches `dataIn` afterwards. Optional both ways: without it the buffer is garbage collected.
   */
  release?: () => void;
}

/** SAM-5 §7 task management functions, transport-neutral. */
export type TaskManagementFunction =
  | 'abort-task'
  | 'abort-task-set'
  | 'clear-aca'
  | 'clear-task-set'
  | 'logical-unit-reset'
  | 'target-warm-reset'
  | 'target-cold-reset'
  | 'query-task'
  | 'query-task-set'
  | 'query-async-event';

/** SAM-5 §7.11 service responses for task management. */
export type TaskManagementResponse =
  | 'function-complete'
  | 'function-succeeded'
  | 'function-rejected'
  | 'incorrect-lun'
  | 'service-delivery-failure';

export interface TaskManagementRequest {
  readonly nexus: ItNexus;
  readonly lun: number;
  readonly fn: TaskManagementFunction;
  /** ABORT TASK / QUERY TASK: the tag of the referenced task (same nexus). */
  readonly referencedTag?: number;
}

/**
 * The core's face to transports. The core owns the task set of every logical unit (tasks from
 * all nexuses, because CLEAR TASK SET and resets cross sessions), the per-nexus unit attentions
 * and the per-LU state.
 */
export interface ScsiTaskRouter {
  /** Runs one command. Never rejects: every failure is a status with sense data. */
  execute(cmd: ScsiCommand): Promise<ScsiResponse>;
  /** Runs one task management function; resolves after the affected tasks have ended. */
  taskManagement(req: TaskManagementRequest): Promise<TaskManagementResponse>;
  /** I_T nexus loss (session closed, dropped or reinstated): aborts its tasks, per SAM-5 §6.3.4. */
  nexusLost(nexus: ItNexus): void;
}
