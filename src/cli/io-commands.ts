/**
 * The commands of `vdisk io`, qemu-io's language: `read`, `write`, `discard`, `flush`, `map`,
 * `alloc`, `length`, `truncate`, `help`, `quit`, with qemu-io's flags, aliases and output.
 *
 * Each command is one entry of `IO_COMMANDS` (name, aliases, getopt letters, argument count,
 * help text, and a `run` that returns false when the command failed without an exception, as a
 * pattern mismatch does). Arguments are parsed here, at the edge; the image checks ranges again
 * with its own typed errors, which the runner prints as "vdisk: read failed: ...".
 *
 * Large requests are split into transfers of at most `IO_CHUNK` bytes so that `write 0 10G`
 * needs 16 MiB of memory, not 10 GiB; qemu-io counts the whole request as one op and so do we.
 */
import { checkRange } from '../block/index.js';
import type { Image } from '../formats/index.js';
import { BlockError, UsageError } from '../util/index.js';
import { parseNumber, parsePattern, parsePreallocation } from './args.js';
import { walkExtents } from './extents.js';
import { print } from './output.js';
import { cFixed, cvtstr, timestr } from './units.js';

export const IO_CHUNK = 16 * 1024 * 1024;

export type IoOptions = Map<string, string | true>;

export interface IoCommand {
  name: string;
  aliases: string[];
  /** getopt(3) letters; a letter followed by ':' takes a value. */
  optstring: string;
  minArgs: number;
  maxArgs: number;
  usage: string;
  help: string;
  run(image: Image, opts: IoOptions, args: string[]): Promise<boolean>;
}

/** getopt with GNU permutation: options may follow operands; "--" ends the options. */
export function getopt(argv: string[], optstring: string): { opts: IoOptions; rest: string[] } {
  const opts: IoOptions = new Map();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      rest.push(arg);
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!;
      const at = optstring.indexOf(letter);
      if (at < 0 || letter === ':') throw new UsageError(`invalid option -- '${letter}'`);
      if (optstring[at + 1] === ':') {
        const value = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i];
        if (value === undefined) throw new UsageError(`option requires an argument -- '${letter}'`);
        opts.set(letter, value);
        break;
      }
      opts.set(letter, true);
    }
  }
  return { opts, rest };
}

/** Splits a command line into words; single and double quotes group words, as qemu-io's. */
export function tokenize(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word ??= '';
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (quote) throw new UsageError(`unterminated quote in '${line}'`);
  if (word !== undefined) words.push(word);
  return words;
}

function elapsedSince(start: bigint): number {
  return Math.max(Number(process.hrtime.bigint() - start) / 1e9, 1e-9);
}

/** qemu-io's print_report: what was done, then size, ops, time and rates. */
export function reportLines(
  op: string,
  offset: number,
  count: number,
  total: number,
  seconds: number,
): string {
  return (
    `${op} ${total}/${count} bytes at offset ${offset}\n` +
    `${cvtstr(total)}, 1 ops; ${timestr(seconds)} (${cvtstr(total / seconds)}/sec and ` +
    `${cFixed(1 / seconds, 4)} ops/sec)\n`
  );
}

/** qemu-io's dump_buffer (read -v): 16 bytes a line, hex then printable characters. */
export function dumpBuffer(buf: Buffer, offset: number): string {
  let s = '';
  for (let i = 0; i < buf.length; i += 16) {
    const row = buf.subarray(i, Math.min(buf.length, i + 16));
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0') + ' ').join('');
    const text = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    s += `${(offset + i).toString(16).padStart(8, '0')}:  ${hex} ${text}\n`;
  }
  return s;
}

function range(image: Image, args: string[]): { offset: number; count: number } {
  const offset = parseNumber(args[0]!, 'offset');
  const count = parseNumber(args[1]!, 'length');
  checkRange(image, offset, count);
  return { offset, count };
}

