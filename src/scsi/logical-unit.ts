/**
 * One logical unit = one volume (DESIGN.md). Everything a logical unit remembers lives here, not
 * in a target or a session, because several targets may export the same LogicalUnit object and
 * SCSI state (task set, unit attentions, mode parameters, and in the next issue reservations)
 * belongs to the logical unit (SAM-5 §4.6.19, SPC-4 §5.13).
 *
 * - Identity: serial and NAA designator from the volume UUID (identity.ts).
 * - Geometry: `blockSize` (512 or 4096) over the device; capacity is re-read on every command,
 *   and `notifyCapacityChanged` raises CAPACITY DATA HAS CHANGED for every nexus.
 * - Per-I_T-nexus state: unit attention queue (a nexus seen for the first time starts with
 *   POWER ON, RESET, OR BUS DEVICE RESET OCCURRED, SAM-5 §6.3.1) and the PREVENT ALLOW MEDIUM
 *   REMOVAL state.
 * - `reservations`: the hook the dispatcher asks before running a command (issue 6 implements
 *   persistent reservations behind it; today nothing ever conflicts).
 * - `atomic`: a range lock over logical blocks, the serialisation point for operations that must
 *   be atomic against every other initiator (COMPARE AND WRITE, EXTENDED COPY in issue 6).
 */
import { cacheFlags, type BlockDevice, type CacheMode } from '../block/index.js';
import { BlockError, RangeLock } from '../util/index.js';
import { luIdentity, type LuIdentity } from './identity.js';
import { ModeParameters } from './mode/mode-parameters.js';
import { ASC } from './sense-codes.js';
import type { ItNexus } from './task.js';
import { TaskSet } from './task-set.js';
import { UnitAttentionQueue } from './unit-attention.js';

export type DiscardPolicy = 'on' | 'ignore';

export interface LogicalUnitOptions {
  /** The volume UUID: VPD 80h serial and VPD 83h NAA designator derive from it. */
  uuid: string;
  /** T10 VENDOR IDENTIFICATION (8 ASCII characters); default "VDISK". */
  vendor?: string;
  /** PRODUCT IDENTIFICATION (16 ASCII characters); default "vdisk volume". */
  product?: string;
  /** PRODUCT REVISION LEVEL (4 ASCII characters); default "0001". */
  revision?: string;
  /** MEDIUM ROTATION RATE = 1 (non-rotating) in VPD B1h. */
  ssd?: boolean;
  /** 'on': UNMAP and WRITE SAME with UNMAP are advertised when the device can discard. */
  discard?: DiscardPolicy;
  /** Write protect the LU whatever the device allows. */
  readOnly?: boolean;
  /** The cache mode the device was opened with: decides WCE (default writeback). */
  cacheMode?: CacheMode;
  /** Logical block length: 512 (default) or 4096. */
  blockSize?: 512 | 4096;
  /**
   * Removable medium (RMB = 1): START STOP UNIT with LOEJ ejects and loads it, PREVENT ALLOW
   * MEDIUM REMOVAL holds it in. For media-like exports; volumes of VMs are not removable (default).
   */
  removable?: boolean;
}

/** Per-I_T-nexus state in one logical unit. */
export interface NexusState {
  readonly nexus: ItNexus;
  readonly ua: UnitAttentionQueue;
  /** PREVENT ALLOW MEDIUM REMOVAL: PREVENT = 01b is in effect for this nexus. */
  preventRemoval: boolean;
  /** False once the nexus was lost; kept so a returning initiator port sees I_T NEXUS LOSS. */
  connected: boolean;
}

/**
 * The reservation check of the dispatch path (SPC-4 §5.13.1 Table 63). Issue 6 replaces the
 * implementation; the dispatcher calls `conflicts` for every command that passed unit attention
 * checks and answers RESERVATION CONFLICT when it returns true.
 */
export interface ReservationPolicy {
  conflicts(nexus: ItNexus, commandName: string, cdb: Buffer): boolean;
  /** I_T nexus loss / reset notifications (SPC-2 reservations are released on them). */
  nexusLost(nexus: ItNexus): void;
  reset(): void;
}

