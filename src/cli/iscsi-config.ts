/**
 * The plan of `vdisk iscsi serve`: command-line options or a JSON config file turned into a
 * checked list of targets, LUNs and portals, with nothing left to parse. Every mistake is a
 * UsageError of one line that names the bad text.
 *
 * Config file (--config FILE), JSON:
 *
 *     {
 *       "portals": ["0.0.0.0:3260"],                  // optional; default 0.0.0.0:3260
 *       "nopInterval": 15, "nopTimeout": 30,          // optional: seconds (see --nop-interval)
 *       "targets": [
 *         {
 *           "name": "iqn.2026-11.io.vdisk:disk1",     // required
 *           "alias": "disk one",                      // optional TargetAlias
 *           "tpgt": 1,                                // optional portal group tag (1..65535)
 *           "portals": ["0.0.0.0:3260"],              // optional: only these of the server's portals
 *           "luns": [                                 // LUN 0..16383 -> image
 *             { "lun": 0, "image": "/srv/disk1.qcow2", "format": "qcow2", "cache": "none",
 *               "ssd": true, "discard": "on", "readonly": false }
 *           ],
 *           "chap": { "user": "alice", "secret": "twelve+chars" },        // optional one-way CHAP
 *           "mutualChap": { "user": "target", "secret": "another-secret" }, // optional
 *           "allow": ["iqn.1994-05.com.redhat:client1"]                   // optional ACL
 *         }
 *       ]
 *     }
 *
 * One image may appear in several targets (a shared disk): it is opened once and is one logical
 * unit everywhere.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CacheMode } from '../block/index.js';
import type { ImageFormat } from '../formats/index.js';
import {
  checkChapCredentials,
  formatHostPort,
  isValidIscsiName,
  ISCSI_DEFAULT_PORT,
  type ChapCredentials,
} from '../iscsi/index.js';
import { UsageError } from '../util/index.js';
import { parseCache, parseFormat, parsePollMaxNs, parseTcpCongestion } from './args.js';

export interface LunPlan {
  lun: number;
  image: string;
  format?: ImageFormat;
  cache?: CacheMode;
  ssd: boolean;
  discard: 'on' | 'ignore';
  readOnly: boolean;
}

export interface TargetPlan {
  name: string;
  alias?: string;
  tpgt?: number;
  portals?: string[];
  luns: LunPlan[];
  chap?: ChapCredentials;
  mutualChap?: ChapCredentials;
  allow: string[];
}

export interface IscsiServePlan {
  portals: { host: string; port: number }[];
  targets: TargetPlan[];
  /** Seconds of silence before the target pings an initiator (0: never), and to wait for its answer. */
  nopInterval?: number;
  nopTimeout?: number;
  /** Also export every image over NBD on this address, from the same process (one owner). */
  nbd?: { host: string; port: number };
  /** Longest event-loop polling window, ns (util/busy-poll.ts; --poll-max-ns). */
  pollMaxNs?: number;
  /** TCP congestion control of both servers (block/tcp-congestion.ts; --tcp-congestion). */
  tcpCongestion?: string;
}

export interface IscsiServeOptions {
  target?: string;
  alias?: string;
  portals?: string[];
  luns?: string[];
  chap?: string;
  mutualChap?: string;
  allow?: string[];
  config?: string;
  nopInterval?: string;
  nopTimeout?: string;
  nbd?: string;
  pollMaxNs?: string;
  tcpCongestion?: string;
}

const fail = (m: string): UsageError => new UsageError(`iscsi serve: ${m}`);

export function planIscsiServe(o: IscsiServeOptions): IscsiServePlan {
  const plan = planTargets(o);
  if (o.nopInterval !== undefined) plan.nopInterval = parseSeconds(o.nopInterval, '--nop-interval');
  if (o.nopTimeout !== undefined) plan.nopTimeout = parseSeconds(o.nopTimeout, '--nop-timeout');
  if (plan.nopTimeout === 0) throw fail('--nop-timeout must be more than 0 seconds');
  if (o.nbd !== undefined)
    plan.nbd = /^\d+$/.test(o.nbd) ? parsePortal(`0.0.0.0:${o.nbd}`) : parsePortal(o.nbd);
  plan.pollMaxNs = parsePollMaxNs(o.pollMaxNs, 'iscsi serve');
  plan.tcpCongestion = parseTcpCongestion(o.tcpCongestion, 'iscsi serve');
  return plan;
}

function parseSeconds(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(n <= 3600))
    throw fail(`invalid ${what} '${text}': use 0 to 3600 seconds`);
  return n;
}

