/**
 * `vdisk img check`: consistency check of an image, with qemu-img check's output and exit codes.
 *
 * Exit codes (qemu-img's): 0 no problems, 1 the check could not complete (or reported internal
 * errors), 2 corruptions, 3 leaks only, 63 the format has no check.
 *
 * The report's per-problem messages go to stderr, as QEMU's drivers print them, so that stdout
 * holds only the summary (or only the JSON document with --output=json). After a repair
 * (-r leaks|all) the image is checked again and that second result is what is summarised and
 * decides the exit code, as qemu-img does.
 */
import { checkImage, type CheckReport, type ImageFormat } from '../formats/index.js';
import { isBlockError } from '../util/index.js';
import type { OutputFormat } from './args.js';
import { errorMessage, print, printError, printJson } from './output.js';
import { cFixed } from './units.js';

export interface CheckCommandOptions {
  format?: ImageFormat;
  output: OutputFormat;
  repair?: 'leaks' | 'all';
  quiet?: boolean;
}

export const EXIT_CHECK_FAILED = 1;
export const EXIT_CORRUPT = 2;
export const EXIT_LEAKS = 3;
export const EXIT_NO_CHECK = 63;

export async function imgCheck(file: string, opts: CheckCommandOptions): Promise<number> {
  let report: CheckReport;
  try {
    report = await checkImage(file, { format: opts.format, repair: opts.repair });
    printMessages(report);
    const leaksFixed = report['leaks-fixed'] ?? 0;
    const corruptionsFixed = report['corruptions-fixed'] ?? 0;
    if (leaksFixed || corruptionsFixed) {
      if (opts.output === 'human' && !opts.quiet) {
        print(
          'The following inconsistencies were found and repaired:\n\n' +
            `    ${leaksFixed} leaked clusters\n` +
            `    ${corruptionsFixed} corruptions\n\n` +
            'Double checking the fixed image now...\n',
        );
      }
      report = await checkImage(file, { format: opts.format });
      printMessages(report);
      report = { ...report, 'leaks-fixed': leaksFixed, 'corruptions-fixed': corruptionsFixed };
    }
  } catch (err) {
    if (isBlockError(err, 'NOT_SUPPORTED')) {
      printError(errorMessage(err));
      return EXIT_NO_CHECK;
    }
    printError(`Check failed: ${errorMessage(err)}`);
    return EXIT_CHECK_FAILED;
  }
  if (opts.output === 'json') printJson(checkJson(report));
  else if (!opts.quiet) print(humanCheck(report));
  if (report['check-errors'] > 0) {
    printError('Check failed');
    return EXIT_CHECK_FAILED;
  }
  if (report.corruptions > 0) return EXIT_CORRUPT;
  if (report.leaks > 0) return EXIT_LEAKS;
  return 0;
}

function printMessages(report: CheckReport): void {
  for (const m of report.messages) process.stderr.write(m.endsWith('\n') ? m : m + '\n');
}

/** qemu-img's ImageCheck as JSON: optional counters appear only when non-zero. */
export function checkJson(r: CheckReport): Record<string, unknown> {
  const out: Record<string, unknown> = {
    filename: r.filename,
    format: r.format,
    'check-errors': r['check-errors'],
  };
  const optional = [
    'image-end-offset',
    'total-clusters',
    'allocated-clusters',
    'fragmented-clusters',
    'compressed-clusters',
    'corruptions',
    'leaks',
    'corruptions-fixed',
    'leaks-fixed',
  ] as const;
  for (const key of optional) {
    const v = r[key];
    if (v) out[key] = v;
  }
  return out;
}

/** qemu-img's dump_human_image_check. */
export function humanCheck(r: CheckReport): string {
  let s = '';
  if (!(r.corruptions || r.leaks || r['check-errors'])) {
    s += 'No errors were found on the image.\n';
  } else {
    if (r.corruptions) {
      s +=
        `\n${r.corruptions} errors were found on the image.\n` +
        'Data may be corrupted, or further writes to the image may corrupt it.\n';
    }
    if (r.leaks) {
      s +=
        `\n${r.leaks} leaked clusters were found on the image.\n` +
        'This means waste of disk space, but no harm to data.\n';
    }
    if (r['check-errors']) {
      s += `\n${r['check-errors']} internal errors have occurred during the check.\n`;
    }
  }
  const total = r['total-clusters'] ?? 0;
  const allocated = r['allocated-clusters'] ?? 0;
  if (total && allocated) {
    const pct = (n: number, of: number): string => cFixed((n * 100) / of, 2);
    s +=
      `${allocated}/${total} = ${pct(allocated, total)}% allocated, ` +
      `${pct(r['fragmented-clusters'] ?? 0, allocated)}% fragmented, ` +
      `${pct(r['compressed-clusters'] ?? 0, allocated)}% compressed clusters\n`;
  }
  if (r['image-end-offset']) s += `Image end offset: ${r['image-end-offset']}\n`;
  return s;
}