export const noReservations: ReservationPolicy = {
  conflicts: () => false,
  nexusLost: () => {},
  reset: () => {},
};

/**
 * SANITIZE state (SBC-3 §4.11): a BLOCK ERASE in progress (with its progress, for the PROGRESS
 * INDICATION of NOT READY / SANITIZE IN PROGRESS), or the sanitize failure mode after a failed one
 * (left by a successful SANITIZE, or by EXIT FAILURE MODE when the failed command had AUSE = 1).
 */
export type SanitizeState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'running'; done: number; readonly total: number }
  | { readonly kind: 'failed'; readonly ause: boolean };

/** How many lost nexuses are remembered (for I_T NEXUS LOSS OCCURRED) before the oldest go. */
const MAX_LOST_NEXUSES = 256;

export class LogicalUnit {
  readonly device: BlockDevice;
  readonly uuid: string;
  readonly identity: LuIdentity;
  readonly blockSize: number;
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  readonly ssd: boolean;
  readonly discard: DiscardPolicy;
  readonly cacheMode: CacheMode;
  readonly removable: boolean;
  /** The medium is loaded (only a removable LU can be without it). */
  mediumLoaded = true;
  readonly mode: ModeParameters;
  readonly taskSet = new TaskSet();
  /** Serialisation point for atomic operations, keyed by byte range on the device. */
  readonly atomic = new RangeLock();
  reservations: ReservationPolicy = noReservations;
  /** SANITIZE progress or failure mode; it belongs to the medium, so resets leave it alone. */
  sanitize: SanitizeState = { kind: 'idle' };
  private readonly forcedReadOnly: boolean;
  private readonly nexuses = new Map<string, NexusState>();

  constructor(device: BlockDevice, opts: LogicalUnitOptions) {
    const blockSize = opts.blockSize ?? 512;
    if (blockSize !== 512 && blockSize !== 4096)
      throw new BlockError('INVALID', `invalid block size ${blockSize}`);
    if (blockSize < device.caps.minBlockSize || blockSize % device.caps.minBlockSize !== 0) {
      throw new BlockError(
        'INVALID',
        `block size ${blockSize} does not suit the device (alignment ${device.caps.minBlockSize})`,
      );
    }
    this.device = device;
    this.uuid = opts.uuid;
    this.identity = luIdentity(opts.uuid);
    this.blockSize = blockSize;
    this.vendor = opts.vendor ?? 'VDISK';
    this.product = opts.product ?? 'vdisk volume';
    this.revision = opts.revision ?? '0001';
    this.ssd = opts.ssd ?? false;
    this.discard = opts.discard ?? 'ignore';
    this.cacheMode = opts.cacheMode ?? 'writeback';
    this.removable = opts.removable ?? false;
    this.forcedReadOnly = opts.readOnly ?? false;
    const flags = cacheFlags(this.cacheMode);
    this.mode = new ModeParameters({
      wce: !flags.writethrough,
      wceChangeable: !flags.writethrough,
      tas: false,
    });
  }

  /**
   * Lifecycle (STYLE.md convention 9): resolves once the commands in flight now have ended and no
   * SANITIZE is erasing in the background. The caller stops handing in commands first (transports
   * drain their connections), then drains, then flushes and closes the device, which the LU does
   * not own.
   */
  async drain(): Promise<void> {
    await this.taskSet.drain();
    while (this.sanitize.kind === 'running') {
      await this.atomic.run(0, Math.max(1, this.device.size), true, async () => {});
    }
  }

  /** Number of logical blocks (the last LBA is blocks - 1). */
  get blocks(): number {
    return Math.floor(this.device.size / this.blockSize);
  }

  /** The medium is write protected: read-only option, read-only device, or SWP in the control page. */
  get writeProtected(): boolean {
    return this.forcedReadOnly || this.device.caps.readOnly || this.mode.swp;
  }

