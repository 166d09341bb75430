/**
 * The closed vocabularies of persistent reservations (SPC-4 §5.13, §6.15, §6.16), defined once:
 * PERSISTENT RESERVE IN / OUT service action codes, the reservation TYPE codes (Table 187) with
 * their holder semantics, the SCOPE code, and the additional sense codes only reservations use.
 *
 * Raw TYPE codes from a CDB or a state file are classified with `classifyType` into a `PrType` or
 * `undefined` (invalid), and everything downstream switches on the closed union.
 */

/** SPC-4 §6.15.1 Table 176: PERSISTENT RESERVE IN service actions. */
export const PrinAction = {
  READ_KEYS: 0x00,
  READ_RESERVATION: 0x01,
  REPORT_CAPABILITIES: 0x02,
  READ_FULL_STATUS: 0x03,
} as const;
export type PrinAction = (typeof PrinAction)[keyof typeof PrinAction];

/** SPC-4 §6.16.2 Table 190: PERSISTENT RESERVE OUT service actions. */
export const ProutAction = {
  REGISTER: 0x00,
  RESERVE: 0x01,
  RELEASE: 0x02,
  CLEAR: 0x03,
  PREEMPT: 0x04,
  PREEMPT_AND_ABORT: 0x05,
  REGISTER_AND_IGNORE_EXISTING_KEY: 0x06,
  REGISTER_AND_MOVE: 0x07,
} as const;
export type ProutAction = (typeof ProutAction)[keyof typeof ProutAction];

/** The six persistent reservation types (SPC-4 §6.15.3.4 Table 187). */
export type PrType = 'WE' | 'EA' | 'WE_RO' | 'EA_RO' | 'WE_AR' | 'EA_AR';

/** TYPE code of each type; the one definition both directions derive from. */
export const PR_TYPE_CODE: Readonly<Record<PrType, number>> = {
  WE: 0x1,
  EA: 0x3,
  WE_RO: 0x5,
  EA_RO: 0x6,
  WE_AR: 0x7,
  EA_AR: 0x8,
};

export const PR_TYPES: readonly PrType[] = Object.keys(PR_TYPE_CODE) as PrType[];

const BY_CODE = new Map<number, PrType>(PR_TYPES.map((t) => [PR_TYPE_CODE[t], t]));

/** A raw TYPE code, or undefined for a reserved/obsolete code (0h, 2h, 4h, 9h..Fh). */
export function classifyType(code: number): PrType | undefined {
  return BY_CODE.get(code);
}

/** Spelled-out names, for logs and READ FULL STATUS printouts in tests. */
export const PR_TYPE_NAME: Readonly<Record<PrType, string>> = {
  WE: 'Write Exclusive',
  EA: 'Exclusive Access',
  WE_RO: 'Write Exclusive - Registrants Only',
  EA_RO: 'Exclusive Access - Registrants Only',
  WE_AR: 'Write Exclusive - All Registrants',
  EA_AR: 'Exclusive Access - All Registrants',
};

/** All Registrants types: every registered I_T nexus is a reservation holder (SPC-4 §5.13.10). */
export function isAllRegistrants(t: PrType): boolean {
  return t === 'WE_AR' || t === 'EA_AR';
}

/** Registrants Only or All Registrants: registered I_T nexuses get access (Table 63 columns). */
export function admitsRegistrants(t: PrType): boolean {
  return t === 'WE_RO' || t === 'EA_RO' || t === 'WE_AR' || t === 'EA_AR';
}

/** Exclusive Access family: reads conflict too. */
export function isExclusiveAccess(t: PrType): boolean {
  return t === 'EA' || t === 'EA_RO' || t === 'EA_AR';
}

/** SPC-4 §6.15.3.3 Table 186: the only SCOPE code: LU_SCOPE. */
export const LU_SCOPE = 0x0;

/**
 * Additional sense codes of reservations (SPC-4 Annex D), `(ASC << 8) | ASCQ` like sense-codes.ts.
 * They belong in the core's ASC table; until the wiring adds them there, they live here.
 */
export const PR_ASC = {
  RESERVATIONS_PREEMPTED: 0x2a03,
  RESERVATIONS_RELEASED: 0x2a04,
  REGISTRATIONS_PREEMPTED: 0x2a05,
  INVALID_RELEASE_OF_PERSISTENT_RESERVATION: 0x2604,
  INSUFFICIENT_REGISTRATION_RESOURCES: 0x5504,
} as const;

/** The most registrations one logical unit holds (INSUFFICIENT REGISTRATION RESOURCES past it). */
export const MAX_REGISTRATIONS = 1024;
