/**
 * PERSISTENT RESERVE OUT service actions (SPC-4 §5.13.5-§5.13.11, §6.16) as transitions on a
 * private copy of the state: `applyProut` mutates the copy it is given and returns what happened.
 * The engine commits the copy (durably) only when the outcome is `done` with `changed`, so a
 * failed command or a failed save leaves the live state untouched.
 *
 * Outcomes:
 * - `conflict`: RESERVATION CONFLICT (unregistered I_T nexus, wrong RESERVATION KEY, a
 *   reservation held by someone else, nothing matching the SERVICE ACTION RESERVATION KEY);
 * - `done`: GOOD, with the unit attentions to establish (§5.13.11.2: REGISTRATIONS PREEMPTED,
 *   RESERVATIONS PREEMPTED, RESERVATIONS RELEASED; never for the I_T nexus that sent the
 *   command) and, for PREEMPT AND ABORT, the I_T nexuses whose tasks are to be aborted.
 * Everything else is a thrown ScsiError with the sense SPC-4 names (INVALID FIELD IN CDB or IN
 * PARAMETER LIST with field pointers, PARAMETER LIST LENGTH ERROR, INVALID RELEASE OF PERSISTENT
 * RESERVATION, INSUFFICIENT REGISTRATION RESOURCES).
 *
 * PRgeneration (§6.15.2) is incremented by every REGISTER, REGISTER AND IGNORE EXISTING KEY (the
 * no-op of an unregistered I_T nexus with a zero SERVICE ACTION RESERVATION KEY included: "every
 * time a PERSISTENT RESERVE OUT command requests" one), CLEAR, PREEMPT, PREEMPT AND ABORT and
 * REGISTER AND MOVE that completes; never by RESERVE or RELEASE, nor by a command that fails or
 * conflicts.
 */
import {
  illegalRequest,
  invalidCdbField,
  invalidParamField,
  parameterListLengthError,
  ScsiError,
} from '../errors.js';
import { PrCodecError } from './codec-error.js';
import { decodeProutParameters, type ProutParameters } from './data/prout-parameters.js';
import { decodeRegisterAndMove } from './data/register-and-move-parameters.js';
import { classifyType, isAllRegistrants, LU_SCOPE, PR_ASC, ProutAction, type PrType } from './pr-types.js';
import {
  bumpGeneration,
  coversInitiator,
  findRegistration,
  isHolder,
  registrationsOverlap,
  type NexusId,
  type PrState,
  type Registration,
} from './state.js';
import type { TransportId } from './transport-id.js';

/** Who a unit attention or an abort is for: the I_T nexuses a registration covered. */
export interface NexusMatcher {
  readonly initiator: TransportId;
  /** Undefined: every target port. */
  readonly targetPort: string | undefined;
}

export interface PrUnitAttention extends NexusMatcher {
  readonly asc: number;
}

export type ProutOutcome =
  | { readonly kind: 'conflict'; readonly reason: string }
  | {
      readonly kind: 'done';
      readonly changed: boolean;
      readonly unitAttentions: readonly PrUnitAttention[];
      /** PREEMPT AND ABORT: the I_T nexuses whose tasks the core aborts. */
      readonly abort: readonly NexusMatcher[];
    };

export interface ProutRequest {
  readonly nexus: NexusId;
  /** CDB byte 1 bits 4..0. */
  readonly action: number;
  /** CDB byte 2: SCOPE (7..4) and TYPE (3..0). */
  readonly scopeType: number;
  /** The parameter list: exactly PARAMETER LIST LENGTH bytes. */
  readonly data: Buffer;
}

export interface ProutEnvironment {
  /** The name of the target port with this RELATIVE TARGET PORT IDENTIFIER (REGISTER AND MOVE). */
  targetPortName(relativeTargetPortId: number): string | undefined;
  /** Whether a TransportID names an initiator this LU may register (ACL); absent: any. */
  knownInitiator?(id: TransportId): boolean;
  readonly maxRegistrations: number;
}

const conflict = (reason: string): ProutOutcome => ({ kind: 'conflict', reason });

class Effects {
  changed = false;
  readonly unitAttentions: PrUnitAttention[] = [];
  readonly abort: NexusMatcher[] = [];

  constructor(private readonly self: NexusId) {}

