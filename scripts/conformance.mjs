#!/usr/bin/env node
// `npm run conformance`: libiscsi's conformance suite (iscsi-test-cu, Debian's libiscsi-bin) against
// a fresh `vdisk iscsi serve`, with the per-test verdicts that CUnit itself does not give.
//
// Design:
// - One fresh target per image format (raw and qcow2, VDISK_CONFORMANCE_SIZE, default 64 MiB,
//   discard=on so the thin-provisioning tests run) on two loopback portals. LUN 0 is the
//   read-write image, LUN 1 a second image with readonly=1. The whole list (the ALL family,
//   230 tests in libiscsi 1.19) runs with --dataloss and --allow-sanitize against LUN 0, with the
//   second portal's URL for the multipath tests and two initiator names (-i, -I) for the
//   reservation tests; then the ReadOnly family runs again against LUN 1, the only place it can
//   pass, and its verdict replaces the first.
// - Verdicts come from the verbose output, read per test between its "Test: NAME ..." header
//   and its "passed" / "FAILED" verdict. CUnit counts a skip as a pass; how skips are seen is
//   explained at SKIP_MARK below. `failed` keeps the first "[FAILED]" line, else the first
//   failed assertion; `not-run` is a test of the list (iscsi-test-cu -l) without a verdict (the
//   tool crashed, timed out, or a suite's setup failed), and counts as a failure.
// - The accepted exceptions live in docs/conformance.md, in the fenced block tagged
//   `conformance-exceptions` (format at readExceptions). The exit status is non-zero when a
//   vdisk test fails, skips or does not run without a matching exception. An exception that was
//   not needed is reported, so the list cannot rot.
// - `--peer tgtd` also runs the suite against tgtd (Debian's tgt) serving a raw file of the same
//   size, for reference numbers (tgtd's disk LUNs start at 1; its results never change the exit
//   status). `--peer-only` runs tgtd alone, `--filter` narrows the families while developing.
//
// Results: a table per family on stdout (`--markdown` prints it for docs/conformance.md), a JSON
// file (default dist/conformance/result.json) and each run's raw iscsi-test-cu output beside it.
//
// The targets start through test/helpers/iscsi-targets.ts (compiled), shared with the interop
// tests and the benchmark.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const DOC = path.join(ROOT, 'docs', 'conformance.md');
const TARGET_IQN = 'iqn.2026-11.org.vdisk:conformance';
const INITIATORS = [
  'iqn.2026-11.org.vdisk:conformance-initiator-1',
  'iqn.2026-11.org.vdisk:conformance-initiator-2',
];
/**
 * Runs after the main one, whose verdicts replace the main run's: the ReadOnly family needs a
 * write-protected LU (LUN 1).
 */
const RERUNS = [{ name: 'readonly', tests: ['ALL.ReadOnly.*'], lun: 1 }];

// ---------------------------------------------------------------------------------------------
// iscsi-test-cu output

/** The test list of this libiscsi under ALL, as full names (ALL.Suite.Test). */
export function listTests() {
  const r = spawnSync('iscsi-test-cu', ['-l'], { encoding: 'utf8' });
  if (r.error) throw new Error(`iscsi-test-cu is not installed (bash scripts/setup.sh): ${r.error.message}`);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.split('.').length === 3 && l.startsWith('ALL.'));
}

/** A `*` glob as a RegExp over the whole name. */
export const globRegExp = (glob) =>
  new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
const globMatch = (glob, name) => globRegExp(glob).test(name);

/** The family of a test: the second component of its name (ALL.Read10.Simple -> Read10). */
export const familyOf = (name) => name.split('.')[1];

/**
 * How a skip is told from a pass. CUnit counts a skip as a pass, and libiscsi skips in two ways:
 * it prints a "[SKIPPED] ..." line (some tests then return, others go on with their other
 * checks: the ReadOnly test skips each write command the LU lacks), and it records
 * CU_PASS("[SKIPPED] ..."), sometimes without printing anything (the TMF tests' "Non-iSCSI").
 * To see the second kind, a small LD_PRELOAD library wraps CUnit's CU_assertImplementation and
 * prints SKIP_MARK and the condition of every CU_PASS that says [SKIPPED], in order with
 * CUnit's output (without a C compiler, only the printed lines count). A test that passed with
 * either sign is `skipped`, with every distinct reason it gave: a test that left out any check
 * did not prove it.
 */
