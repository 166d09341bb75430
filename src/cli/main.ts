/**
 * `vdisk` command line: parses arguments with commander, dispatches to the subcommands, and
 * turns every error into a one-line message with a non-zero exit code.
 *
 * Verbs, flags and outputs follow qemu-img (`vdisk img ...`) and qemu-io (`vdisk io ...`), so
 * that their users feel at home. Each command is a function in its own file that returns its
 * exit code (qemu-img's codes where it has them: check 0/1/2/3/63, compare 0/1/2/3/4); this file
 * only declares the options and carries the code back to bin/vdisk.js.
 *
 * Errors: commander's own (unknown option, missing argument) are printed through
 * `outputError`, folded to one `vdisk: ...` line; everything a command throws reaches
 * `reportError`, which prints one line and returns 1. No stack trace is ever printed.
 */
import { Command, CommanderError } from 'commander';
import { IMAGE_FORMATS } from '../formats/index.js';
import { UsageError } from '../util/index.js';
import {
  collect,
  parseCache,
  parseNumber,
  parseOptionalFormat,
  parseOutput,
  parsePreallocation,
} from './args.js';
import { commandSummary } from './io-commands.js';
import { errorMessage, oneLine, printError } from './output.js';

const VERSION = '0.1.0';

/** The exit code the command that ran asked for. */
interface RunState {
  exitCode: number;
}

type Opts = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const bool = (v: unknown): boolean => v === true;

export async function main(argv: string[]): Promise<number> {
  const state: RunState = { exitCode: 0 };
  try {
    missingCommand(argv.slice(2));
    const program = buildProgram(state, await serverCommands(argv.slice(2)));
    await program.parseAsync(protectNegativeSize(argv));
    return state.exitCode;
  } catch (err) {
    return reportError(err);
  }
}

type Runner = <A extends unknown[]>(fn: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;
/** Declares one family of server verbs (`nbd ...`, `iscsi ...`) on the program. */
type ServerCommands = (program: Command, run: Runner) => void;

/**
 * The declarations of `nbd` and `iscsi`, loaded only when the command line may name them: their
 * modules bring the whole server stack, which an `img` or `io` verb never needs (half of the
 * start-up time of a short `img convert`), nor `--version` (0.18-0.19 s with them, 0.07-0.08 s
 * without). Each verb's own module is likewise imported by its action, when it runs.
 */
async function serverCommands(args: string[]): Promise<ServerCommands[]> {
  if (args[0] === 'img' || args[0] === 'io' || args[0] === '--version' || args[0] === '-V') return [];
  const [nbd, iscsi] = await Promise.all([import('./nbd-serve.js'), import('./iscsi-serve.js')]);
  return [nbd.registerNbdCommands, iscsi.registerIscsiCommands];
}

/** One line on stderr, and the exit code for it. */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed help, the version, or the usage error (through outputError).
    return err.exitCode;
  }
  printError(errorMessage(err));
  return 1;
}

/** `vdisk` or `vdisk img` alone: one line saying what is missing (commander would print help). */
function missingCommand(args: string[]): void {
  if (args.length === 0) throw new UsageError("missing command: try 'vdisk --help'");
  if (args.length === 1 && (args[0] === 'img' || args[0] === 'nbd' || args[0] === 'iscsi')) {
    throw new UsageError(`missing command: try 'vdisk ${args[0]} --help'`);
  }
}

/**
 * `img resize FILE -1G`: a negative size is an operand, not an option. qemu-img takes the last
 * argument as the size before parsing options; we mark it as an operand with `--`.
 */
export function protectNegativeSize(argv: string[]): string[] {
  const i = argv.indexOf('resize');
  if (i < 1 || argv[i - 1] !== 'img' || argv.includes('--')) return argv;
  const last = argv[argv.length - 1]!;
  if (argv.length - 1 > i && /^-\d/.test(last)) return [...argv.slice(0, -1), '--', last];
  return argv;
}

