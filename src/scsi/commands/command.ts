/**
 * The shape of one entry of the command table (table.ts) and what its handler sees.
 *
 * An entry is the single definition of a command: its name (used in logs, in REPORT SUPPORTED
 * OPERATION CODES order and in tests), opcode and service action, CDB length, the CDB USAGE DATA
 * bitmap (SPC-4 §6.35.3: a bit is set for every CDB bit the device server evaluates; the
 * dispatcher also rejects any CDB bit outside it with INVALID FIELD IN CDB and the field pointer,
 * so reserved bits, RDPROTECT/WRPROTECT without protection information and NACA are checked in
 * one place), its data direction and length, its timeouts (SPC-4 §6.35.4), and its handler.
 */
import type { LogicalUnit, NexusState } from '../logical-unit.js';
import type { ItNexus, ScsiCommand, ScsiStatus } from '../task.js';

/** What the target tells commands about itself (REPORT LUNS, VPD 83h). */
export interface TargetView {
  readonly name: string;
  /** LUNs in ascending order. */
  luns(): number[];
  /**
   * The target's ports as the transport announced them in I_T nexuses (RELATIVE TARGET PORT
   * IDENTIFIER -> TARGET PORT GROUP), for REPORT TARGET PORT GROUPS. Optional: without it only
   * the asking nexus's port is reported.
   */
  ports?(): ReadonlyMap<number, number>;
  /** LUICLR (SPC-4 §7.8.7): REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED in every LU. */
  clearReportedLunsChanged(nexus: ItNexus): void;
}

export interface CommandContext {
  readonly lu: LogicalUnit;
  readonly cmd: ScsiCommand;
  readonly cdb: Buffer;
  readonly nexus: ItNexus;
  readonly state: NexusState;
  readonly target: TargetView;
  readonly commands: readonly CommandEntry[];
  /**
   * Whether the task was aborted meanwhile. Its response will be TASK ABORTED whatever the handler
   * returns; a long command (EXTENDED COPY) asks between steps and stops early.
   */
  readonly aborted: () => boolean;
}

export interface CommandResult {
  /** GOOD unless said otherwise (CONDITION MET for PRE-FETCH). */
  status?: ScsiStatus;
  /** Data-In, before clipping to the allocation length. */
  dataIn?: Buffer;
}

export type DataDirection = 'none' | 'in' | 'out';

export interface CommandEntry {
  readonly name: string;
  readonly opcode: number;
  /** For commands that have one: byte 1 bits 4..0 (or the MAINTENANCE IN/OUT, SERVICE ACTION IN style). */
  readonly serviceAction?: number;
  readonly cdbLength: number;
  /** CDB USAGE DATA: one mask per CDB byte; byte 0 is the opcode. */
  readonly usage: readonly number[];
  readonly direction: DataDirection;
  /**
   * The CDB's data length in bytes in `direction` (allocation length for Data-In, parameter list
   * or blocks x block size for Data-Out), for residuals and clipping.
   */
  readonly dataLength: (cdb: Buffer, blockSize: number) => number;
  /** SPC-4 §6.35.4 timeouts, in seconds. */
  readonly timeout: { readonly nominal: number; readonly recommended: number };
  /** Runs despite a pending unit attention (SPC-4 §5.14: INQUIRY, REPORT LUNS, REQUEST SENSE). */
  readonly uaExempt?: boolean;
  /** Offered by this LU at all (else INVALID COMMAND OPERATION CODE and absent from RSOC). */
  readonly available?: (lu: LogicalUnit) => boolean;
  readonly handler: (ctx: CommandContext) => Promise<CommandResult>;
}