const SKIP_MARK = '@@vdisk-conformance-skip@@';
const SKIP_SHIM_C = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
typedef int (*assert_fn)(int, unsigned int, const char *, const char *, const char *, int);
/* Line-buffered stdout: each line reaches the pipe when printed, so its arrival time is the
   time it was printed (per-test durations). */
__attribute__((constructor)) static void line_buffered(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
int CU_assertImplementation(int value, unsigned int line, const char *condition, const char *file,
                            const char *function, int fatal) {
  static assert_fn real;
  if (!real) real = (assert_fn)dlsym(RTLD_NEXT, "CU_assertImplementation");
  if (condition && strncmp(condition, "CU_PASS(", 8) == 0 && strstr(condition, "[SKIPPED]"))
    fprintf(stdout, "\\n${SKIP_MARK} %s\\n", condition);
  return real(value, line, condition, file, function, fatal);
}
`;

/** Builds the skip-marking library into `dir` (once per source); undefined without a compiler. */
export function buildSkipShim(dir) {
  const so = path.join(dir, 'cunit-skip-mark.so');
  const src = path.join(dir, 'cunit-skip-mark.c');
  if (fs.existsSync(so) && fs.existsSync(src) && fs.readFileSync(src, 'utf8') === SKIP_SHIM_C) return so;
  fs.writeFileSync(src, SKIP_SHIM_C);
  for (const cc of ['cc', 'gcc']) {
    const r = spawnSync(cc, ['-shared', '-fPIC', '-O2', '-o', so, src, '-ldl'], { encoding: 'utf8' });
    if (!r.error && r.status === 0) return so;
  }
  fs.rmSync(src, { force: true });
  return undefined;
}

/**
 * Per-test verdicts from iscsi-test-cu's verbose output (suites named without the ALL. prefix).
 * Returns a Map from full name to { outcome: 'passed' | 'skipped' | 'failed', message, reasons?,
 * asserts? }.
 */
export function parseVerbose(text, timeAt = () => undefined) {
  const results = new Map();
  let suite = '';
  let current; // the test whose verdict is pending
  let failedLast; // a failed test still collecting its numbered assertion lines
  let offset = 0; // of the current line in `text`
  const verdict = (t, word) => {
    const fail = t.log.find((l) => l.startsWith('[FAILED]'));
    const end = timeAt(offset);
    const ms = end !== undefined && t.start !== undefined ? end - t.start : undefined;
    if (word === 'passed') {
      const printed = t.log.filter((l) => l.startsWith('[SKIPPED]')).map(stripTag);
      const reasons = [...new Set(printed.length ? printed : t.marks.map(passMessage))];
      const r = reasons.length
        ? { outcome: 'skipped', message: reasons.join('; '), reasons }
        : { outcome: 'passed' };
      results.set(t.name, { ...r, ms });
      return undefined;
    }
    const r = { outcome: 'failed', message: fail ? stripTag(fail) : '', asserts: [], ms };
    results.set(t.name, r);
    return r;
  };
  const take = (t, line) => {
    if (line.startsWith(SKIP_MARK)) t.marks.push(line.slice(SKIP_MARK.length).trim());
    else if (line.trim()) t.log.push(line.trim());
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const lineStart = offset;
    offset += raw.length + 1;
    let m;
    if (/^Run Summary:/.test(line)) break;
    if ((m = /^Suite: (\S+)/.exec(line))) {
      suite = m[1];
      current = failedLast = undefined;
      continue;
    }
    if ((m = /^ {2}Test: (\S+) \.\.\.(.*)$/.exec(line))) {
      current = { name: `ALL.${suite}.${m[1]}`, log: [], marks: [], start: timeAt(lineStart) };
      failedLast = undefined;
      const v = /^(passed|FAILED)\b/.exec(m[2]);
      if (v) {
        failedLast = verdict(current, v[1]);
        current = undefined;
      } else take(current, m[2]);
      continue;
    }
    if (current) {
      const v = /^(passed|FAILED)\b/.exec(line);
      if (v) {
        failedLast = verdict(current, v[1]);
        current = undefined;
      } else take(current, line);
      continue;
    }
    if (failedLast && (m = /^\s+\d+\. (.*)$/.exec(line)) && failedLast.asserts.length < 5) {
      // Output of the next suite's setup may follow on the same line.
      failedLast.asserts.push(m[1].split(/\s{2,}\[(?:SKIPPED|FAILED)\]/)[0].replace(/\s+/g, ' '));
    }
  }
  for (const r of results.values()) {
    if (r.outcome === 'failed') {
      if (!r.message) r.message = r.asserts[0] ?? '(no message)';
      if (!r.asserts.length) delete r.asserts;
    }
  }
  return results;
}

const stripTag = (l) => l.replace(/^\[(SKIPPED|FAILED)\]\s*/, '');
/** The text of a CU_PASS("[SKIPPED] a" " b") condition: "a b". */
const passMessage = (cond) =>
  stripTag([...cond.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]).join('') || cond);

/** Runs iscsi-test-cu for `tests` (its -t patterns) against `urls`; resolves to its verdicts and raw output. */
async function runSuite({ urls, tests, logFile, timeoutMs, shim }) {
  const args = ['--dataloss', '--allow-sanitize', '-i', INITIATORS[0], '-I', INITIATORS[1]];
  args.push('-t', tests.join(','), ...urls);
  const started = Date.now();
  // One pipe for both streams, so their lines stay in order.
  const child = spawn('sh', ['-c', 'exec iscsi-test-cu "$@" 2>&1', 'iscsi-test-cu', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: shim ? { ...process.env, LD_PRELOAD: shim } : process.env,
  });
  let out = '';
  const arrivals = []; // [offset of a chunk's end in `out`, ms since start]
  child.stdout.on('data', (d) => {
    out += d;
    arrivals.push([out.length, Date.now() - started]);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const status = await new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? signal)));
  clearTimeout(timer);
  fs.writeFileSync(logFile, `$ iscsi-test-cu ${args.join(' ')}\n${out}`);
  const note = timedOut
    ? `iscsi-test-cu timed out after ${timeoutMs / 1000} s`
    : `iscsi-test-cu exited ${status}`;
  // The time a byte arrived: that of the first chunk that ends after it.
  const timeAt = (offset) => {
    let lo = 0;
    let hi = arrivals.length - 1;
    if (hi < 0 || offset >= arrivals[hi][0]) return undefined;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (arrivals[mid][0] > offset) hi = mid;
      else lo = mid + 1;
    }
    return arrivals[lo][1];
  };
  return { results: parseVerbose(out, timeAt), ms: Date.now() - started, note };
}

// ---------------------------------------------------------------------------------------------
// Exceptions (docs/conformance.md)

/**
 * The `conformance-exceptions` block: one entry per line, `PATTERN OUTCOMES REASON`. PATTERN is
 * a glob on the test name (`*` only), optionally followed by `[TEXT]`: then the entry covers
 * only the skip reasons or failure message that contain TEXT, so a test that leaves out one
 * check for an accepted reason still shows any other check it leaves out. OUTCOMES is `skip`,
 * `fail` or `skip,fail`. Returns [{ pattern, regex, text, outcomes: Set, reason }].
 */
export function readExceptions(doc = DOC) {
  const source = fs.readFileSync(doc, 'utf8');
  const block = /^```conformance-exceptions\n([\s\S]*?)^```/m.exec(source);
  if (!block) throw new Error(`${doc}: no \`\`\`conformance-exceptions block`);
  const entries = [];
  for (const line of block[1].split('\n')) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const m = /^([^\s[]+)(?:\[([^\]]+)\])?\s+(\S+)\s+(.+)$/.exec(line.trim());
    const outcomes = m?.[3].split(',');
    if (!m || outcomes.some((o) => o !== 'skip' && o !== 'fail')) {
      throw new Error(`${doc}: cannot read exception '${line}' (PATTERN[TEXT] skip|fail|skip,fail REASON)`);
    }
    const regex = globRegExp(m[1]);
    const pattern = m[2] ? `${m[1]}[${m[2]}]` : m[1];
    entries.push({ pattern, regex, text: m[2], outcomes: new Set(outcomes), reason: m[4] });
  }
  return entries;
}

