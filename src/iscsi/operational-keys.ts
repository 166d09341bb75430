/**
 * Operational text keys and their negotiation rules (RFC 7143 §13 and §6.2-§6.3), as one table.
 *
 * Each key has a kind that fixes how the answer is computed from the initiator's offer and the
 * target's own value:
 *
 * - `min` / `max` numbers (§6.2.2 "the result is the minimum/maximum of the two"), with the
 *   key's valid range; an offer outside the range or not a number is answered `Reject`;
 * - `or` / `and` booleans (§6.2.2: InitialR2T and the InOrder keys take OR, ImmediateData AND);
 * - `list` keys (§6.2.1: the responder picks the first offered value it supports, else `Reject`);
 * - `declarative` keys (§6.2: no answer; MaxRecvDataSegmentLength is per direction, §13.12);
 * - `obsolete` keys of RFC 3720 that RFC 7143 §13.26 retired (markers): answered so that an
 *   older initiator turns them off;
 * - everything else is `NotUnderstood` (§6.2), and X- / X# private keys too.
 *
 * `OperationalParams` is the result, with every key's default (§13) until negotiated.
 */
import { formatBoolean, parseBoolean, parseNumber, type TextPairs } from './text-keys.js';

export interface OperationalParams {
  headerDigest: boolean;
  dataDigest: boolean;
  maxConnections: number;
  initialR2T: boolean;
  immediateData: boolean;
  /** What the initiator declared it receives: the cap on our Data-In, Text and NOP-In segments. */
  maxXmitDataSegmentLength: number;
  /** What we declared we receive (the parser's cap). */
  maxRecvDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  maxOutstandingR2T: number;
  dataPDUInOrder: boolean;
  dataSequenceInOrder: boolean;
  errorRecoveryLevel: number;
}

/** The defaults of RFC 7143 §13, in force for whatever a login does not negotiate. */
export const DEFAULT_PARAMS: Readonly<OperationalParams> = {
  headerDigest: false,
  dataDigest: false,
  maxConnections: 1,
  initialR2T: true,
  immediateData: true,
  maxXmitDataSegmentLength: 8192,
  maxRecvDataSegmentLength: 8192,
  maxBurstLength: 262144,
  firstBurstLength: 65536,
  defaultTime2Wait: 2,
  defaultTime2Retain: 20,
  maxOutstandingR2T: 1,
  dataPDUInOrder: true,
  dataSequenceInOrder: true,
  errorRecoveryLevel: 0,
};

/** What this target accepts; the answers to offers are computed from these. */
export interface TargetLimits {
  maxRecvDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  maxOutstandingR2T: number;
  initialR2T: boolean;
  immediateData: boolean;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  digests: readonly ('CRC32C' | 'None')[];
}

export const DEFAULT_TARGET_LIMITS: TargetLimits = {
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 16776192,
  firstBurstLength: 262144,
  maxOutstandingR2T: 16,
  initialR2T: false,
  immediateData: true,
  defaultTime2Wait: 2,
  // ERL 0 and one connection per session: nothing of a failed connection is kept to recover.
  defaultTime2Retain: 0,
  digests: ['CRC32C', 'None'],
};

type NumberKey = 'min' | 'max';

type KeyRule =
  | {
      kind: NumberKey;
      lo: number;
      hi: number;
      ours: (l: TargetLimits) => number;
      set: (p: OperationalParams, v: number) => void;
    }
  | {
      kind: 'or' | 'and';
      ours: (l: TargetLimits) => boolean;
      set: (p: OperationalParams, v: boolean) => void;
    }
  | { kind: 'digest'; set: (p: OperationalParams, v: boolean) => void }
  | { kind: 'list'; supported: readonly string[] }
  | { kind: 'declared-length' }
  | { kind: 'answer'; answer: string };

const MAX_24 = 16777215;

