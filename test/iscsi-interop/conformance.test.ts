/**
 * `npm run conformance` inside the default test run: libiscsi's iscsi-test-cu (230 tests, with
 * --dataloss) against a fresh `vdisk iscsi serve`, once on a raw and once on a qcow2 image
 * (about a minute on 2 cores). The script decides: it exits 0 only when every test passed or is
 * an accepted exception listed in docs/conformance.md. This test adds the checks that keep the
 * script honest: both runs happened, every test got a verdict, and the verdicts add up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/iscsi-targets.js';
import { tmpDir } from '../helpers/tmp.js';
import { describeRun, run, skipWithout } from '../nbd/helpers.js';

const skip = await skipWithout('qemu-img');
const noSuite = (await run('iscsi-test-cu', ['-l'], 10_000)).status !== 0;

interface Record {
  tag: string;
  target: string;
  totals: { total: number; passed: number; failed: number; skipped: number; 'not-run': number };
  unexpected: { name: string; outcome: string; message: string }[];
}

test(
  'npm run conformance: iscsi-test-cu passes against vdisk, but for the exceptions in docs/conformance.md',
  { skip: skip || (noSuite && 'iscsi-test-cu is not installed (bash scripts/setup.sh)'), timeout: 900_000 },
  async () => {
    const json = path.join(tmpDir('vdisk-conformance-test-'), 'result.json');
    const r = await run(
      process.execPath,
      [path.join(REPO_ROOT, 'scripts', 'conformance.mjs'), '--json', json],
      850_000,
    );
    assert.equal(r.status, 0, describeRun(r));
    const result = JSON.parse(fs.readFileSync(json, 'utf8')) as { ok: boolean; records: Record[] };
    assert.equal(result.ok, true);
    assert.deepEqual(
      result.records.map((x) => x.tag),
      ['vdisk-raw', 'vdisk-qcow2'],
    );
    for (const rec of result.records) {
      const t = rec.totals;
      assert.ok(t.total >= 200, `${rec.tag}: only ${t.total} tests listed`);
      assert.equal(t.passed + t.failed + t.skipped + t['not-run'], t.total);
      assert.equal(t['not-run'], 0, `${rec.tag}: tests without a verdict`);
      assert.deepEqual(rec.unexpected, []);
      // The bar in numbers: most of the list passes outright.
      assert.ok(t.passed >= 150, `${rec.tag}: ${t.passed} passed`);
    }
  },
);
