/**
 * `vdisk` command line: parses arguments with commander, dispatches to the subcommands, and
 * turns every error into a one-line message with a non-zero exit code.
 */
import { Command, CommanderError } from 'commander';
import { BlockError, UsageError } from '../util/index.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('vdisk')
    .description('shared-disk storage server for VM clusters: image engine, NBD and iSCSI exports')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError(false);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    return reportError(err);
  }
}

/** One line on stderr, and the exit code for it. */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed help/version/usage errors.
    return err.exitCode;
  }
  if (err instanceof UsageError || err instanceof BlockError) {
    process.stderr.write(`vdisk: ${err.message}\n`);
    return 1;
  }
  process.stderr.write(`vdisk: ${(err as Error)?.message ?? String(err)}\n`);
  return 1;
}
