/**
 * The persistent reservation state of one logical unit (SPC-4 §5.13) and the queries every
 * service action and the conflict check share. Pure data: no I/O, no locks (engine.ts owns those).
 *
 * Identity (SAM-5 §4.6.3): an I_T nexus is an initiator port and a target port. For iSCSI the
 * initiator port is the InitiatorName plus the ISID (`<name>,i,0x<isid>`), so a re-login with a
 * new ISID is a new I_T nexus that is not registered (see engine.ts for why that is the right
 * behaviour). A registration names:
 * - the initiator: one port (TransportID format 01b: name + ISID), or, when made through
 *   SPEC_I_PT with a format 00b TransportID, the initiator device: every port of that name;
 * - the target port it was made through, or every target port (ALL_TG_PT = 1).
 *
 * The reservation (scope LU only) has a type; for the All Registrants types every registered
 * I_T nexus is a holder, for the others exactly one I_T nexus is (§5.13.10), recorded by identity
 * so that it survives a restart. Invariants kept by prout.ts:
 * - a non-AR reservation's holder is registered (removing its registration releases it);
 * - an AR reservation exists only while some registration does;
 * - no two registrations match the same I_T nexus.
 */
import { isAllRegistrants, type PrType } from './pr-types.js';
import { parseInitiatorPort, transportIdText, type TransportId } from './transport-id.js';
import type { ItNexus } from '../task.js';

/** An I_T nexus as reservations see it. */
export interface NexusId {
  readonly initiator: TransportId;
  /** Target port name, lowercase (`<iqn>,t,0x<tpgt>`). */
  readonly targetPort: string;
  readonly relativeTargetPortId: number;
}

export interface Registration {
  key: bigint;
  initiator: TransportId;
  /** The target port, or undefined with ALL_TG_PT = 1. */
  targetPort: string | undefined;
  /** The port the registration was made through (reported in READ FULL STATUS). */
  relativeTargetPortId: number;
  allTgPt: boolean;
}

export interface Reservation {
  type: PrType;
  scope: number;
  /** The holding I_T nexus for the non-AR types; undefined for All Registrants. */
  holder: NexusId | undefined;
}

export interface PrState {
  /** PRgeneration (SPC-4 §6.15.2), 32-bit wrapping. */
  generation: number;
  /** The last valid APTPL bit received (SPC-4 §5.13.5). */
  aptpl: boolean;
  registrations: Registration[];
  reservation: Reservation | undefined;
}

export function emptyState(): PrState {
  return { generation: 0, aptpl: false, registrations: [], reservation: undefined };
}

export function cloneState(s: PrState): PrState {
  return {
    generation: s.generation,
    aptpl: s.aptpl,
    registrations: s.registrations.map((r) => ({ ...r })),
    reservation: s.reservation ? { ...s.reservation } : undefined,
  };
}

export function nexusIdOf(n: ItNexus): NexusId {
  return {
    initiator: parseInitiatorPort(n.initiatorPort),
    targetPort: n.targetPort.toLowerCase(),
    relativeTargetPortId: n.relativeTargetPortId,
  };
}

export function nexusText(n: NexusId): string {
  return `${transportIdText(n.initiator)}|${n.targetPort}`;
}

export function sameNexus(a: NexusId, b: NexusId): boolean {
  return nexusText(a) === nexusText(b);
}

/** Whether the registration's initiator side covers the initiator port `i`. */
export function coversInitiator(r: TransportId, i: TransportId): boolean {
  if (r.name !== i.name) return false;
  if (r.format === 'device') return true;
  return i.format === 'port' && r.isid === i.isid;
}

export function registrationMatches(r: Registration, n: NexusId): boolean {
  return coversInitiator(r.initiator, n.initiator) && (r.allTgPt || r.targetPort === n.targetPort);
}

/** The registration of an I_T nexus (port registrations before device-wide ones). */
export function findRegistration(s: PrState, n: NexusId): Registration | undefined {
  let device: Registration | undefined;
  for (const r of s.registrations) {
    if (!registrationMatches(r, n)) continue;
    if (r.initiator.format === 'port') return r;
    device ??= r;
  }
  return device;
}

/** Whether two registrations could ever match the same I_T nexus. */
export function registrationsOverlap(a: Registration, b: Registration): boolean {
  const initiators = coversInitiator(a.initiator, b.initiator) || coversInitiator(b.initiator, a.initiator);
  const targets = a.allTgPt || b.allTgPt || a.targetPort === b.targetPort;
  return initiators && targets;
}

/** SPC-4 §5.13.10: is `n` a persistent reservation holder? */
export function isHolder(s: PrState, n: NexusId): boolean {
  const res = s.reservation;
  if (!res) return false;
  if (isAllRegistrants(res.type)) return findRegistration(s, n) !== undefined;
  const h = res.holder;
  return h !== undefined && h.targetPort === n.targetPort && coversInitiator(h.initiator, n.initiator);
}

/** Whether `r` belongs to a reservation holder (R_HOLDER in READ FULL STATUS). */
export function registrationHolds(s: PrState, r: Registration): boolean {
  const res = s.reservation;
  if (!res) return false;
  if (isAllRegistrants(res.type)) return true;
  return res.holder !== undefined && findRegistration(s, res.holder) === r;
}

export function bumpGeneration(s: PrState): void {
  s.generation = (s.generation + 1) >>> 0;
}