const read: IoCommand = {
  name: 'read',
  aliases: ['r'],
  optstring: 'P:qv',
  minArgs: 2,
  maxArgs: 2,
  usage: 'read [-P pattern] [-q] [-v] off len',
  help: 'reads len bytes at off; -P checks that every byte equals pattern, -v dumps them',
  async run(image, opts, args) {
    const { offset, count } = range(image, args);
    const P = opts.get('P');
    const pattern = typeof P === 'string' ? parsePattern(P) : undefined;
    const expected = pattern === undefined ? undefined : Buffer.alloc(Math.min(count, IO_CHUNK), pattern);
    const buf = Buffer.alloc(Math.min(count, IO_CHUNK));
    let dump = '';
    let ok = true;
    const start = process.hrtime.bigint();
    for (let done = 0; done < count;) {
      const n = Math.min(buf.length, count - done);
      const part = buf.subarray(0, n);
      await image.read(offset + done, part);
      if (expected && ok && !part.equals(expected.subarray(0, n))) ok = false;
      if (opts.has('v')) dump += dumpBuffer(part, offset + done);
      done += n;
    }
    const seconds = elapsedSince(start);
    if (!ok) print(`Pattern verification failed at offset ${offset}, ${count} bytes\n`);
    if (!opts.has('q')) print(dump + reportLines('read', offset, count, count, seconds));
    return ok;
  },
};

const write: IoCommand = {
  name: 'write',
  aliases: ['w'],
  optstring: 'P:zufqc',
  minArgs: 2,
  maxArgs: 2,
  usage: 'write [-P pattern | -z [-u]] [-f] [-q] off len',
  help: 'writes len bytes of pattern (default 0xcd) at off; -z writes zeroes, -u lets -z unmap, -f is FUA',
  async run(image, opts, args) {
    const zero = opts.has('z');
    const P = opts.get('P');
    if (zero && P !== undefined) throw new UsageError('-z and -P cannot be specified at the same time');
    if (opts.has('u') && !zero) throw new UsageError('-u requires -z to be specified');
    if (opts.has('c')) throw new BlockError('NOT_SUPPORTED', 'compressed writes are not supported');
    const pattern = typeof P === 'string' ? parsePattern(P) : 0xcd;
    const { offset, count } = range(image, args);
    const fua = opts.has('f');
    const start = process.hrtime.bigint();
    if (zero) {
      await image.writeZeroes(offset, count, { mayUnmap: opts.has('u'), fua });
    } else {
      const data = Buffer.alloc(Math.min(count, IO_CHUNK), pattern);
      for (let done = 0; done < count;) {
        const n = Math.min(data.length, count - done);
        await image.write(offset + done, data.subarray(0, n), { fua });
        done += n;
      }
    }
    if (!opts.has('q')) print(reportLines('wrote', offset, count, count, elapsedSince(start)));
    return true;
  },
};

const discard: IoCommand = {
  name: 'discard',
  aliases: ['d'],
  optstring: 'q',
  minArgs: 2,
  maxArgs: 2,
  usage: 'discard [-q] off len',
  help: 'discards len bytes at off (they may read as zeroes afterwards)',
  async run(image, opts, args) {
    const { offset, count } = range(image, args);
    const start = process.hrtime.bigint();
    await image.discard(offset, count);
    if (!opts.has('q')) print(reportLines('discard', offset, count, count, elapsedSince(start)));
    return true;
  },
};

const flush: IoCommand = {
  name: 'flush',
  aliases: ['f'],
  optstring: '',
  minArgs: 0,
  maxArgs: 0,
  usage: 'flush',
  help: 'makes every completed write durable',
  async run(image) {
    await image.flush();
    return true;
  },
};

const length: IoCommand = {
  name: 'length',
  aliases: ['len'],
  optstring: '',
  minArgs: 0,
  maxArgs: 0,
  usage: 'length',
  help: 'prints the virtual size',
  async run(image) {
    print(cvtstr(image.size) + '\n');
    return true;
  },
};