  /** A unit attention for every I_T nexus of `r`, except the command's own (filtered on delivery). */
  ua(r: Registration, asc: number): void {
    this.unitAttentions.push({ ...matcherOf(r), asc });
  }

  done(): ProutOutcome {
    return { kind: 'done', changed: this.changed, unitAttentions: this.unitAttentions, abort: this.abort };
  }

  get nexus(): NexusId {
    return this.self;
  }
}

export function matcherOf(r: Registration): NexusMatcher {
  return { initiator: r.initiator, targetPort: r.allTgPt ? undefined : r.targetPort };
}

/** The PARAMETER LIST codecs' failures, in SPC-4's terms. */
function codecToScsi(e: unknown): unknown {
  if (!(e instanceof PrCodecError)) return e;
  return e.kind === 'length' ? parameterListLengthError() : invalidParamField(e.byte, e.bit);
}

/** CDB byte 2 for the service actions that use it: LU_SCOPE and a valid TYPE. */
function scopeAndType(scopeType: number): PrType {
  if (scopeType >> 4 !== LU_SCOPE) throw invalidCdbField(2, 7);
  const t = classifyType(scopeType & 0xf);
  if (!t) throw invalidCdbField(2, 3);
  return t;
}

function insufficientResources(): ScsiError {
  return illegalRequest(PR_ASC.INSUFFICIENT_REGISTRATION_RESOURCES);
}

export function applyProut(s: PrState, req: ProutRequest, env: ProutEnvironment): ProutOutcome {
  const fx = new Effects(req.nexus);
  switch (req.action) {
    case ProutAction.REGISTER_AND_MOVE:
      return registerAndMove(s, req, env, fx);
    case ProutAction.REGISTER:
    case ProutAction.REGISTER_AND_IGNORE_EXISTING_KEY:
    case ProutAction.RESERVE:
    case ProutAction.RELEASE:
    case ProutAction.CLEAR:
    case ProutAction.PREEMPT:
    case ProutAction.PREEMPT_AND_ABORT:
      break;
    default:
      throw invalidCdbField(1, 4);
  }
  let p: ProutParameters;
  try {
    p = decodeProutParameters(req.data);
  } catch (e) {
    throw codecToScsi(e);
  }
  // §6.16.3: SPEC_I_PT is valid only for REGISTER.
  if (p.specIPt && req.action !== ProutAction.REGISTER) throw invalidParamField(20, 3);
  switch (req.action) {
    case ProutAction.REGISTER:
    case ProutAction.REGISTER_AND_IGNORE_EXISTING_KEY:
      return register(s, req, p, env, fx);
    case ProutAction.RESERVE:
      return reserve(s, scopeAndType(req.scopeType), req.scopeType >> 4, p, fx);
    case ProutAction.RELEASE:
      return release(s, scopeAndType(req.scopeType), req.scopeType >> 4, p, fx);
    case ProutAction.CLEAR:
      return clear(s, p, fx);
    default:
      return preempt(s, scopeAndType(req.scopeType), req.scopeType >> 4, p, req.action, fx);
  }
}

/** Removes `r`; keeps the reservation invariants (state.ts) and raises what §5.13.11 asks. */
function unregister(s: PrState, r: Registration, fx: Effects): void {
  s.registrations = s.registrations.filter((x) => x !== r);
  const res = s.reservation;
  if (!res) return;
  if (isAllRegistrants(res.type)) {
    if (s.registrations.length === 0) s.reservation = undefined;
    return;
  }
  if (res.holder && !findRegistration(s, res.holder)) {
    s.reservation = undefined;
    // §5.13.11.2.2: a Registrants Only reservation released by its holder unregistering.
    if (res.type === 'WE_RO' || res.type === 'EA_RO') {
      for (const x of s.registrations) fx.ua(x, PR_ASC.RESERVATIONS_RELEASED);
    }
  }
}

