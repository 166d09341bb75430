/**
 * The targets an IscsiServer serves: each one an iSCSI name with an alias, a target portal group
 * tag, the portals it is reachable on, its logical units (as the SCSI core's ScsiTaskRouter),
 * its CHAP credentials and the initiators it admits.
 *
 * Configuration is checked once, here, with messages for the operator (RFC 7143 §4.2.7 names;
 * §12.1.3 secrets): a bad IQN, a short CHAP secret, or the same secret for both directions is
 * refused before anything listens.
 */
import type { ScsiTaskRouter } from '../scsi/index.js';
import { checkChapCredentials, type ChapCredentials } from './chap.js';

export interface IscsiTargetConfig {
  /** iqn./eui./naa. name (RFC 7143 §4.2.7.2). */
  name: string;
  alias?: string;
  /** Target portal group tag, 1..65535 (default 1). */
  tpgt?: number;
  /** The server portals ("host:port" as given to the server) this target is reachable on; default all. */
  portals?: string[];
  router: ScsiTaskRouter;
  /** One-way CHAP: the initiator must prove this secret. */
  chap?: ChapCredentials;
  /** Mutual CHAP: what the target answers with when the initiator asks it to authenticate. */
  mutualChap?: ChapCredentials;
  /** Initiator names admitted (empty or absent: all). */
  allowedInitiators?: string[];
}

export interface IscsiTarget {
  readonly name: string;
  readonly alias: string | undefined;
  readonly tpgt: number;
  readonly portals: readonly string[] | undefined;
  readonly router: ScsiTaskRouter;
  readonly chap: ChapCredentials | undefined;
  readonly mutualChap: ChapCredentials | undefined;
  readonly allowedInitiators: readonly string[] | undefined;
}

/** RFC 7143 §4.2.7.2 name forms; names compare case-insensitively after stringprep, here lower case. */
const IQN_RE = /^iqn\.\d{4}-\d{2}\.[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[^\s]*)?$/;
const EUI_RE = /^eui\.[0-9A-Fa-f]{16}$/;
const NAA_RE = /^naa\.([0-9A-Fa-f]{16}|[0-9A-Fa-f]{32})$/;

export function isValidIscsiName(name: string): boolean {
  return (
    Buffer.byteLength(name) <= 223 &&
    (IQN_RE.test(name.toLowerCase()) || EUI_RE.test(name) || NAA_RE.test(name))
  );
}

export function makeTarget(c: IscsiTargetConfig): IscsiTarget {
  if (!isValidIscsiName(c.name)) {
    throw new Error(
      `'${c.name}' is not an iSCSI name: use iqn.YYYY-MM.reversed.domain[:name] (RFC 7143 §4.2.7.2)`,
    );
  }
  const tpgt = c.tpgt ?? 1;
  if (!Number.isInteger(tpgt) || tpgt < 1 || tpgt > 65535) {
    throw new Error(`target ${c.name}: portal group tag ${tpgt} is not in 1..65535`);
  }
  if (c.chap) checkChapCredentials(c.chap, `target ${c.name}`);
  if (c.mutualChap) {
    if (!c.chap) throw new Error(`target ${c.name}: mutual CHAP needs one-way CHAP credentials too`);
    checkChapCredentials(c.mutualChap, `target ${c.name} (mutual)`);
    if (c.mutualChap.secret === c.chap.secret) {
      throw new Error(
        `target ${c.name}: the mutual CHAP secret must differ from the initiator's (RFC 7143 §12.1.3)`,
      );
    }
  }
  for (const i of c.allowedInitiators ?? []) {
    if (!isValidIscsiName(i)) throw new Error(`target ${c.name}: '${i}' is not an iSCSI initiator name`);
  }
  return {
    name: c.name.toLowerCase().startsWith('iqn.') ? c.name.toLowerCase() : c.name,
    alias: c.alias,
    tpgt,
    portals: c.portals,
    router: c.router,
    chap: c.chap,
    mutualChap: c.mutualChap,
    allowedInitiators: c.allowedInitiators?.map((n) => n.toLowerCase()),
  };
}

/** Whether `initiatorName` may log in to `t` (and see it in SendTargets). */
export function initiatorAllowed(t: IscsiTarget, initiatorName: string): boolean {
  return !t.allowedInitiators?.length || t.allowedInitiators.includes(initiatorName.toLowerCase());
}