/** Allocated in this image itself (qemu's bdrv_is_allocated), not in a backing file. */
function allocatedHere(e: { present: boolean; depth: number }): boolean {
  return e.present && e.depth === 0;
}

const map: IoCommand = {
  name: 'map',
  aliases: [],
  optstring: '',
  minArgs: 0,
  maxArgs: 0,
  usage: 'map',
  help: 'prints which ranges are allocated in this image (not in its backing files)',
  async run(image) {
    let runStart = 0;
    let runAlloc: boolean | undefined;
    const line = (end: number): void => {
      const n = end - runStart;
      const what = runAlloc ? '    allocated' : 'not allocated';
      print(
        `${cvtstr(n)} (0x${n.toString(16)}) bytes ${what} at offset ` +
          `${cvtstr(runStart)} (0x${runStart.toString(16)})\n`,
      );
    };
    for await (const e of walkExtents(image, 0, image.size)) {
      const a = allocatedHere(e);
      if (runAlloc !== undefined && a !== runAlloc) {
        line(e.offset);
        runStart = e.offset;
      }
      runAlloc = a;
    }
    if (runAlloc !== undefined) line(image.size);
    return true;
  },
};

const alloc: IoCommand = {
  name: 'alloc',
  aliases: ['a'],
  optstring: '',
  minArgs: 1,
  maxArgs: 2,
  usage: 'alloc off [count]',
  help: 'counts the bytes of [off, off+count) allocated in this image (count defaults to 512)',
  async run(image, _opts, args) {
    const offset = parseNumber(args[0]!, 'offset');
    const count = args[1] === undefined ? 512 : parseNumber(args[1], 'count');
    checkRange(image, offset, count);
    let sum = 0;
    for await (const e of walkExtents(image, offset, offset + count)) {
      if (allocatedHere(e)) sum += e.length;
    }
    print(`${sum}/${count} bytes allocated at offset ${cvtstr(offset)}\n`);
    return true;
  },
};

const truncate: IoCommand = {
  name: 'truncate',
  aliases: ['t'],
  optstring: 'm:',
  minArgs: 1,
  maxArgs: 1,
  usage: 'truncate [-m prealloc] size',
  help: 'sets the virtual size (may shrink); -m off|metadata|falloc|full preallocates',
  async run(image, opts, args) {
    const size = parseNumber(args[0]!, 'size');
    const m = opts.get('m');
    const prealloc = parsePreallocation(typeof m === 'string' ? m : undefined);
    await image.resize(size, { shrink: true, prealloc });
    return true;
  },
};

const quit: IoCommand = {
  name: 'quit',
  aliases: ['q'],
  optstring: '',
  minArgs: 0,
  maxArgs: 0,
  usage: 'quit',
  help: 'stops running commands',
  async run() {
    return true;
  },
};

const help: IoCommand = {
  name: 'help',
  aliases: ['?'],
  optstring: '',
  minArgs: 0,
  maxArgs: 1,
  usage: 'help [command]',
  help: 'lists the commands, or explains one',
  async run(_image, _opts, args) {
    if (args[0] !== undefined) {
      const c = findCommand(args[0]);
      if (!c) throw new UsageError(`command "${args[0]}" not found`);
      print(`${c.usage} -- ${c.help}\n`);
      return true;
    }
    print(commandSummary());
    return true;
  },
};

export const IO_COMMANDS: readonly IoCommand[] = [
  read,
  write,
  discard,
  flush,
  map,
  alloc,
  length,
  truncate,
  help,
  quit,
];

export function findCommand(name: string): IoCommand | undefined {
  return IO_COMMANDS.find((c) => c.name === name || c.aliases.includes(name));
}

export function commandSummary(): string {
  const width = Math.max(...IO_COMMANDS.map((c) => c.usage.length));
  return IO_COMMANDS.map((c) => `  ${c.usage.padEnd(width)}  ${c.help}\n`).join('');
}
