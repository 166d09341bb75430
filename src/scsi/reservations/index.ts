/**
 * Persistent reservations (SPC-4 §5.13, §6.15, §6.16) and SPC-2 RESERVE/RELEASE for the SCSI core.
 * The design, the identity rules (a new ISID is a new, unregistered I_T nexus) and durability are
 * explained in engine.ts; the conflict table in conflicts.ts; the on-disk format in state-codec.ts.
 *
 *   const pr = new PersistentReservations({ uuid, store: new FileReservationStore(dir) });
 *   await pr.start();
 *   lu.reservations = pr;        // and RESERVATION_COMMANDS in the command table
 */
export {
  PersistentReservations,
  unitAttentionDeliveries,
  abortsNexus,
  matchesNexus,
  type PersistentReservationsOptions,
  type ProutResult,
  type TargetPortInfo,
  type UnitAttentionDelivery,
} from './engine.js';
export { RESERVATION_COMMANDS } from './commands.js';
export { FileReservationStore, MemoryReservationStore, type ReservationStore } from './store.js';
export { ReservationStateError, type ReservationStateErrorCode } from './state-codec.js';
export { COMMAND_CLASS, classify, type CommandClass } from './conflicts.js';
export { PR_ASC, PR_TYPES, PR_TYPE_CODE, type PrType } from './pr-types.js';
export type { PrState, Registration, Reservation, NexusId } from './state.js';
export type { NexusMatcher, PrUnitAttention } from './prout.js';
export type { TransportId } from './transport-id.js';