/** Applies the exceptions to one run: { unexpected: [...], accepted: [...], used: Set }. */
function judge(tests, exceptions) {
  const used = new Set();
  const unexpected = [];
  const accepted = [];
  for (const t of tests) {
    if (t.outcome === 'passed') continue;
    const word = t.outcome === 'skipped' ? 'skip' : 'fail';
    const candidates = exceptions.filter((x) => x.regex.test(t.name) && x.outcomes.has(word));
    // Every skip reason (or the failure) needs an entry that covers it.
    const covering = (t.reasons ?? [t.message]).map((r) =>
      candidates.find((x) => !x.text || r.includes(x.text)),
    );
    if (covering.every(Boolean)) {
      for (const e of covering) used.add(e);
      accepted.push({ ...t, reason: [...new Set(covering.map((e) => e.reason))].join('; ') });
    } else unexpected.push(t);
  }
  return { unexpected, accepted, used };
}

// ---------------------------------------------------------------------------------------------
// Main

function parseArgs(argv) {
  const o = { peer: false, peerOnly: false, filter: undefined, formats: ['raw', 'qcow2'], markdown: false };
  o.json = path.join(ROOT, 'dist', 'conformance', 'result.json');
  o.size = process.env.VDISK_CONFORMANCE_SIZE ?? '64M';
  o.timeout = 600;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--peer') {
      if (value() !== 'tgtd') throw new Error('--peer: only tgtd is known');
      o.peer = true;
    } else if (a === '--peer-only') o.peer = o.peerOnly = true;
    else if (a === '--filter') o.filter = value().split(',');
    else if (a === '--formats') o.formats = value().split(',');
    else if (a === '--size') o.size = value();
    else if (a === '--json') o.json = path.resolve(value());
    else if (a === '--timeout') o.timeout = Number(value());
    else if (a === '--markdown') o.markdown = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '-h' || a === '--help') o.help = true;
    else throw new Error(`unknown option ${a}`);
  }
  for (const f of o.formats)
    if (f !== 'raw' && f !== 'qcow2') throw new Error(`--formats: unknown format ${f}`);
  return o;
}

