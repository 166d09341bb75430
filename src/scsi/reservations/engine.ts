/**
 * The persistent reservation engine of one logical unit: SPC-4 §5.13 persistent reservations and
 * SPC-2 RESERVE/RELEASE behind the core's `ReservationPolicy` hook.
 *
 *   const pr = new PersistentReservations({ uuid, store: new FileReservationStore(dir) });
 *   await pr.start();                 // power on: APTPL state reloaded, anything else cleared
 *   lu.reservations = pr;             // dispatch.ts asks pr.conflicts(...) for every command
 *   pr.prin(nexus, cdb)               // -> parameter data (the dispatcher clips it)
 *   await pr.prout(nexus, cdb, data)  // -> conflict, or done + unit attentions + tasks to abort
 *   await pr.reserve(nexus) / pr.release(nexus)   // SPC-2 RESERVE/RELEASE (6) and (10)
 *
 * Concurrency: PERSISTENT RESERVE OUT and SPC-2 RESERVE/RELEASE of one LU run one at a time under
 * a mutex. Each works on a copy of the state; when the copy changed, it is saved through the
 * store (durably, before the command completes) and only then becomes the live state, so a failed
 * save fails the command (HARDWARE ERROR / INTERNAL TARGET FAILURE) and changes nothing. Reads
 * (conflict checks, PERSISTENT RESERVE IN) see the last committed state without waiting.
 *
 * Durability and APTPL (§5.13.5): every change is committed before completion whatever APTPL
 * says, so a crash never leaves a half state. At start (power on), a saved state whose last valid
 * APTPL was 1 is restored (registrations, reservation, PRgeneration); otherwise the state starts
 * empty and the empty state is saved, as a power loss without APTPL releases everything.
 * SPC-2 reservations are never saved: resets and nexus loss release them.
 *
 * Identity and re-login: an I_T nexus is the initiator port (InitiatorName + ISID) and the target
 * port, exactly as SAM-5 and SPC-4 define it. A registration belongs to that I_T nexus, not to the
 * initiator's name, so when an initiator logs in again with a new ISID it is a new, unregistered
 * I_T nexus and must register again. That is what SPC-4 requires, what LIO and tgtd do, and what
 * sg_persist and fence_scsi expect: fence_scsi (re-)registers the node's key on every start and
 * unfence, Windows re-registers after every re-login, and open-iscsi reuses its ISID across
 * session reinstatement, so a reinstated session (same ISID) keeps its registration. A
 * registration made with ALL_TG_PT = 1 covers every target port of that initiator port, and one
 * made through SPEC_I_PT with a format 00b TransportID covers every initiator port of that name.
 */
import { Mutex } from '../../util/index.js';
import { invalidCdbField, ScsiError } from '../errors.js';
import { ASC, SenseKey } from '../sense-codes.js';
import type { ReservationPolicy } from '../logical-unit.js';
import type { ItNexus } from '../task.js';
import { isConflict, type Spc2Reservation } from './conflicts.js';
import { encodeFullStatus } from './data/read-full-status.js';
import { encodeReadKeys } from './data/read-keys.js';
import { encodeReadReservation } from './data/read-reservation.js';
import { encodeReportCapabilities } from './data/report-capabilities.js';
import { applyProut, type NexusMatcher, type PrUnitAttention } from './prout.js';
import { isAllRegistrants, MAX_REGISTRATIONS, PR_TYPES, PrinAction } from './pr-types.js';
import { spc2Release, spc2Reserve, type Spc2Outcome } from './spc2.js';
import {
  cloneState,
  coversInitiator,
  emptyState,
  findRegistration,
  nexusIdOf,
  registrationHolds,
  type NexusId,
  type PrState,
} from './state.js';
import { MemoryReservationStore, type ReservationStore } from './store.js';
import type { TransportId } from './transport-id.js';

/** REPORT CAPABILITIES ALLOW COMMANDS (Table 184) = 010b: TEST UNIT READY passes WE and EA; MODE
 *  SENSE, REPORT SUPPORTED OPERATION CODES and friends do not pass WE. */
const ALLOW_COMMANDS = 0b010;

export interface TargetPortInfo {
  readonly relativeTargetPortId: number;
  /** `<iqn>,t,0x<tpgt>` as in ItNexus.targetPort. */
  readonly name: string;
}

export interface PersistentReservationsOptions {
  /** The logical unit's UUID: the store key. */
  uuid: string;
  /** Where state is committed; default an in-memory store (nothing survives the process). */
  store?: ReservationStore;
  /** Every target port the LU is reachable through (REGISTER AND MOVE's RELATIVE TARGET PORT
   *  IDENTIFIER); default the ports seen in commands so far. */
  targetPorts?: () => readonly TargetPortInfo[];
  /** Whether a TransportID (SPEC_I_PT, REGISTER AND MOVE) names an allowed initiator (ACL). */
  knownInitiator?: (id: TransportId) => boolean;
  /** Registrations before INSUFFICIENT REGISTRATION RESOURCES; default MAX_REGISTRATIONS. */
  maxRegistrations?: number;
}