/** §5.13.5 / §5.13.7 Tables 39-40: REGISTER and REGISTER AND IGNORE EXISTING KEY. */
function register(
  s: PrState,
  req: ProutRequest,
  p: ProutParameters,
  env: ProutEnvironment,
  fx: Effects,
): ProutOutcome {
  const n = req.nexus;
  const ignoreKey = req.action === ProutAction.REGISTER_AND_IGNORE_EXISTING_KEY;
  const reg = findRegistration(s, n);
  if (!reg) {
    if (!ignoreKey && p.key !== 0n)
      return conflict('REGISTER from an unregistered I_T nexus with a non-zero key');
    if (p.serviceActionKey === 0n) {
      bumpGeneration(s);
      fx.changed = true;
      return fx.done();
    }
    const own: Registration = {
      key: p.serviceActionKey,
      initiator: n.initiator,
      targetPort: p.allTgPt ? undefined : n.targetPort,
      relativeTargetPortId: n.relativeTargetPortId,
      allTgPt: p.allTgPt,
    };
    if (s.registrations.some((x) => registrationsOverlap(x, own))) throw invalidParamField(20, 2);
    const added: Registration[] = [own];
    for (const { id, offset } of p.transportIds) {
      if (id.format === 'port' && coversInitiator(n.initiator, id)) continue; // the sender itself
      if (env.knownInitiator && !env.knownInitiator(id)) throw invalidParamField(offset);
      const r: Registration = { ...own, initiator: id };
      // SPC-4 §6.16.3: a TransportID naming an I_T nexus already registered, or twice.
      if ([...s.registrations, ...added].some((x) => registrationsOverlap(x, r)))
        throw invalidParamField(offset);
      added.push(r);
    }
    if (s.registrations.length + added.length > env.maxRegistrations) throw insufficientResources();
    s.registrations.push(...added);
  } else {
    if (p.specIPt) throw invalidParamField(20, 3);
    if (!ignoreKey && p.key !== reg.key)
      return conflict('REGISTER with a RESERVATION KEY that is not the registered one');
    if (p.serviceActionKey === 0n) unregister(s, reg, fx);
    else reg.key = p.serviceActionKey;
  }
  s.aptpl = p.aptpl;
  bumpGeneration(s);
  fx.changed = true;
  return fx.done();
}

/** The registration of the sender with a matching RESERVATION KEY, or the conflict to answer. */
function registered(s: PrState, n: NexusId, key: bigint): Registration | ProutOutcome {
  const reg = findRegistration(s, n);
  if (!reg) return conflict('the I_T nexus is not registered');
  if (reg.key !== key) return conflict('RESERVATION KEY does not match the registration');
  return reg;
}

const isOutcome = (x: Registration | ProutOutcome): x is ProutOutcome => 'kind' in x;

/** §5.13.9: RESERVE. */
function reserve(s: PrState, type: PrType, scope: number, p: ProutParameters, fx: Effects): ProutOutcome {
  const reg = registered(s, fx.nexus, p.key);
  if (isOutcome(reg)) return reg;
  const res = s.reservation;
  if (res) {
    if (!isHolder(s, fx.nexus)) return conflict('the logical unit is reserved by another I_T nexus');
    if (res.type !== type || res.scope !== scope)
      return conflict('a holder may not change the type with RESERVE');
    return fx.done();
  }
  s.reservation = { type, scope, holder: isAllRegistrants(type) ? undefined : fx.nexus };
  fx.changed = true;
  return fx.done();
}

/** §5.13.11.2: RELEASE. */
function release(s: PrState, type: PrType, scope: number, p: ProutParameters, fx: Effects): ProutOutcome {
  const reg = registered(s, fx.nexus, p.key);
  if (isOutcome(reg)) return reg;
  const res = s.reservation;
  if (!res || !isHolder(s, fx.nexus)) return fx.done();
  if (res.type !== type || res.scope !== scope)
    throw illegalRequest(PR_ASC.INVALID_RELEASE_OF_PERSISTENT_RESERVATION);
  s.reservation = undefined;
  if (res.type !== 'WE' && res.type !== 'EA') {
    for (const x of s.registrations) fx.ua(x, PR_ASC.RESERVATIONS_RELEASED);
  }
  fx.changed = true;
  return fx.done();
}

/** §5.13.11.2.6: CLEAR. */
function clear(s: PrState, p: ProutParameters, fx: Effects): ProutOutcome {
  const reg = registered(s, fx.nexus, p.key);
  if (isOutcome(reg)) return reg;
  for (const x of s.registrations) fx.ua(x, PR_ASC.RESERVATIONS_PREEMPTED);
  s.registrations = [];
  s.reservation = undefined;
  bumpGeneration(s);
  fx.changed = true;
  return fx.done();
}