const USAGE = `Usage: npm run conformance [-- OPTIONS]
Runs libiscsi's iscsi-test-cu (--dataloss, whole ALL list) against a fresh vdisk iscsi serve.
  --peer tgtd        also run it against tgtd serving a raw file (reference numbers)
  --peer-only        run it against tgtd alone
  --filter F[,F..]   only these families (second component of the test name, e.g. Read10)
  --formats raw,qcow2  image formats for vdisk (default both)
  --size SIZE        image size for qemu-img create (default 64M; env VDISK_CONFORMANCE_SIZE)
  --json FILE        result file (default dist/conformance/result.json; raw logs beside it)
  --timeout SECONDS  per iscsi-test-cu run (default 600)
  --markdown         print the family table as Markdown (for docs/conformance.md)
  --keep             keep the temporary images
Exit status: 1 when a vdisk test fails, skips or does not run without an accepted exception in
docs/conformance.md; 2 on a usage or setup error.`;

const TARGETS_MODULE = path.join(ROOT, 'dist', 'test', 'helpers', 'iscsi-targets.js');

/** Imports the target starters, building first when dist/ lacks them (tsc emits despite errors). */
async function loadTargets() {
  if (!fs.existsSync(TARGETS_MODULE) || !fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'index.js'))) {
    console.log('conformance: dist/ is missing or old: running npm run build');
    spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (!fs.existsSync(TARGETS_MODULE)) throw new Error(`npm run build made no ${TARGETS_MODULE}`);
  }
  return import(pathToFileURL(TARGETS_MODULE).href);
}