function planTargets(o: IscsiServeOptions): IscsiServePlan {
  if (o.config !== undefined) {
    if (o.target !== undefined || o.luns?.length || o.chap || o.mutualChap || o.allow?.length || o.alias) {
      throw fail('--config excludes --target, --lun, --chap, --mutual-chap, --allow and --alias');
    }
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(o.config, 'utf8'));
    } catch (err) {
      throw fail(`cannot read config ${o.config}: ${(err as Error).message}`);
    }
    const plan = planFromConfig(raw, o.config);
    if (o.portals?.length) plan.portals = o.portals.map(parsePortal);
    const labels = plan.portals.map((p) => formatHostPort(p.host, p.port));
    for (const t of plan.targets) {
      for (const p of t.portals ?? []) {
        const { host, port } = parsePortal(p);
        if (!labels.includes(formatHostPort(host, port))) {
          throw fail(`target ${t.name}: portal ${p} is not one of the server's (${labels.join(', ')})`);
        }
      }
      t.portals = t.portals?.map((p) => {
        const { host, port } = parsePortal(p);
        return formatHostPort(host, port);
      });
    }
    return plan;
  }
  if (o.target === undefined) throw fail('name the target with --target IQN (or use --config FILE)');
  const t: TargetPlan = {
    name: checkName(o.target, '--target'),
    alias: o.alias,
    luns: (o.luns ?? []).map(parseLunOption),
    chap: o.chap === undefined ? undefined : parseCredentials(o.chap, '--chap'),
    mutualChap: o.mutualChap === undefined ? undefined : parseCredentials(o.mutualChap, '--mutual-chap'),
    allow: (o.allow ?? []).map((n) => checkName(n, '--allow')),
  };
  checkTarget(t);
  const portals = o.portals?.length
    ? o.portals.map(parsePortal)
    : [{ host: '0.0.0.0', port: ISCSI_DEFAULT_PORT }];
  return { portals, targets: [t] };
}

export function parsePortal(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^(?:\[([^\]]+)\]|([^:]+))$/.exec(text);
  if (!m) throw fail(`invalid portal '${text}': use ADDR:PORT (IPv6 in brackets)`);
  const host = m[1] ?? m[2] ?? '';
  const port = m[3] === undefined ? ISCSI_DEFAULT_PORT : Number(m[3]);
  if (host === '' || !(port >= 0 && port <= 65535)) throw fail(`invalid portal '${text}': use ADDR:PORT`);
  return { host, port };
}

/** `N=IMAGE[,format=..,cache=..,ssd=1,discard=on|ignore,readonly=1]`; `,,` is a literal comma. */
export function parseLunOption(text: string): LunPlan {
  const eq = text.indexOf('=');
  if (eq < 1) throw fail(`invalid --lun '${text}': use N=IMAGE[,option=value...]`);
  const lun = parseLunNumber(text.slice(0, eq), text);
  const parts: string[] = [''];
  const rest = text.slice(eq + 1);
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === ',') {
      if (rest[i + 1] === ',') {
        parts[parts.length - 1] += ',';
        i++;
      } else parts.push('');
    } else parts[parts.length - 1] += rest[i];
  }
  const image = parts.shift()!;
  if (image === '') throw fail(`invalid --lun '${text}': no image`);
  const opts: Record<string, string> = {};
  for (const p of parts) {
    const k = p.indexOf('=');
    if (k < 1) throw fail(`invalid --lun option '${p}' in '${text}': use key=value`);
    opts[p.slice(0, k)] = p.slice(k + 1);
  }
  return lunPlan(lun, image, opts, `--lun '${text}'`);
}

function lunPlan(lun: number, image: string, opts: Record<string, unknown>, where: string): LunPlan {
  for (const k of Object.keys(opts)) {
    if (!['format', 'cache', 'ssd', 'discard', 'readonly'].includes(k)) {
      throw fail(`unknown option '${k}' in ${where}: use format, cache, ssd, discard or readonly`);
    }
  }
  const str = (k: string): string | undefined => (opts[k] === undefined ? undefined : String(opts[k]));
  const discard = str('discard') ?? 'ignore';
  if (discard !== 'on' && discard !== 'ignore')
    throw fail(`invalid discard '${discard}' in ${where}: use on or ignore`);
  let format: ImageFormat | undefined;
  let cache: CacheMode | undefined;
  try {
    format = str('format') === undefined ? undefined : parseFormat(str('format')!);
    cache = parseCache(str('cache'));
  } catch (err) {
    throw fail(`${(err as Error).message} in ${where}`);
  }
  return {
    lun,
    image,
    format,
    cache,
    ssd: flag(opts['ssd'], 'ssd', where),
    discard,
    readOnly: flag(opts['readonly'], 'readonly', where),
  };
}

function flag(v: unknown, name: string, where: string): boolean {
  if (v === undefined || v === false || v === '0' || v === 'off' || v === 'no') return false;
  if (v === true || v === '1' || v === 'on' || v === 'yes') return true;
  throw fail(`invalid ${name}=${String(v)} in ${where}: use 1 or 0`);
}