export function buildProgram(state: RunState, servers: readonly ServerCommands[] = []): Command {
  const program = new Command('vdisk')
    .description('shared-disk storage server for VM clusters: image engine, NBD and iSCSI exports')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({
      outputError: (text, write) => write(`vdisk: ${oneLine(text.replace(/^error: /, ''))}\n`),
    });
  const run =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => {
      state.exitCode = await fn(...args);
    };

  const img = program
    .command('img')
    .description('create, inspect, check and change disk images (like qemu-img)');

  img
    .command('create')
    .description('create a new image (qemu-img create); the format defaults to raw')
    .argument('<file>', 'the image file to create')
    .argument('[size]', 'virtual size, e.g. 10G (optional with -b: the backing file size)')
    .option('-f, --format <fmt>', 'image format: raw or qcow2 (default raw)')
    .option('-b, --backing <file>', 'backing file, relative to the new image')
    .option('-F, --backing-format <fmt>', 'format of the backing file (required with -b)')
    .option('-o, --options <opts>', "format options key=value,... (repeatable; ',,' is a comma)", collect)
    .option('-u, --unsafe', 'do not open the backing file (a size is then required)')
    .option('-q, --quiet', 'print nothing on success')
    .action(
      run(async (file: string, size: string | undefined, o: Opts) =>
        (await import('./img-create.js')).imgCreate(file, size, {
          format: str(o['format']),
          backing: str(o['backing']),
          backingFormat: str(o['backingFormat']),
          options: o['options'] as string[] | undefined,
          unsafe: bool(o['unsafe']),
          quiet: bool(o['quiet']),
        }),
      ),
    );

  img
    .command('info')
    .description('describe an image (qemu-img info); opens it read-only')
    .argument('<file>')
    .option('-f, --format <fmt>', 'image format (probed when absent)')
    .option('--output <fmt>', 'human or json', 'human')
    .option('--backing-chain', 'describe the backing files too')
    .option('-U, --force-share', 'do not take the image lock (the image may be in use)')
    .action(
      run(async (file: string, o: Opts) =>
        (await import('./img-info.js')).imgInfo(file, {
          format: parseOptionalFormat(str(o['format'])),
          output: parseOutput(str(o['output'])),
          backingChain: bool(o['backingChain']),
          forceShare: bool(o['forceShare']),
        }),
      ),
    );

  img
    .command('check')
    .description(
      'check image consistency (qemu-img check); exit 0 clean, 1 failed, 2 corrupt, 3 leaks, 63 no check',
    )
    .argument('<file>')
    .option('-f, --format <fmt>', 'image format (probed when absent)')
    .option('--output <fmt>', 'human or json', 'human')
    .option('-r, --repair <what>', 'repair leaks, or all repairable problems')
    .option('-q, --quiet', 'print no summary')
    .action(
      run(async (file: string, o: Opts) => {
        const repair = str(o['repair']);
        if (repair !== undefined && repair !== 'leaks' && repair !== 'all') {
          throw new UsageError(`invalid repair mode '${repair}': use leaks or all`);
        }
        return (await import('./img-check.js')).imgCheck(file, {
          format: parseOptionalFormat(str(o['format'])),
          output: parseOutput(str(o['output'])),
          repair,
          quiet: bool(o['quiet']),
        });
      }),
    );

  img
    .command('map')
    .description('print the allocation map of an image (qemu-img map)')
    .argument('<file>')
    .option('-f, --format <fmt>', 'image format (probed when absent)')
    .option('--output <fmt>', 'human or json', 'human')
    .option('--start-offset <off>', 'first guest offset to map')
    .option('--max-length <len>', 'map at most this many bytes')
    .option('-U, --force-share', 'do not take the image lock (the image may be in use)')
    .action(
      run(async (file: string, o: Opts) => {
        const start = str(o['startOffset']);
        const max = str(o['maxLength']);
        return (await import('./img-map.js')).imgMap(file, {
          format: parseOptionalFormat(str(o['format'])),
          output: parseOutput(str(o['output'])),
          startOffset: start === undefined ? undefined : parseNumber(start, 'start offset'),
          maxLength: max === undefined ? undefined : parseNumber(max, 'max length'),
          forceShare: bool(o['forceShare']),
        });
      }),
    );

  img
    .command('compare')
    .description('compare the contents of two images (qemu-img compare); exit 0 same, 1 different, 2+ error')
    .argument('<file1>')
    .argument('<file2>')
    .option('-f, --format <fmt>', 'format of the first image (probed when absent)')
    .option('-F, --format2 <fmt>', 'format of the second image (probed when absent)')
    .option('-s, --strict', 'different sizes or allocation also count as a difference')
    .option('-q, --quiet', 'print nothing; only the exit code tells')
    .option('-U, --force-share', 'do not take the image locks (the images may be in use)')
    .action(
      run(async (file1: string, file2: string, o: Opts) => {
        let format1, format2;
        try {
          format1 = parseOptionalFormat(str(o['format']));
          format2 = parseOptionalFormat(str(o['format2']));
        } catch (err) {
          printError(errorMessage(err));
          return 2;
        }
        return (await import('./img-compare.js')).imgCompare(file1, file2, {
          format1,
          format2,
          strict: bool(o['strict']),
          quiet: bool(o['quiet']),
          forceShare: bool(o['forceShare']),
        });
      }),
    );

  img
    .command('resize')
    .description('change the virtual size of an image (qemu-img resize); prefix + or - for relative')
    .argument('<file>')
    .argument('<size>', 'new size, or +N / -N relative to the current size')
    .option('-f, --format <fmt>', 'image format (probed when absent)')
    .option('--shrink', 'allow shrinking (the data past the new end is lost)')
    .option('--preallocation <mode>', 'off, metadata, falloc or full, for the added part')
    .option('-q, --quiet', 'print nothing on success')
    .action(
      run(async (file: string, size: string, o: Opts) =>
        (await import('./img-resize.js')).imgResize(file, size, {
          format: parseOptionalFormat(str(o['format'])),
          shrink: bool(o['shrink']),
          preallocation: parsePreallocation(str(o['preallocation'])),
          quiet: bool(o['quiet']),
        }),
      ),
    );

  img
    .command('convert')
    .description(
      'copy images (several are concatenated) into a new image, keeping it sparse (qemu-img convert)',
    )
    .argument('<files...>', 'SRC... DST')
    .option('-f, --format <fmt>', 'format of the sources (probed when absent)')
    .option('-O, --output-format <fmt>', `target format: ${IMAGE_FORMATS.join(', ')} (default raw)`)
    .option('-c, --compress', 'write compressed clusters (qcow2 target)')
    .option('-o, --options <opts>', 'target creation options key=value,... (repeatable)', collect)
    .option('-B, --backing <file>', 'backing file of the target: only what differs from it is copied')
    .option('-F, --backing-format <fmt>', 'format of the -B backing file')
    .option(
      '-S, --sparse-size <size>',
      'skip runs of zeroes of at least this size (default 4k; 0: write all)',
    )
    .option('-n, --no-create', 'write into an existing target instead of creating it')
    .option('--target-is-zero', 'with -n: the target reads as zeroes already')
    .option('-m, --parallel <n>', 'requests in flight, 1 to 16 (default 8)')
    .option('-W, --out-of-order', 'allow writes to complete out of order')
    .option('-p, --progress', 'show progress')
    .option('-t, --cache <mode>', 'cache mode of the target (default unsafe)')
    .option('-T, --source-cache <mode>', 'cache mode of the sources (default writeback)')
    .option('-U, --force-share', "do not take the sources' image locks")
    .option('-q, --quiet', 'print nothing')
    .action(
      run(async (files: string[], o: Opts) =>
        (await import('./img-convert.js')).imgConvert(files, {
          format: parseOptionalFormat(str(o['format'])),
          outFormat: str(o['outputFormat']),
          compress: bool(o['compress']),
          options: o['options'] as string[] | undefined,
          backing: str(o['backing']),
          backingFormat: str(o['backingFormat']),
          sparseSize: str(o['sparseSize']),
          noCreate: o['create'] === false,
          targetIsZero: bool(o['targetIsZero']),
          parallel: str(o['parallel']),
          outOfOrder: bool(o['outOfOrder']),
          progress: bool(o['progress']),
          cache: parseCache(str(o['cache'])),
          sourceCache: parseCache(str(o['sourceCache'])),
          forceShare: bool(o['forceShare']),
          quiet: bool(o['quiet']),
        }),
      ),
    );

  img
    .command('rebase')
    .description('change the backing file of an image, keeping its contents unless -u (qemu-img rebase)')
    .argument('<file>')
    .option('-f, --format <fmt>', 'image format (probed when absent)')
    .option('-b, --backing <file>', "new backing file, relative to the image ('' for none)")
    .option('-F, --backing-format <fmt>', 'format of the new backing file (required with -b)')
    .option('-u, --unsafe', 'only rewrite the backing file name; copy nothing')
    .option('-p, --progress', 'show progress')
    .option('-t, --cache <mode>', 'cache mode of the image (default writeback)')
    .option('-U, --force-share', 'do not lock the new backing file')
    .option('-q, --quiet', 'print nothing')
    .action(
      run(async (file: string, o: Opts) =>
        (await import('./img-rebase.js')).imgRebase(file, {
          format: parseOptionalFormat(str(o['format'])),
          backing: str(o['backing']),
          backingFormat: str(o['backingFormat']),
          unsafe: bool(o['unsafe']),
          progress: bool(o['progress']),
          cache: parseCache(str(o['cache'])),
          forceShare: bool(o['forceShare']),
          quiet: bool(o['quiet']),
        }),
      ),
    );

  img
    .command('commit')
    .description("write an image's changes into its backing file, then empty it (qemu-img commit)")
    .argument('<file>')
    .option('-f, --format <fmt>', 'image format (probed when absent)')
    .option('-b, --base <file>', 'commit into this image further down the chain (implies -d)')
    .option('-d, --drop', 'do not empty the image afterwards')
    .option('-p, --progress', 'show progress')
    .option('-t, --cache <mode>', 'cache mode (default writeback)')
    .option('-q, --quiet', 'print nothing')
    .action(
      run(async (file: string, o: Opts) =>
        (await import('./img-commit.js')).imgCommit(file, {
          format: parseOptionalFormat(str(o['format'])),
          base: str(o['base']),
          drop: bool(o['drop']),
          progress: bool(o['progress']),
          cache: parseCache(str(o['cache'])),
          quiet: bool(o['quiet']),
        }),
      ),
    );

  img
    .command('measure')
    .description('how large a new image of --size, or a conversion of FILE, would be (qemu-img measure)')
    .argument('[file]', 'the image to convert (or use --size)')
    .option('--size <size>', 'virtual size of a new, empty image')
    .option('-f, --format <fmt>', 'format of FILE (probed when absent)')
    .option('-O, --output-format <fmt>', `target format: ${IMAGE_FORMATS.join(', ')} (default raw)`)
    .option('-o, --options <opts>', 'target creation options key=value,... (repeatable)', collect)
    .option('--output <fmt>', 'human or json', 'human')
    .option('-U, --force-share', 'do not take the image lock')
    .action(
      run(async (file: string | undefined, o: Opts) =>
        (await import('./img-measure.js')).imgMeasure(file, {
          size: str(o['size']),
          format: parseOptionalFormat(str(o['format'])),
          outFormat: str(o['outputFormat']),
          options: o['options'] as string[] | undefined,
          output: parseOutput(str(o['output'])),
          forceShare: bool(o['forceShare']),
        }),
      ),
    );

  img
    .command('amend')
    .description('change options of an existing qcow2 image: compat, lazy_refcounts (qemu-img amend)')
    .argument('<file>')
    .option('-o, --options <opts>', 'options key=value,... (repeatable)', collect)
    .option('-f, --format <fmt>', 'image format (probed when absent)')
    .option('-t, --cache <mode>', 'cache mode (default writeback)')
    .option('-q, --quiet', 'print nothing')
    .action(
      run(async (file: string, o: Opts) =>
        (await import('./img-amend.js')).imgAmend(file, {
          options: o['options'] as string[] | undefined,
          format: parseOptionalFormat(str(o['format'])),
          cache: parseCache(str(o['cache'])),
          quiet: bool(o['quiet']),
        }),
      ),
    );

  img
    .command('snapshot')
    .description('list, create, apply or delete internal snapshots of a qcow2 image (qemu-img snapshot)')
    .argument('<file>')
    .option('-l, --list', 'list the snapshots')
    .option('-c, --create <name>', 'create a snapshot')
    .option('-a, --apply <name>', 'revert the disk to a snapshot (ID or name)')
    .option('-d, --delete <name>', 'delete a snapshot (ID or name)')
    .option('-f, --format <fmt>', 'image format (probed when absent)')
    .option('-U, --force-share', 'with -l: do not take the image lock')
    .option('-q, --quiet', 'print nothing')
    .action(
      run(async (file: string, o: Opts) => {
        const { imgSnapshot, snapshotAction } = await import('./img-snapshot.js');
        return imgSnapshot(
          file,
          snapshotAction({
            list: bool(o['list']),
            create: str(o['create']),
            apply: str(o['apply']),
            delete: str(o['delete']),
          }),
          {
            format: parseOptionalFormat(str(o['format'])),
            forceShare: bool(o['forceShare']),
            quiet: bool(o['quiet']),
          },
        );
      }),
    );

  program
    .command('io')
    .description('run qemu-io style commands (read, write, discard, flush, map, ...) on an image')
    .argument('<file>')
    .option('-f, --format <fmt>', 'image format (probed when absent)')
    .option('-r, --read-only', 'open the image read-only')
    .option('-t, --cache <mode>', 'writeback, none, writethrough, directsync or unsafe (default writeback)')
    .option('-n, --nocache', 'same as --cache none (bypass the host page cache)')
    .option(
      '-c, --cmd <command>',
      'command to run (repeatable; run in order); without -c, read stdin',
      collect,
    )
    .option('-U, --force-share', 'do not take the image lock (only with -r)')
    .addHelpText(
      'after',
      `\nCommands (qemu-io's; offsets and lengths take k/M/G suffixes or 0x hex):\n${commandSummary()}` +
        "\nExample: vdisk io -f raw -c 'write -P 0xab 0 64k' -c 'read -P 0xab 0 64k' disk.img\n",
    )
    .action(
      run(async (file: string, o: Opts) => {
        let cache = parseCache(str(o['cache']));
        if (bool(o['nocache'])) {
          if (cache !== undefined && cache !== 'none') {
            throw new UsageError(`-n (cache none) conflicts with --cache ${cache}`);
          }
          cache = 'none';
        }
        return (await import('./io.js')).io(file, {
          format: parseOptionalFormat(str(o['format'])),
          readOnly: bool(o['readOnly']),
          cache,
          forceShare: bool(o['forceShare']),
          commands: o['cmd'] as string[] | undefined,
        });
      }),
    );

  for (const register of servers) register(program, run);

  return program;
}
