/**
 * Observability (STYLE.md: undici's `diagnostics_channel`): every command the core completes is
 * published on the `vdisk:scsi:command` channel, for metrics (per-command latency, errors by sense
 * key) and tracing, without the core knowing who listens. Nothing is built when nobody subscribes.
 *
 *   import diagnostics from 'node:diagnostics_channel';
 *   diagnostics.subscribe('vdisk:scsi:command', (m) => { const e = m as ScsiCommandEvent; ... });
 */
import diagnostics from 'node:diagnostics_channel';
import type { ScsiStatus } from './task.js';

export const COMMAND_CHANNEL = 'vdisk:scsi:command';

export interface ScsiCommandEvent {
  target: string;
  lun: number;
  nexus: string;
  /** The command table's name, or 'unknown'. */
  command: string;
  status: ScsiStatus;
  /** Sense key and `(ASC << 8) | ASCQ` with CHECK CONDITION. */
  senseKey?: number;
  asc?: number;
  /** CDB data length in bytes (the transfer length). */
  bytes: number;
  /** From entering the task set to the response. */
  durationNs: bigint;
  aborted: boolean;
}

export const commandChannel = diagnostics.channel(COMMAND_CHANNEL);