/** What a PERSISTENT RESERVE OUT command did, for the core to act on. */
export type ProutResult =
  | { readonly kind: 'conflict'; readonly reason: string }
  | {
      readonly kind: 'done';
      readonly unitAttentions: readonly PrUnitAttention[];
      readonly abort: readonly NexusMatcher[];
    };

/** A unit attention for one known I_T nexus. */
export interface UnitAttentionDelivery {
  readonly nexusKey: string;
  readonly asc: number;
}

export function matchesNexus(m: NexusMatcher, n: ItNexus): boolean {
  const id = nexusIdOf(n);
  return (
    coversInitiator(m.initiator, id.initiator) &&
    (m.targetPort === undefined || m.targetPort === id.targetPort)
  );
}

/**
 * The unit attentions of `result` for the I_T nexuses the LU knows, without the sender's
 * (SPC-4 §5.13.11.2 never establishes one for the I_T nexus that sent the command).
 */
export function unitAttentionDeliveries(
  result: ProutResult,
  known: readonly ItNexus[],
  sender: ItNexus,
): UnitAttentionDelivery[] {
  if (result.kind !== 'done') return [];
  const out: UnitAttentionDelivery[] = [];
  for (const ua of result.unitAttentions) {
    for (const n of known)
      if (n.key !== sender.key && matchesNexus(ua, n)) out.push({ nexusKey: n.key, asc: ua.asc });
  }
  return out;
}

/** PREEMPT AND ABORT: whether tasks of `n` are to be aborted. */
export function abortsNexus(result: ProutResult, n: ItNexus): boolean {
  return result.kind === 'done' && result.abort.some((m) => matchesNexus(m, n));
}

export class PersistentReservations implements ReservationPolicy {
  readonly uuid: string;
  private state: PrState = emptyState();
  private spc2: Spc2Reservation | undefined;
  private readonly store: ReservationStore;
  private readonly mutex = new Mutex();
  private readonly seenPorts = new Map<number, string>();
  private readonly ids = new WeakMap<ItNexus, NexusId>();
  private readonly opts: PersistentReservationsOptions;

  constructor(opts: PersistentReservationsOptions) {
    this.opts = opts;
    this.uuid = opts.uuid;
    this.store = opts.store ?? new MemoryReservationStore();
  }

  /** Power on (§5.13.5): restore an APTPL state, clear anything else. Rejects with ReservationStateError. */
  async start(): Promise<void> {
    await this.mutex.run(async () => {
      const saved = await this.store.load(this.uuid);
      this.spc2 = undefined;
      if (saved?.aptpl) {
        this.state = saved;
        return;
      }
      this.state = emptyState();
      if (saved) await this.store.save(this.uuid, this.state);
    });
  }

  /** A copy of the committed state (tests, observability). */
  snapshot(): PrState {
    return cloneState(this.state);
  }

  get spc2Holder(): string | undefined {
    return this.spc2?.holderKey;
  }

  // ReservationPolicy -----------------------------------------------------------------------------

  conflicts(nexus: ItNexus, commandName: string, cdb: Buffer): boolean {
    // Relative port 0 is reserved (SPC-4 §7.8.6.7): the shared view's nexus has no port to remember.
    if (nexus.relativeTargetPortId !== 0 && !this.seenPorts.has(nexus.relativeTargetPortId))
      this.seenPorts.set(nexus.relativeTargetPortId, nexus.targetPort);
    // The hot path: nothing reserved, nothing to check (every READ and WRITE comes here).
    if (!this.spc2 && !this.state.reservation) return false;
    return isConflict({
      state: this.state,
      spc2: this.spc2,
      nexus: this.idOf(nexus),
      nexusKey: nexus.key,
      commandName,
      cdb,
    });
  }

  /** I_T nexus loss releases the SPC-2 reservation it held; persistent state is unaffected (§5.13.1). */
  nexusLost(nexus: ItNexus): void {
    if (this.spc2?.holderKey === nexus.key) this.spc2 = undefined;
  }

  /** Logical unit and target resets release the SPC-2 reservation only. */
  reset(): void {
    this.spc2 = undefined;
  }

  // PERSISTENT RESERVE IN -------------------------------------------------------------------------

