/**
 * SendTargets (RFC 7143 §13.3 and Appendix C): the answer is, for each target the initiator may
 * see, `TargetName=<name>` followed by one `TargetAddress=<address>:<port>,<tpgt>` per portal.
 *
 * - `SendTargets=All`: in a discovery session every target this initiator is allowed to log in
 *   to; in a normal session only the session's target (Appendix C: "All" outside discovery
 *   sessions is answered with the current target, as LIO does).
 * - `SendTargets=<name>`: that target, if it exists here and the initiator may use it.
 * - `SendTargets=` (empty): the session's target (normal sessions only).
 *
 * Portals bound to a wildcard address (0.0.0.0, ::) are reported with the address the initiator
 * reached us on, which is the one that works for it.
 */
import { initiatorAllowed, type IscsiTarget } from './target.js';
import type { TextPairs } from './text-keys.js';

export interface Portal {
  host: string;
  port: number;
}

export function formatPortal(host: string, port: number, tpgt: number): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `${h}:${port},${tpgt}`;
}

export function sendTargets(
  value: string,
  initiatorName: string,
  sessionTarget: IscsiTarget | undefined,
  targets: readonly IscsiTarget[],
  portalsOf: (t: IscsiTarget) => Portal[],
  localAddress: string,
): TextPairs {
  let chosen: IscsiTarget[];
  if (value === 'All')
    chosen = sessionTarget ? [sessionTarget] : targets.filter((t) => initiatorAllowed(t, initiatorName));
  else if (value === '') chosen = sessionTarget ? [sessionTarget] : [];
  else {
    const t = targets.find((x) => x.name === value.toLowerCase() || x.name === value);
    chosen = t && initiatorAllowed(t, initiatorName) ? [t] : [];
  }
  const out: TextPairs = [];
  for (const t of chosen) {
    out.push(['TargetName', t.name]);
    for (const p of portalsOf(t)) {
      const host = p.host === '0.0.0.0' || p.host === '::' || p.host === '' ? localAddress : p.host;
      out.push(['TargetAddress', formatPortal(host, p.port, t.tpgt)]);
    }
  }
  return out;
}
