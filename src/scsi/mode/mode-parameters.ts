/**
 * The mode parameters of one logical unit (SPC-4 §6.9-§6.12, §7.5): current values of the pages
 * the core implements, their defaults, and the changeable-bit masks MODE SELECT is checked against.
 *
 * | page | name                          | changeable                                         |
 * |------|-------------------------------|----------------------------------------------------|
 * | 01h  | read-write error recovery     | nothing                                            |
 * | 08h  | caching                       | WCE, where the cache mode can honour both settings |
 * | 0Ah  | control                       | D_SENSE, SWP                                       |
 * | 1Ch  | informational exceptions      | nothing                                            |
 *
 * WCE follows the LU's cache mode: 1 for writeback/none/unsafe, 0 for writethrough/directsync.
 * Turning WCE off on a write-back mode is honoured by making every write FUA; turning it on
 * cannot be honoured on a write-through mode, so it is not changeable there.
 *
 * Saved values are not implemented (PS = 0 in every page): MODE SENSE with PC = saved answers
 * SAVING PARAMETERS NOT SUPPORTED, as SPC-4 §6.11 says for a device without saved pages.
 * A logical unit reset restores the defaults (SAM-5 §6.3.3).
 */
import { encodeCachingPage, CACHING_PAGE } from './caching.js';
import { encodeControlPage, CONTROL_PAGE } from './control.js';
import {
  encodeInformationalExceptionsPage,
  INFORMATIONAL_EXCEPTIONS_PAGE,
} from './informational-exceptions.js';
import { encodeReadWriteErrorRecovery, RW_ERROR_RECOVERY_PAGE } from './read-write-error-recovery.js';

export type PageControl = 'current' | 'changeable' | 'default' | 'saved';
/** SPC-4 Table 164 PC field values. */
export const PAGE_CONTROLS: readonly PageControl[] = ['current', 'changeable', 'default', 'saved'];

/** The pages in the order MODE SENSE returns them for page code 3Fh (ascending, SPC-4 §6.11). */
export const MODE_PAGES = [
  RW_ERROR_RECOVERY_PAGE,
  CACHING_PAGE,
  CONTROL_PAGE,
  INFORMATIONAL_EXCEPTIONS_PAGE,
] as const;
export const ALL_PAGES = 0x3f;

export interface ModePolicy {
  /** Default WCE. */
  wce: boolean;
  /** WCE may be changed by MODE SELECT. */
  wceChangeable: boolean;
  /** TAS in the control page (fixed). */
  tas: boolean;
}

function defaults(p: ModePolicy): Map<number, Buffer> {
  return new Map<number, Buffer>([
    [
      RW_ERROR_RECOVERY_PAGE,
      // AWRE and ARRE: automatic reallocation is the host file system's business; report them set.
      encodeReadWriteErrorRecovery({
        flags: 0xc0,
        readRetryCount: 0,
        writeRetryCount: 0,
        recoveryTimeLimit: 0,
      }),
    ],
    [
      CACHING_PAGE,
      encodeCachingPage({
        wce: p.wce,
        rcd: false,
        otherFlags: 0,
        disablePrefetchTransferLength: 0,
        minimumPrefetch: 0,
        maximumPrefetch: 0,
        maximumPrefetchCeiling: 0,
        flags12: 0,
        numberOfCacheSegments: 0,
      }),
    ],
    [
      CONTROL_PAGE,
      encodeControlPage({
        tst: 0,
        tmfOnly: false,
        dSense: false,
        gltsd: true,
        rlec: false,
        queueAlgorithmModifier: 1,
        nuar: false,
        qerr: 0,
        rac: false,
        uaIntlckCtrl: 0,
        swp: false,
        ato: false,
        tas: p.tas,
        autoloadMode: 0,
        busyTimeoutPeriod: 0,
        extendedSelfTestCompletionTime: 0,
      }),
    ],
    [
      INFORMATIONAL_EXCEPTIONS_PAGE,
      // DEXCPT = 1: informational exception reporting disabled (there is no SMART to report).
      encodeInformationalExceptionsPage({ flags: 0x08, mrie: 0, intervalTimer: 0, reportCount: 0 }),
    ],
  ]);
}

function masks(p: ModePolicy): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const [code, page] of defaults(p)) {
    const mask = Buffer.alloc(page.length);
    mask[0] = page[0]!;
    mask[1] = page[1]!;
    m.set(code, mask);
  }
  if (p.wceChangeable) m.get(CACHING_PAGE)![2] = 0x04;
  m.get(CONTROL_PAGE)![2] = 0x04; // D_SENSE
  m.get(CONTROL_PAGE)![4] = 0x08; // SWP
  return m;
}

export class ModeParameters {
  private readonly defaultPages: Map<number, Buffer>;
  private readonly changeableMasks: Map<number, Buffer>;
  private current: Map<number, Buffer>;

  constructor(private readonly policy: ModePolicy) {
    this.defaultPages = defaults(policy);
    this.changeableMasks = masks(policy);
    this.current = defaults(policy);
  }

  has(code: number): boolean {
    return this.current.has(code);
  }

  /** The page as MODE SENSE returns it for `pc` ('saved' is the caller's error to report). */
  page(code: number, pc: Exclude<PageControl, 'saved'>): Buffer {
    const src = pc === 'current' ? this.current : pc === 'default' ? this.defaultPages : this.changeableMasks;
    return Buffer.from(src.get(code)!);
  }

  get wce(): boolean {
    return !!(this.current.get(CACHING_PAGE)![2]! & 0x04);
  }

  get dSense(): boolean {
    return !!(this.current.get(CONTROL_PAGE)![2]! & 0x04);
  }

  get swp(): boolean {
    return !!(this.current.get(CONTROL_PAGE)![4]! & 0x08);
  }

  get tas(): boolean {
    return this.policy.tas;
  }

  /**
   * Checks one page of a MODE SELECT parameter list against the changeable mask. Returns the
   * offset (within the page) of the first bit that differs from the current value where the
   * mask does not allow a change, as [byte, bit], or undefined when the page is acceptable.
   * PS is ignored (SPC-4 §7.5.7: "the PS bit is reserved" in MODE SELECT).
   */
  firstUnchangeable(code: number, page: Buffer): [number, number] | undefined {
    const cur = this.current.get(code)!;
    const mask = this.changeableMasks.get(code)!;
    for (let i = 2; i < cur.length; i++) {
      const diff = (page[i]! ^ cur[i]!) & ~mask[i]! & 0xff;
      if (diff) return [i, 31 - Math.clz32(diff)];
    }
    return undefined;
  }

  /** Applies a page already checked by `firstUnchangeable`; returns whether anything changed. */
  apply(code: number, page: Buffer): boolean {
    const cur = this.current.get(code)!;
    const next = Buffer.from(cur);
    page.copy(next, 2, 2, cur.length);
    next[0] = cur[0]!;
    if (next.equals(cur)) return false;
    this.current.set(code, next);
    return true;
  }

  /** Restores the defaults (logical unit reset, SAM-5 §6.3.3). */
  reset(): void {
    this.current = defaults(this.policy);
  }
}
