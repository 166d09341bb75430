/**
 * The on-disk encoding of one logical unit's persistent reservation state: versioned JSON,
 * one object per file (byte table in docs/persistent-reservations.md):
 *
 *   {"format":"vdisk-pr","version":1,"uuid":"<LU UUID>","sha256":"<hex of the state text>",
 *    "state":{"generation":N,"aptpl":bool,
 *             "registrations":[{"key":"<16 hex>","initiator":"<iqn>[,i,0x<isid>]",
 *                               "targetPort":"<iqn>,t,0x<tpgt>"|null,"rtpi":N,"allTgPt":bool}],
 *             "reservation":null|{"type":"WE|EA|WE_RO|EA_RO|WE_AR|EA_AR","scope":0,
 *                                 "holder":null|{"initiator":"...","targetPort":"...","rtpi":N}}}}
 *
 * `sha256` covers the exact text of `state` as written, so a torn or bit-flipped file is caught
 * even where it still parses. Decoding validates every field and throws ReservationStateError
 * ('CORRUPT' for damage, 'UNSUPPORTED_VERSION' for a newer writer, 'WRONG_LU' for a file of another
 * logical unit); it never returns a half-checked state. Keys are hex strings because JSON numbers
 * cannot hold 64 bits.
 */
import { createHash } from 'node:crypto';
import { PR_TYPES, type PrType } from './pr-types.js';
import {
  findRegistration,
  registrationsOverlap,
  type NexusId,
  type PrState,
  type Registration,
} from './state.js';
import { parseInitiatorPort, transportIdText } from './transport-id.js';

export const STATE_FORMAT = 'vdisk-pr';
export const STATE_VERSION = 1;
/** A state file larger than this is refused before parsing (1024 registrations fit in ~300 KiB). */
export const MAX_STATE_BYTES = 4 * 1024 * 1024;

export type ReservationStateErrorCode = 'CORRUPT' | 'UNSUPPORTED_VERSION' | 'WRONG_LU' | 'IO';

export class ReservationStateError extends Error {
  constructor(
    readonly code: ReservationStateErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ReservationStateError';
  }
}

const corrupt = (what: string): ReservationStateError =>
  new ReservationStateError('CORRUPT', `persistent reservation state: ${what}`);

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

function nexusJson(n: NexusId): object {
  return { initiator: transportIdText(n.initiator), targetPort: n.targetPort, rtpi: n.relativeTargetPortId };
}

export function encodeState(uuid: string, s: PrState): Buffer {
  const state = JSON.stringify({
    generation: s.generation,
    aptpl: s.aptpl,
    registrations: s.registrations.map((r) => ({
      key: r.key.toString(16).padStart(16, '0'),
      initiator: transportIdText(r.initiator),
      targetPort: r.targetPort ?? null,
      rtpi: r.relativeTargetPortId,
      allTgPt: r.allTgPt,
    })),
    reservation: s.reservation
      ? {
          type: s.reservation.type,
          scope: s.reservation.scope,
          holder: s.reservation.holder ? nexusJson(s.reservation.holder) : null,
        }
      : null,
  });
  const head = JSON.stringify({ format: STATE_FORMAT, version: STATE_VERSION, uuid, sha256: sha256(state) });
  return Buffer.from(`${head.slice(0, -1)},"state":${state}}\n`, 'utf8');
}

type Json = Record<string, unknown>;

function obj(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw corrupt(`${what} is not an object`);
  return v as Json;
}
function int(v: unknown, what: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw corrupt(`bad ${what}`);
  return v;
}
function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw corrupt(`bad ${what}`);
  return v;
}
function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 512) throw corrupt(`bad ${what}`);
  return v;
}

function nexusFrom(v: unknown): NexusId {
  const o = obj(v, 'holder');
  return {
    initiator: parseInitiatorPort(str(o.initiator, 'holder initiator')),
    targetPort: str(o.targetPort, 'holder target port'),
    relativeTargetPortId: int(o.rtpi, 'holder rtpi', 0xffff),
  };
}

function registrationFrom(v: unknown): Registration {
  const o = obj(v, 'registration');
  const key = str(o.key, 'key');
  if (!/^[0-9a-f]{16}$/.test(key)) throw corrupt('bad key');
  const allTgPt = bool(o.allTgPt, 'allTgPt');
  const targetPort = o.targetPort === null ? undefined : str(o.targetPort, 'targetPort');
  if (allTgPt !== (targetPort === undefined)) throw corrupt('targetPort and allTgPt disagree');
  return {
    key: BigInt(`0x${key}`),
    initiator: parseInitiatorPort(str(o.initiator, 'initiator')),
    targetPort,
    relativeTargetPortId: int(o.rtpi, 'rtpi', 0xffff),
    allTgPt,
  };
}

/** Decodes a state file of logical unit `uuid`. */
export function decodeState(uuid: string, b: Buffer): PrState {
  if (b.length > MAX_STATE_BYTES) throw corrupt(`file of ${b.length} bytes`);
  const text = b.toString('utf8');
  let top: Json;
  try {
    top = obj(JSON.parse(text), 'file');
  } catch (e) {
    throw e instanceof ReservationStateError ? e : corrupt('not JSON (truncated or damaged)');
  }
  if (top.format !== STATE_FORMAT) throw corrupt(`format ${String(top.format)}`);
  if (top.version !== STATE_VERSION) {
    throw typeof top.version === 'number' && top.version > STATE_VERSION
      ? new ReservationStateError(
          'UNSUPPORTED_VERSION',
          `state version ${top.version} is newer than ${STATE_VERSION}`,
        )
      : corrupt(`version ${String(top.version)}`);
  }
  if (top.uuid !== uuid)
    throw new ReservationStateError('WRONG_LU', `state of ${String(top.uuid)}, not ${uuid}`);
  const at = text.indexOf(',"state":');
  if (at < 0) throw corrupt('no state');
  if (sha256(text.slice(at + 9, text.trimEnd().length - 1)) !== top.sha256)
    throw corrupt('checksum mismatch');
  const o = obj(top.state, 'state');
  if (!Array.isArray(o.registrations)) throw corrupt('registrations is not a list');
  const s: PrState = {
    generation: int(o.generation, 'generation', 0xffffffff),
    aptpl: bool(o.aptpl, 'aptpl'),
    registrations: o.registrations.map(registrationFrom),
    reservation: undefined,
  };
  if (o.reservation !== null) {
    const r = obj(o.reservation, 'reservation');
    if (!PR_TYPES.includes(r.type as PrType)) throw corrupt('bad reservation type');
    const type = r.type as PrType;
    const holder = r.holder === null ? undefined : nexusFrom(r.holder);
    s.reservation = { type, scope: int(r.scope, 'scope', 0), holder };
    if ((type === 'WE_AR' || type === 'EA_AR') !== (holder === undefined))
      throw corrupt('holder and type disagree');
    if (holder && !findRegistration(s, holder)) throw corrupt('the reservation holder is not registered');
    if (!holder && s.registrations.length === 0)
      throw corrupt('an All Registrants reservation without registrants');
  }
  s.registrations.forEach((r, i) => {
    if (s.registrations.some((x, j) => j > i && registrationsOverlap(r, x)))
      throw corrupt('overlapping registrations');
  });
  return s;
}