function createImage(file, format, size) {
  const r = spawnSync('qemu-img', ['create', '-q', '-f', format, file, size], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`qemu-img create ${file}: ${r.error ?? r.stderr}`);
}

/** One target, one format: both iscsi-test-cu runs; resolves to the run's record. */
async function runTarget({ targets, kind, format, dir, families, expected, opts, outDir, shim }) {
  const tag = `${kind}-${format}`;
  const rw = path.join(dir, `${tag}.${format}`);
  const ro = path.join(dir, `${tag}-ro.${format}`);
  createImage(rw, format, opts.size);
  createImage(ro, format, opts.size);
  const luns = [
    { file: rw, format, options: ['discard=on'] },
    { file: ro, format, readonly: true, options: ['discard=on'] },
  ];
  const logFile = path.join(outDir, `${tag}-server.log`);
  const target = await targets.startTarget(kind, { luns, portals: 2, iqn: TARGET_IQN, logFile });
  const runs = [];
  const timeoutMs = opts.timeout * 1000;
  try {
    const urls = [target.url(0, 0), target.url(0, 1)];
    const tests = families.map((f) => `ALL.${f}`);
    runs.push(await runSuite({ shim, urls, tests, logFile: path.join(outDir, `${tag}.log`), timeoutMs }));
    for (const r of RERUNS.filter((x) => x.tests.some((t) => expected.some((e) => globMatch(t, e))))) {
      const logFile = path.join(outDir, `${tag}-${r.name}.log`);
      runs.push(await runSuite({ shim, urls: [target.url(r.lun, 0)], tests: r.tests, logFile, timeoutMs }));
    }
  } finally {
    await target.stop();
  }
  return { tag, runs };
}

function collect(expected, runs) {
  const merged = new Map();
  for (const r of runs) for (const [k, v] of r.results) merged.set(k, v);
  const notes = runs.map((r) => r.note).join('; ');
  return expected.map((name) => {
    const r = merged.get(name);
    return r ? { name, ...r } : { name, outcome: 'not-run', message: `no verdict in the output (${notes})` };
  });
}

const count = (tests) => {
  const c = { total: tests.length, passed: 0, failed: 0, skipped: 0, 'not-run': 0 };
  for (const t of tests) c[t.outcome]++;
  return c;
};

/** The issue's grouping: the families of issue 6 (the next one), by what they test. */
const NEXT_ISSUE = [
  ['persistent reservations', /^(Prin|Prout|Reserve6)/],
  ['compare and write', /^CompareAndWrite$/],
  ['extended copy', /^(ExtendedCopy|ReceiveCopyResults)$/],
];
const groupOf = (family) => NEXT_ISSUE.find(([, re]) => re.test(family))?.[0];

