/**
 * Parsers for command-line values, shared by every command. Each one throws a UsageError that
 * names the bad text, so the user sees one line saying what was wrong and what would be right.
 *
 * Values follow qemu-img and qemu-io: sizes take binary suffixes (util parseSize), io offsets
 * also take 0x hex, pattern bytes take decimal, 0x hex or 0 octal (C's strtol base 0), and
 * `-o` option strings are QEMU's `key=value,...` with `,,` standing for a literal comma.
 */
import {
  parseAioMode,
  parseCacheMode,
  TCP_CONGESTION_AUTO,
  TCP_CONGESTION_SYSTEM,
  type AioMode,
  type CacheMode,
} from '../block/index.js';
import { IMAGE_FORMATS, type ImageFormat } from '../formats/index.js';
import { DEFAULT_POLL_MAX_NS, parseSize, UsageError } from '../util/index.js';

export type OutputFormat = 'human' | 'json';

export function parseFormat(text: string): ImageFormat {
  if ((IMAGE_FORMATS as readonly string[]).includes(text)) return text as ImageFormat;
  throw new UsageError(`unknown image format '${text}': use one of ${IMAGE_FORMATS.join(', ')}`);
}

export function parseOptionalFormat(text: string | undefined): ImageFormat | undefined {
  return text === undefined ? undefined : parseFormat(text);
}

export function parseOutput(text: string | undefined): OutputFormat {
  if (text === undefined || text === 'human') return 'human';
  if (text === 'json') return 'json';
  throw new UsageError(`invalid output format '${text}': use human or json`);
}

export function parseCache(text: string | undefined): CacheMode | undefined {
  return text === undefined ? undefined : parseCacheMode(text);
}

export function parseAio(text: string | undefined): AioMode | undefined {
  return text === undefined ? undefined : parseAioMode(text);
}

export const PREALLOCATION_MODES = ['off', 'metadata', 'falloc', 'full'] as const;
export type Preallocation = (typeof PREALLOCATION_MODES)[number];

export function parsePreallocation(text: string | undefined): Preallocation | undefined {
  if (text === undefined) return undefined;
  if ((PREALLOCATION_MODES as readonly string[]).includes(text)) return text as Preallocation;
  throw new UsageError(`invalid preallocation mode '${text}': use one of ${PREALLOCATION_MODES.join(', ')}`);
}

/** A byte count or offset: a size with an optional suffix, or a 0x hex number. */
export function parseNumber(text: string, what: string): number {
  if (/^0x[0-9a-f]+$/i.test(text)) {
    const v = Number.parseInt(text.slice(2), 16);
    if (!Number.isSafeInteger(v)) throw new UsageError(`invalid ${what} '${text}': too large`);
    return v;
  }
  return parseSize(text, what);
}

/** A pattern byte as qemu-io reads it: strtol base 0 (decimal, 0x hex, 0 octal), 0-255. */
export function parsePattern(text: string): number {
  let v = NaN;
  if (/^0x[0-9a-f]+$/i.test(text)) v = Number.parseInt(text.slice(2), 16);
  else if (/^0[0-7]*$/.test(text)) v = Number.parseInt(text, 8);
  else if (/^[1-9][0-9]*$/.test(text)) v = Number.parseInt(text, 10);
  if (!(v >= 0 && v <= 255)) throw new UsageError(`${text} is not a valid pattern byte: use 0-255`);
  return v;
}

/**
 * QEMU's option string syntax (util/qemu-option.c): comma-separated `key=value` pairs, where
 * `,,` inside a value is a literal comma and a bare `key` means `key=on`. A later key wins.
 */
export function parseOptionString(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    let key = '';
    while (i < text.length && text[i] !== '=' && text[i] !== ',') key += text[i++];
    if (key === '') throw new UsageError(`invalid option string '${text}': empty option name`);
    let value = 'on';
    if (text[i] === '=') {
      i++;
      value = '';
      while (i < text.length) {
        if (text[i] === ',') {
          if (text[i + 1] !== ',') break;
          i++;
        }
        value += text[i++];
      }
    }
    out[key] = value;
    if (text[i] === ',') {
      i++;
      if (i === text.length) throw new UsageError(`invalid option string '${text}': trailing comma`);
    }
  }
  return out;
}

/** commander argParser for options that may be repeated (`-o a=1 -o b=2`, `-c cmd -c cmd`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The help line of the servers' --poll-max-ns. */
export const POLL_MAX_NS_HELP =
  'longest time the event loop polls for the next request before it sleeps ' +
  `(default ${DEFAULT_POLL_MAX_NS}; 0: never)`;

/** --poll-max-ns of the servers: whole nanoseconds, 0 (no polling) to 10 ms. */
export function parsePollMaxNs(text: string | undefined, command: string): number {
  if (text === undefined) return DEFAULT_POLL_MAX_NS;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0 && n <= 10_000_000)) {
    throw new UsageError(`${command}: invalid --poll-max-ns '${text}': use 0 to 10000000 nanoseconds`);
  }
  return n;
}

/** The help line of the servers' --tcp-congestion. */
export const TCP_CONGESTION_HELP =
  'TCP congestion control of the connections: auto (default: CUBIC in place of BBR on ' +
  'connections from this host), system, or an algorithm such as cubic or bbr';

/** --tcp-congestion of the servers: auto, system, or an algorithm's name (checked at listen). */
export function parseTcpCongestion(text: string | undefined, command: string): string {
  if (text === undefined) return TCP_CONGESTION_AUTO;
  if (text === TCP_CONGESTION_AUTO || text === TCP_CONGESTION_SYSTEM || /^[a-z][a-z0-9_]{0,14}$/.test(text)) {
    return text;
  }
  throw new UsageError(
    `${command}: invalid --tcp-congestion '${text}': use auto, system, or an algorithm name such as cubic`,
  );
}