  /** Hard write protection (not SWP): decides the WP bit and VPD/READ CAPACITY provisioning bits. */
  get readOnly(): boolean {
    return this.forcedReadOnly || this.device.caps.readOnly;
  }

  /**
   * UNMAP and WRITE SAME's UNMAP bit are offered (LBPME, LBPU, LBPWS): discard=on and a device
   * that can discard. A device opened read-only reports no discard, but the LU still offers
   * unmapping and answers it with WRITE PROTECTED, as a write-protected thin disk does (libiscsi's
   * ReadOnly test expects UNMAP to fail that way rather than be unknown).
   */
  get canUnmap(): boolean {
    const caps = this.device.caps;
    return this.discard === 'on' && (caps.canDiscard || caps.readOnly);
  }

  /** Unmapped blocks read as zeroes (LBPRZ): unmapping goes through writeZeroes with mayUnmap. */
  get unmapReadsZero(): boolean {
    const caps = this.device.caps;
    return this.canUnmap && (caps.canZero || caps.readOnly);
  }

  /** Writes must be FUA because WCE was turned off on a write-back cache mode. */
  get forceFua(): boolean {
    return !this.mode.wce && !cacheFlags(this.cacheMode).writethrough;
  }

  /** The state of `nexus`, created on first use with POWER ON, RESET, OR BUS DEVICE RESET OCCURRED. */
  nexusState(nexus: ItNexus): NexusState {
    let s = this.nexuses.get(nexus.key);
    if (!s) {
      s = { nexus, ua: new UnitAttentionQueue(), preventRemoval: false, connected: true };
      s.ua.add(ASC.POWER_ON_RESET_OR_BUS_DEVICE_RESET);
      this.nexuses.set(nexus.key, s);
    } else if (!s.connected) {
      s.connected = true;
    }
    return s;
  }

  /** Every nexus the LU knows, connected or remembered. */
  knownNexuses(): NexusState[] {
    return [...this.nexuses.values()];
  }

  /**
   * Establishes a unit attention for every connected nexus except `except` (a nexus key). A lost
   * nexus gets nothing more: when its initiator port returns, it learns of the loss itself
   * (I_T NEXUS LOSS OCCURRED), which tells it that anything may have happened meanwhile.
   */
  establishUnitAttention(asc: number, except?: string, filter?: (s: NexusState) => boolean): void {
    for (const s of this.nexuses.values()) {
      if (!s.connected || s.nexus.key === except) continue;
      if (filter && !filter(s)) continue;
      s.ua.add(asc);
    }
  }

  /** The capacity changed (resize): CAPACITY DATA HAS CHANGED for every nexus (SBC-3 §4.10). */
  notifyCapacityChanged(): void {
    this.establishUnitAttention(ASC.CAPACITY_DATA_HAS_CHANGED);
  }

  /** Whether any connected nexus holds a medium removal prevention. */
  get removalPrevented(): boolean {
    for (const s of this.nexuses.values()) if (s.connected && s.preventRemoval) return true;
    return false;
  }

  /**
   * The per-LU part of a logical unit reset (SAM-5 §6.3.3), after the task set was aborted:
   * mode parameters back to defaults, prevent states cleared, and `asc` (a 29h reset condition)
   * for every nexus.
   */
  resetState(asc: number): void {
    this.mode.reset();
    this.reservations.reset();
    for (const s of this.nexuses.values()) {
      s.preventRemoval = false;
      if (s.connected) s.ua.add(asc);
    }
  }

  /** I_T nexus loss (SAM-5 §6.3.4): forget the nexus's transient state, remember the loss. */
  nexusLost(nexus: ItNexus): void {
    const s = this.nexuses.get(nexus.key);
    if (!s) return;
    s.preventRemoval = false;
    s.connected = false;
    s.ua.add(ASC.I_T_NEXUS_LOSS_OCCURRED);
    this.reservations.nexusLost(nexus);
    const lost = [...this.nexuses.values()].filter((x) => !x.connected);
    for (let i = 0; i < lost.length - MAX_LOST_NEXUSES; i++) this.nexuses.delete(lost[i]!.nexus.key);
  }
}