  /** The parameter data of a PERSISTENT RESERVE IN command (full length; the core clips it). */
  prin(_nexus: ItNexus, cdb: Buffer): Buffer {
    const s = this.state;
    switch (cdb[1]! & 0x1f) {
      case PrinAction.READ_KEYS:
        return encodeReadKeys({ generation: s.generation, keys: s.registrations.map((r) => r.key) });
      case PrinAction.READ_RESERVATION: {
        const res = s.reservation;
        if (!res) return encodeReadReservation({ generation: s.generation });
        const key =
          isAllRegistrants(res.type) || !res.holder ? 0n : (findRegistration(s, res.holder)?.key ?? 0n);
        return encodeReadReservation({
          generation: s.generation,
          reservation: { key, scope: res.scope, type: res.type },
        });
      }
      case PrinAction.REPORT_CAPABILITIES:
        return encodeReportCapabilities({
          rlrC: false,
          crh: true,
          sipC: true,
          atpC: true,
          ptplC: true,
          tmv: true,
          allowCommands: ALLOW_COMMANDS,
          ptplA: s.aptpl,
          types: [...PR_TYPES],
        });
      case PrinAction.READ_FULL_STATUS:
        return encodeFullStatus({
          generation: s.generation,
          descriptors: s.registrations.map((r) => {
            const holds = registrationHolds(s, r);
            return {
              key: r.key,
              allTgPt: r.allTgPt,
              holder: holds,
              ...(holds && s.reservation
                ? { reservation: { scope: s.reservation.scope, type: s.reservation.type } }
                : {}),
              relativeTargetPortId: r.relativeTargetPortId,
              transportId: r.initiator,
            };
          }),
        });
      default:
        throw invalidCdbField(1, 4);
    }
  }

  // PERSISTENT RESERVE OUT ------------------------------------------------------------------------

  /**
   * Runs one PERSISTENT RESERVE OUT command; `data` is exactly PARAMETER LIST LENGTH bytes.
   * Throws ScsiError for CHECK CONDITION outcomes.
   */
  async prout(nexus: ItNexus, cdb: Buffer, data: Buffer): Promise<ProutResult> {
    return this.mutex.run(async () => {
      // SPC-2 §5.5.1: with an SPC-2 reservation every PERSISTENT RESERVE OUT conflicts.
      if (this.spc2) return { kind: 'conflict', reason: 'an SPC-2 reservation is held' };
      const next = cloneState(this.state);
      const outcome = applyProut(
        next,
        { nexus: this.idOf(nexus), action: cdb[1]! & 0x1f, scopeType: cdb[2]!, data },
        {
          targetPortName: (rtpi) => this.targetPortName(rtpi, nexus),
          ...(this.opts.knownInitiator ? { knownInitiator: this.opts.knownInitiator } : {}),
          maxRegistrations: this.opts.maxRegistrations ?? MAX_REGISTRATIONS,
        },
      );
      if (outcome.kind === 'conflict') return outcome;
      if (outcome.changed) await this.commit(next);
      return { kind: 'done', unitAttentions: outcome.unitAttentions, abort: outcome.abort };
    });
  }

  // SPC-2 RESERVE / RELEASE -----------------------------------------------------------------------

  /** RESERVE (6) / (10): 'good' or 'conflict'. */
  async reserve(nexus: ItNexus): Promise<'good' | 'conflict'> {
    return this.mutex.run(async () =>
      this.spc2Apply(spc2Reserve(this.state, this.spc2, this.idOf(nexus), nexus.key)),
    );
  }

  /** RELEASE (6) / (10): 'good' or 'conflict'. */
  async release(nexus: ItNexus): Promise<'good' | 'conflict'> {
    return this.mutex.run(async () =>
      this.spc2Apply(spc2Release(this.state, this.spc2, this.idOf(nexus), nexus.key)),
    );
  }

  private spc2Apply(o: Spc2Outcome): 'good' | 'conflict' {
    if (o.kind === 'conflict') return 'conflict';
    this.spc2 = o.spc2;
    return 'good';
  }

  /** The reservation view of an I_T nexus, computed once per ItNexus object (they are immutable). */
  private idOf(n: ItNexus): NexusId {
    let id = this.ids.get(n);
    if (!id) {
      id = nexusIdOf(n);
      this.ids.set(n, id);
    }
    return id;
  }

  /**
   * The target port with RELATIVE TARGET PORT IDENTIFIER `rtpi`: the sender's own port first (the
   * usual REGISTER AND MOVE, and unambiguous when several targets export the LU with the same
   * portal group tag), then the configured ports, then the ports seen so far.
   */
  private targetPortName(rtpi: number, sender: ItNexus): string | undefined {
    if (sender.relativeTargetPortId === rtpi) return sender.targetPort;
    const ports = this.opts.targetPorts?.();
    if (ports) return ports.find((p) => p.relativeTargetPortId === rtpi)?.name;
    return this.seenPorts.get(rtpi);
  }

  /** Saves `next` durably, then makes it live; a failed save leaves the live state as it was. */
  private async commit(next: PrState): Promise<void> {
    try {
      await this.store.save(this.uuid, next);
    } catch (err) {
      throw new ScsiError(SenseKey.HARDWARE_ERROR, ASC.INTERNAL_TARGET_FAILURE, {
        message: `persistent reservation state not saved: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
    this.state = next;
  }
}
