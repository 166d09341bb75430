/**
 * SPC-2 RESERVE and RELEASE (SPC-2 §7.21, §7.22, §5.5.1) and how they meet persistent
 * reservations (SPC-4 §5.13.3, "Exceptions to SPC-2 RESERVE and RELEASE behavior"; this is the
 * CRH = 1 behaviour REPORT CAPABILITIES advertises):
 *
 * 1. From an I_T nexus that is a persistent reservation holder, or that is registered while a
 *    Registrants Only or All Registrants reservation exists: GOOD, and nothing changes.
 * 2. Otherwise, while any registration exists: RESERVATION CONFLICT (SPC-2 §5.5.1: "all RESERVE
 *    commands and all RELEASE commands regardless of initiator shall conflict").
 * 3. Otherwise SPC-2: RESERVE by another I_T nexus than the holder conflicts, by the holder (or
 *    when free) reserves; RELEASE by the holder releases, by anyone else is GOOD and a no-op,
 *    and without a reservation is GOOD ("RELEASE without a reservation is not a conflict").
 *
 * SPC-2 reservations are released by RELEASE, by a logical unit reset, a target reset and by the
 * loss of the holder's I_T nexus (engine.ts), and never persist.
 */
import type { Spc2Reservation } from './conflicts.js';
import { admitsRegistrants } from './pr-types.js';
import { findRegistration, isHolder, type NexusId, type PrState } from './state.js';

export type Spc2Outcome =
  { readonly kind: 'good'; readonly spc2: Spc2Reservation | undefined } | { readonly kind: 'conflict' };

function persistentRule(s: PrState, n: NexusId): 'no-op' | 'conflict' | 'spc2' {
  const res = s.reservation;
  if (res && (isHolder(s, n) || (admitsRegistrants(res.type) && findRegistration(s, n)))) return 'no-op';
  return s.registrations.length > 0 ? 'conflict' : 'spc2';
}

/** Applies rules 1 and 2, then `spc2Rule` (rule 3) when neither decides. */
function decide(
  s: PrState,
  cur: Spc2Reservation | undefined,
  n: NexusId,
  spc2Rule: () => Spc2Outcome,
): Spc2Outcome {
  const rule = persistentRule(s, n);
  if (rule === 'no-op') return { kind: 'good', spc2: cur };
  if (rule === 'conflict') return { kind: 'conflict' };
  return spc2Rule();
}

export function spc2Reserve(
  s: PrState,
  cur: Spc2Reservation | undefined,
  n: NexusId,
  key: string,
): Spc2Outcome {
  return decide(s, cur, n, () =>
    cur && cur.holderKey !== key ? { kind: 'conflict' } : { kind: 'good', spc2: { holderKey: key } },
  );
}

export function spc2Release(
  s: PrState,
  cur: Spc2Reservation | undefined,
  n: NexusId,
  key: string,
): Spc2Outcome {
  return decide(s, cur, n, () => ({ kind: 'good', spc2: cur && cur.holderKey === key ? undefined : cur }));
}