/** §5.13.11.2.4-5, Figure 13: PREEMPT and PREEMPT AND ABORT. */
function preempt(
  s: PrState,
  type: PrType,
  scope: number,
  p: ProutParameters,
  action: number,
  fx: Effects,
): ProutOutcome {
  const own = registered(s, fx.nexus, p.key);
  if (isOutcome(own)) return own;
  const sark = p.serviceActionKey;
  const res = s.reservation;
  const holderKey = res?.holder ? findRegistration(s, res.holder)?.key : undefined;
  let victims: Registration[];
  let establish = false;
  if (res && isAllRegistrants(res.type) && sark === 0n) {
    // Preempting an All Registrants reservation: everyone else goes, the sender reserves.
    victims = s.registrations.filter((x) => x !== own);
    establish = true;
  } else if (res && !isAllRegistrants(res.type) && holderKey === sark) {
    // Preempting the holder: its registrations (and same-key ones) go, except the sender's.
    victims = s.registrations.filter((x) => x.key === sark && x !== own);
    establish = true;
  } else {
    // Removing registrations (§5.13.11.2.5): the reservation is untouched.
    if (sark === 0n) throw invalidParamField(8);
    victims = s.registrations.filter((x) => x.key === sark);
    if (victims.length === 0) return conflict('no registration has the SERVICE ACTION RESERVATION KEY');
  }
  for (const v of victims) {
    if (establish) s.registrations = s.registrations.filter((x) => x !== v);
    else unregister(s, v, fx);
    fx.ua(v, PR_ASC.REGISTRATIONS_PREEMPTED);
    if (action === ProutAction.PREEMPT_AND_ABORT) fx.abort.push(matcherOf(v));
  }
  if (establish && res) {
    s.reservation = { type, scope, holder: isAllRegistrants(type) ? undefined : fx.nexus };
    if (res.type !== type || res.scope !== scope) {
      for (const x of s.registrations) fx.ua(x, PR_ASC.RESERVATIONS_RELEASED);
    }
  }
  bumpGeneration(s);
  fx.changed = true;
  return fx.done();
}

/** §5.13.8: REGISTER AND MOVE. */
function registerAndMove(s: PrState, req: ProutRequest, env: ProutEnvironment, fx: Effects): ProutOutcome {
  let p;
  try {
    p = decodeRegisterAndMove(req.data);
  } catch (e) {
    throw codecToScsi(e);
  }
  const reg = registered(s, fx.nexus, p.key);
  if (isOutcome(reg)) return reg;
  if (p.serviceActionKey === 0n) throw invalidParamField(8);
  const res = s.reservation;
  if (!res || !isHolder(s, fx.nexus))
    return conflict('REGISTER AND MOVE from an I_T nexus that holds no reservation');
  if (isAllRegistrants(res.type)) return conflict('an All Registrants reservation cannot be moved');
  if (reg.allTgPt) throw invalidCdbField(1, 4);
  const targetPort = env.targetPortName(p.relativeTargetPortId)?.toLowerCase();
  if (targetPort === undefined) throw invalidParamField(18);
  const dest: NexusId = {
    initiator: p.transportId,
    targetPort,
    relativeTargetPortId: p.relativeTargetPortId,
  };
  if (targetPort === fx.nexus.targetPort && coversInitiator(p.transportId, fx.nexus.initiator))
    throw invalidParamField(24);
  if (env.knownInitiator && !env.knownInitiator(p.transportId)) throw invalidParamField(24);
  if (!findRegistration(s, dest)) {
    if (s.registrations.length >= env.maxRegistrations) throw insufficientResources();
    const r: Registration = {
      key: p.serviceActionKey,
      initiator: p.transportId,
      targetPort,
      relativeTargetPortId: p.relativeTargetPortId,
      allTgPt: false,
    };
    if (s.registrations.some((x) => registrationsOverlap(x, r))) throw invalidParamField(24);
    s.registrations.push(r);
  }
  s.reservation = { type: res.type, scope: res.scope, holder: dest };
  if (p.unreg) s.registrations = s.registrations.filter((x) => x !== reg);
  s.aptpl = p.aptpl;
  bumpGeneration(s);
  fx.changed = true;
  return fx.done();
}