function printTable(records, markdown) {
  const families = [...new Set(records.flatMap((r) => r.tests.map((t) => familyOf(t.name))))];
  const cell = (tests) => {
    const c = count(tests);
    const bad = c.failed + c['not-run'];
    return `${c.passed}/${c.total}${bad ? ` ${bad}F` : ''}${c.skipped ? ` ${c.skipped}S` : ''}`;
  };
  const row = (label, pick) => [label, ...records.map((r) => cell(r.tests.filter((t) => pick(t.name))))];
  const now = families.filter((f) => !groupOf(f));
  const next = families.filter((f) => groupOf(f));
  const header = ['family', ...records.map((r) => r.tag)];
  const rows = now.map((f) => row(f, (n) => familyOf(n) === f));
  rows.push(row('issue 5 families', (n) => !groupOf(familyOf(n))));
  rows.push(...next.map((f) => row(`${f} (${groupOf(f)})`, (n) => familyOf(n) === f)));
  if (next.length) rows.push(row('issue 6 families', (n) => Boolean(groupOf(familyOf(n)))));
  rows.push(row('total', () => true));
  if (markdown) {
    console.log(`| ${header.join(' | ')} |\n|${header.map(() => ' --- ').join('|')}|`);
    for (const row of rows) console.log(`| ${row.join(' | ')} |`);
    return;
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)) + 2);
  const line = (cols) => cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log('(cells: passed/total, then F = failed or not run, S = skipped)');
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`conformance: ${err.message}\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  const exceptions = readExceptions();
  const targets = await loadTargets();
  let expected = listTests();
  if (opts.filter) {
    const unknown = opts.filter.filter((f) => !expected.some((t) => familyOf(t) === f));
    if (unknown.length) throw new Error(`--filter: no family named ${unknown.join(', ')}`);
    expected = expected.filter((t) => opts.filter.includes(familyOf(t)));
  }
  const families = [...new Set(expected.map(familyOf))];
  const outDir = path.dirname(opts.json);
  fs.mkdirSync(outDir, { recursive: true });
  const shim = buildSkipShim(outDir);
  if (!shim) console.log('conformance: no C compiler: skips are told from passes by a heuristic');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vdisk-conformance-'));
  const plan = [
    ...(opts.peerOnly ? [] : opts.formats.map((format) => ({ kind: 'vdisk', format }))),
    ...(opts.peer ? [{ kind: 'tgtd', format: 'raw' }] : []),
  ];
  const version = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'libiscsi-bin'], {
    encoding: 'utf8',
  }).stdout;
  console.log(
    `conformance: iscsi-test-cu (libiscsi ${version || 'unknown'}), ${expected.length} tests, ${opts.size} images`,
  );
  const records = [];
  try {
    for (const p of plan) {
      const { tag, runs } = await runTarget({ ...p, targets, dir, families, expected, opts, outDir, shim });
      const tests = collect(expected, runs);
      const record = {
        tag,
        target: p.kind,
        format: p.format,
        seconds: runs.reduce((s, r) => s + r.ms, 0) / 1000,
      };
      Object.assign(record, { totals: count(tests), tests });
      const c = record.totals;
      console.log(
        `${tag}: ${c.passed} passed, ${c.failed + c['not-run']} failed, ${c.skipped} skipped of ${c.total} ` +
          `(${c['not-run']} not run) in ${record.seconds.toFixed(1)} s`,
      );
      records.push(record);
      const slowest = [...tests]
        .filter((t) => t.ms !== undefined)
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 5);
      if (slowest.length) {
        console.log(
          `  slowest: ${slowest.map((t) => `${t.name.slice(4)} ${(t.ms / 1000).toFixed(1)} s`).join(', ')}`,
        );
      }
    }
  } finally {
    if (!opts.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
  printTable(records, opts.markdown);

  let status = 0;
  const usedAnywhere = new Set();
  for (const r of records.filter((x) => x.target === 'vdisk')) {
    const { unexpected, accepted, used } = judge(r.tests, exceptions);
    for (const e of used) usedAnywhere.add(e);
    r.accepted = accepted.length;
    r.unexpected = unexpected;
    if (unexpected.length) status = 1;
    console.log(
      `\n${r.tag}: ${accepted.length} accepted exceptions, ${unexpected.length} unexpected results`,
    );
    for (const t of unexpected) console.log(`  ${t.outcome.toUpperCase()} ${t.name}: ${t.message}`);
  }
  const vdiskRan = records.some((r) => r.target === 'vdisk');
  const unneeded = exceptions.filter((e) => !usedAnywhere.has(e) && expected.some((t) => e.regex.test(t)));
  if (vdiskRan && unneeded.length) {
    console.log(
      `\nexceptions not needed by this run (remove them from docs/conformance.md when they stay so):`,
    );
    for (const e of unneeded) console.log(`  ${e.pattern}`);
  }
  const result = {
    libiscsi: version || undefined,
    date: new Date().toISOString(),
    size: opts.size,
    filter: opts.filter,
    records,
    unneededExceptions: vdiskRan ? unneeded.map((e) => e.pattern) : undefined,
    ok: status === 0,
  };
  fs.writeFileSync(opts.json, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nresults: ${opts.json} (raw logs beside it)`);
  if (!vdiskRan) console.log('(no vdisk run: the exit status checks nothing)');
  else console.log(status === 0 ? 'conformance: OK' : 'conformance: FAILED (unexpected results above)');
  return status;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(`conformance: ${err.stack ?? err}`);
      process.exit(2);
    },
  );
}