function parseLunNumber(text: string, where: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !(n >= 0 && n <= 16383))
    throw fail(`invalid LUN '${text}' in '${where}': use 0 to 16383`);
  return n;
}

export function parseCredentials(text: string, what: string): ChapCredentials {
  const i = text.indexOf(':');
  if (i < 1) throw fail(`invalid ${what} '${text.replace(/:.*/, ':...')}': use USER:SECRET`);
  const c = { user: text.slice(0, i), secret: text.slice(i + 1) };
  try {
    checkChapCredentials(c, what);
  } catch (err) {
    throw fail((err as Error).message);
  }
  return c;
}

function checkName(name: string, what: string): string {
  if (!isValidIscsiName(name)) {
    throw fail(`${what} '${name}' is not an iSCSI name: use iqn.YYYY-MM.reversed.domain[:name]`);
  }
  return name;
}

function checkTarget(t: TargetPlan): void {
  if (t.luns.length === 0) throw fail(`target ${t.name} has no LUN: add --lun N=IMAGE`);
  const seen = new Set<number>();
  for (const l of t.luns) {
    if (seen.has(l.lun)) throw fail(`target ${t.name}: LUN ${l.lun} is given twice`);
    seen.add(l.lun);
  }
  if (t.mutualChap && !t.chap) throw fail(`target ${t.name}: --mutual-chap needs --chap too`);
  if (t.mutualChap && t.chap && t.mutualChap.secret === t.chap.secret) {
    throw fail(
      `target ${t.name}: the mutual CHAP secret must differ from the initiator's (RFC 7143 §12.1.3)`,
    );
  }
}

function planFromConfig(raw: unknown, file: string): IscsiServePlan {
  const obj = asObject(raw, file);
  const portals =
    obj['portals'] === undefined ? ['0.0.0.0:3260'] : asStrings(obj['portals'], `${file}: portals`);
  const targets = obj['targets'];
  if (!Array.isArray(targets) || targets.length === 0)
    throw fail(`${file}: "targets" must be a non-empty array`);
  const names = new Set<string>();
  const seconds = (k: string): number | undefined =>
    obj[k] === undefined ? undefined : parseSeconds(String(obj[k]), `${file}: ${k}`);
  const plan: IscsiServePlan = {
    nopInterval: seconds('nopInterval'),
    nopTimeout: seconds('nopTimeout'),
    portals: portals.map(parsePortal),
    targets: targets.map((tr, i) => {
      const where = `${file}: targets[${i}]`;
      const t = asObject(tr, where);
      const name = checkName(String(t['name'] ?? ''), `${where}.name`);
      if (names.has(name.toLowerCase())) throw fail(`${where}: target ${name} is given twice`);
      names.add(name.toLowerCase());
      const luns = t['luns'];
      if (!Array.isArray(luns))
        throw fail(`${where}.luns must be an array of { "lun": N, "image": PATH, ... }`);
      const cred = (k: string): ChapCredentials | undefined => {
        const c = t[k];
        if (c === undefined) return undefined;
        const co = asObject(c, `${where}.${k}`);
        return parseCredentials(`${String(co['user'] ?? '')}:${String(co['secret'] ?? '')}`, `${where}.${k}`);
      };
      const plan: TargetPlan = {
        name,
        alias: t['alias'] === undefined ? undefined : String(t['alias']),
        tpgt: t['tpgt'] === undefined ? undefined : Number(t['tpgt']),
        portals: t['portals'] === undefined ? undefined : asStrings(t['portals'], `${where}.portals`),
        luns: luns.map((l, j) => {
          const lo = { ...asObject(l, `${where}.luns[${j}]`) };
          const lun = parseLunNumber(String(lo['lun'] ?? ''), `${where}.luns[${j}]`);
          const image = lo['image'];
          if (typeof image !== 'string' || image === '')
            throw fail(`${where}.luns[${j}].image must be a path`);
          delete lo['lun'];
          delete lo['image'];
          return lunPlan(lun, path.resolve(path.dirname(file), image), lo, `${where}.luns[${j}]`);
        }),
        chap: cred('chap'),
        mutualChap: cred('mutualChap'),
        allow:
          t['allow'] === undefined
            ? []
            : asStrings(t['allow'], `${where}.allow`).map((n) => checkName(n, `${where}.allow`)),
      };
      if (plan.tpgt !== undefined && !(Number.isInteger(plan.tpgt) && plan.tpgt >= 1 && plan.tpgt <= 65535)) {
        throw fail(`${where}.tpgt must be 1..65535`);
      }
      checkTarget(plan);
      return plan;
    }),
  };
  return plan;
}

function asObject(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(`${where} must be a JSON object`);
  return v as Record<string, unknown>;
}

function asStrings(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw fail(`${where} must be an array of strings`);
  return v as string[];
}
