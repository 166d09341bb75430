/**
 * CHAP for iSCSI login (RFC 7143 §12.1.3, over RFC 1994), target side:
 *
 *     I: CHAP_A=<A1,A2,...>                       T: CHAP_A=<A> CHAP_I=<I> CHAP_C=<C>
 *     I: CHAP_N=<N> CHAP_R=<R> [CHAP_I=<I'> CHAP_C=<C'>]   (the bracket asks for mutual CHAP)
 *                                                  T: [CHAP_N=<N'> CHAP_R=<R'>]
 *
 * R = H(I || secret || C) over the identifier byte, the secret and the challenge (RFC 1994 §4.1).
 * Algorithms (CHAP_A values, IANA "PPP Authentication Algorithms"): 5 MD5 (the one RFC 7143
 * requires), 6 SHA-1, 7 SHA-256, 8 SHA3-256; the target picks the first one the initiator lists
 * that it supports (§6.2.1 list rule). Challenges are random, as long as the digest (16 bytes for
 * MD5); binary values are sent as 0x hex and read as hex or base64 (§6.1).
 *
 * Refused with an authentication failure (02/01): a wrong name or response, a malformed value,
 * an initiator challenge equal to ours (a reflection: RFC 7143 §12.1.3 "the target MUST ...
 * reject" a challenge it sent itself), a mutual request when no target secret is configured, and
 * an empty initiator challenge.
 */
import crypto from 'node:crypto';
import { LOGIN_STATUS } from './constants.js';
import { LoginError } from './errors.js';
import { formatBinary, parseBinary, parseNumber, type TextPairs } from './text-keys.js';

export interface ChapCredentials {
  user: string;
  secret: string;
}

/** IANA PPP authentication algorithm numbers and Node's hash names. */
export const CHAP_ALGORITHMS: ReadonlyMap<number, { hash: string; size: number }> = new Map([
  [5, { hash: 'md5', size: 16 }],
  [6, { hash: 'sha1', size: 20 }],
  [7, { hash: 'sha256', size: 32 }],
  [8, { hash: 'sha3-256', size: 32 }],
]);

/** RFC 7143 §12.1.3 asks for secrets of at least 96 bits; Microsoft's initiator wants 12-16 bytes. */
export const MIN_CHAP_SECRET_LENGTH = 12;

/** Refuses credentials RFC 7143 says must not be used; the message is for the operator. */
export function checkChapCredentials(c: ChapCredentials, what: string): void {
  if (c.user.length === 0) throw new Error(`${what}: the CHAP user name is empty`);
  if (Buffer.byteLength(c.secret) < MIN_CHAP_SECRET_LENGTH) {
    throw new Error(
      `${what}: the CHAP secret has ${Buffer.byteLength(c.secret)} characters; ` +
        `use at least ${MIN_CHAP_SECRET_LENGTH} (RFC 7143 §12.1.3; Windows wants 12 to 16)`,
    );
  }
}

export function chapResponse(
  algorithm: number,
  id: number,
  secret: Buffer | string,
  challenge: Buffer,
): Buffer {
  const alg = CHAP_ALGORITHMS.get(algorithm);
  if (!alg) throw new Error(`unknown CHAP algorithm ${algorithm}`);
  return crypto
    .createHash(alg.hash)
    .update(Buffer.from([id & 0xff]))
    .update(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret)
    .update(challenge)
    .digest();
}

type ChapState =
  | { s: 'wait-algorithm' }
  | { s: 'wait-response'; algorithm: number; id: number; challenge: Buffer }
  | { s: 'done' };

/** One CHAP exchange of one login. */
export class ChapExchange {
  private state: ChapState = { s: 'wait-algorithm' };

  constructor(
    private readonly initiatorCredentials: ChapCredentials,
    private readonly targetCredentials: ChapCredentials | undefined,
  ) {}

  get done(): boolean {
    return this.state.s === 'done';
  }

  /** Handles the CHAP keys of one Login Request; returns the keys of the answer. */
  step(keys: Map<string, string>): TextPairs {
    const st = this.state;
    if (st.s === 'wait-algorithm') {
      const offered = keys.get('CHAP_A');
      if (offered === undefined) throw fail('CHAP_A expected');
      const pick = offered
        .split(',')
        .map((a) => parseNumber(a))
        .find((a): a is number => a !== undefined && CHAP_ALGORITHMS.has(a));
      if (pick === undefined) {
        // §12.1.3: the target answers CHAP_A=Reject... and the login cannot go on without one.
        throw fail(`no supported CHAP algorithm in CHAP_A=${offered}`);
      }
      const id = crypto.randomInt(256);
      const challenge = crypto.randomBytes(Math.max(16, CHAP_ALGORITHMS.get(pick)!.size));
      this.state = { s: 'wait-response', algorithm: pick, id, challenge };
      return [
        ['CHAP_A', String(pick)],
        ['CHAP_I', String(id)],
        ['CHAP_C', formatBinary(challenge)],
      ];
    }
    if (st.s === 'wait-response') {
      const name = keys.get('CHAP_N');
      const resp = keys.get('CHAP_R');
      if (name === undefined || resp === undefined) throw fail('CHAP_N and CHAP_R expected');
      const r = parseBinary(resp);
      const expected = chapResponse(st.algorithm, st.id, this.initiatorCredentials.secret, st.challenge);
      if (
        name !== this.initiatorCredentials.user ||
        !r ||
        r.length !== expected.length ||
        !crypto.timingSafeEqual(r, expected)
      ) {
        throw fail(`CHAP authentication of '${name}' failed`);
      }
      const out: TextPairs = [];
      const mi = keys.get('CHAP_I');
      const mc = keys.get('CHAP_C');
      if (mi !== undefined || mc !== undefined) {
        // Mutual CHAP: the initiator authenticates the target.
        if (!this.targetCredentials) throw fail('mutual CHAP asked for, but no target secret is configured');
        const id = mi === undefined ? undefined : parseNumber(mi);
        const c = mc === undefined ? undefined : parseBinary(mc);
        if (id === undefined || id > 255 || !c || c.length === 0) throw fail('malformed CHAP_I or CHAP_C');
        if (c.equals(st.challenge)) throw fail('the initiator reflected the target challenge');
        out.push(['CHAP_N', this.targetCredentials.user]);
        out.push(['CHAP_R', formatBinary(chapResponse(st.algorithm, id, this.targetCredentials.secret, c))]);
      }
      this.state = { s: 'done' };
      return out;
    }
    throw fail('CHAP keys after the CHAP exchange ended');
  }
}

function fail(message: string): LoginError {
  return new LoginError(LOGIN_STATUS.AUTHENTICATION_FAILURE, message);
}