/** RFC 7143 §13: the negotiated operational keys. Names are the spec's. */
export const OPERATIONAL_KEYS: ReadonlyMap<string, KeyRule> = new Map<string, KeyRule>([
  ['HeaderDigest', { kind: 'digest', set: (p, v) => (p.headerDigest = v) }],
  ['DataDigest', { kind: 'digest', set: (p, v) => (p.dataDigest = v) }],
  ['MaxConnections', { kind: 'min', lo: 1, hi: 65535, ours: () => 1, set: (p, v) => (p.maxConnections = v) }],
  ['InitialR2T', { kind: 'or', ours: (l) => l.initialR2T, set: (p, v) => (p.initialR2T = v) }],
  ['ImmediateData', { kind: 'and', ours: (l) => l.immediateData, set: (p, v) => (p.immediateData = v) }],
  ['MaxRecvDataSegmentLength', { kind: 'declared-length' }],
  [
    'MaxBurstLength',
    {
      kind: 'min',
      lo: 512,
      hi: MAX_24,
      ours: (l) => l.maxBurstLength,
      set: (p, v) => (p.maxBurstLength = v),
    },
  ],
  [
    'FirstBurstLength',
    {
      kind: 'min',
      lo: 512,
      hi: MAX_24,
      ours: (l) => l.firstBurstLength,
      set: (p, v) => (p.firstBurstLength = v),
    },
  ],
  [
    'DefaultTime2Wait',
    {
      kind: 'max',
      lo: 0,
      hi: 3600,
      ours: (l) => l.defaultTime2Wait,
      set: (p, v) => (p.defaultTime2Wait = v),
    },
  ],
  [
    'DefaultTime2Retain',
    {
      kind: 'min',
      lo: 0,
      hi: 3600,
      ours: (l) => l.defaultTime2Retain,
      set: (p, v) => (p.defaultTime2Retain = v),
    },
  ],
  [
    'MaxOutstandingR2T',
    {
      kind: 'min',
      lo: 1,
      hi: 65535,
      ours: (l) => l.maxOutstandingR2T,
      set: (p, v) => (p.maxOutstandingR2T = v),
    },
  ],
  ['DataPDUInOrder', { kind: 'or', ours: () => true, set: (p, v) => (p.dataPDUInOrder = v) }],
  ['DataSequenceInOrder', { kind: 'or', ours: () => true, set: (p, v) => (p.dataSequenceInOrder = v) }],
  // ERL 0 only: recovery is by session, and SNACK is refused (§7.1.5).
  [
    'ErrorRecoveryLevel',
    { kind: 'min', lo: 0, hi: 2, ours: () => 0, set: (p, v) => (p.errorRecoveryLevel = v) },
  ],
  // RFC 3720's markers, obsolete in RFC 7143 (§13.26): turned off for initiators that still offer them.
  // RFC 7143 §13.23: vdisk reports task outcomes as RFC 3720 did.
  ['TaskReporting', { kind: 'list', supported: ['RFC3720'] }],
  // RFC 7144 §2.1: protocol level 1 is RFC 7143.
  ['iSCSIProtocolLevel', { kind: 'min', lo: 0, hi: 31, ours: () => 1, set: () => undefined }],
  ['OFMarker', { kind: 'answer', answer: 'No' }],
  ['IFMarker', { kind: 'answer', answer: 'No' }],
  ['OFMarkInt', { kind: 'answer', answer: 'Irrelevant' }],
  ['IFMarkInt', { kind: 'answer', answer: 'Irrelevant' }],
]);

/**
 * Answers one operational key offered by the initiator, updating `params`. Returns the answer's
 * value, or undefined for a declarative key that takes none.
 */
export function answerOperationalKey(
  key: string,
  value: string,
  params: OperationalParams,
  limits: TargetLimits,
): string | undefined {
  const rule = OPERATIONAL_KEYS.get(key);
  if (!rule) return 'NotUnderstood';
  switch (rule.kind) {
    case 'min':
    case 'max': {
      const v = parseNumber(value);
      if (v === undefined || v < rule.lo || v > rule.hi) return 'Reject';
      const ours = rule.ours(limits);
      const result = rule.kind === 'min' ? Math.min(v, ours) : Math.max(v, ours);
      rule.set(params, result);
      return String(result);
    }
    case 'or':
    case 'and': {
      const v = parseBoolean(value);
      if (v === undefined) return 'Reject';
      const ours = rule.ours(limits);
      const result = rule.kind === 'or' ? v || ours : v && ours;
      rule.set(params, result);
      return formatBoolean(result);
    }
    case 'digest': {
      const offered = value.split(',');
      const pick = offered.find((o) => (limits.digests as readonly string[]).includes(o));
      if (!pick) return 'Reject';
      rule.set(params, pick === 'CRC32C');
      return pick;
    }
    case 'list': {
      const pick = value.split(',').find((o) => rule.supported.includes(o));
      return pick ?? 'Reject';
    }
    case 'declared-length': {
      const v = parseNumber(value);
      if (v === undefined || v < 512 || v > MAX_24) return 'Reject';
      params.maxXmitDataSegmentLength = v;
      return undefined;
    }
    case 'answer':
      return rule.answer;
  }
}

/**
 * Checks the relations between negotiated values that RFC 7143 states (§13.14: FirstBurstLength
 * MUST NOT exceed MaxBurstLength) after the operational stage.
 */
export function finishParams(p: OperationalParams): void {
  if (p.firstBurstLength > p.maxBurstLength) p.firstBurstLength = p.maxBurstLength;
}

/** The declarations the target makes once (§13.12): our receive limit. */
export function targetDeclarations(limits: TargetLimits): TextPairs {
  return [['MaxRecvDataSegmentLength', String(limits.maxRecvDataSegmentLength)]];
}
