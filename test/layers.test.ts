/**
 * The layer rule of DESIGN.md: dependencies point down only, and a layer is entered through its
 * index.ts. This test reads every import in src/ and fails on one that points up or sideways.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ALLOWED: Record<string, string[]> = {
  util: [],
  block: ['util'],
  formats: ['block', 'util'],
  scsi: ['formats', 'block', 'util'],
  nbd: ['formats', 'block', 'util'],
  iscsi: ['scsi', 'formats', 'block', 'util'],
  storage: ['nbd', 'iscsi', 'scsi', 'formats', 'block', 'util'],
  cli: ['storage', 'nbd', 'iscsi', 'scsi', 'formats', 'block', 'util'],
  api: ['storage', 'nbd', 'iscsi', 'scsi', 'formats', 'block', 'util'],
};

const SRC = resolve('src');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Returns the violations in one file's text, as "file: import 'x' (reason)". */
export function violations(file: string, text: string): string[] {
  const out: string[] = [];
  const layer = relative(SRC, file).split('/')[0]!;
  const allowed = ALLOWED[layer];
  if (!allowed) return [`${file}: '${layer}' is not a known layer`];
  const re = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2]!;
    if (!spec.startsWith('.')) continue;
    const target = resolve(dirname(file), spec);
    const rel = relative(SRC, target);
    if (rel.startsWith('..')) {
      out.push(`${file}: import '${spec}' leaves src/`);
      continue;
    }
    const parts = rel.split('/');
    const targetLayer = parts[0]!;
    if (targetLayer === layer) continue;
    if (!allowed.includes(targetLayer)) {
      out.push(`${file}: import '${spec}' points from ${layer} to ${targetLayer}`);
    } else if (!(parts.length === 2 && parts[1] === 'index.js')) {
      out.push(`${file}: import '${spec}' bypasses ${targetLayer}/index.ts`);
    }
  }
  return out;
}

test('every import in src/ points down a layer, through its index', () => {
  const files = walk(SRC);
  assert.ok(files.length > 5, 'found the sources');
  const bad = files.flatMap((f) => violations(f, readFileSync(f, 'utf8')));
  assert.deepEqual(bad, []);
});

test('the checker catches an upward import and an index bypass', () => {
  const f = join(SRC, 'block', 'x.ts');
  assert.equal(violations(f, "import { a } from '../formats/index.js';").length, 1);
  assert.equal(violations(f, "import { a } from '../util/errors.js';").length, 1);
  assert.equal(violations(f, "import { a } from '../util/index.js';").length, 0);
  assert.equal(violations(join(SRC, 'nbd', 'y.ts'), "import { a } from '../iscsi/index.js';").length, 1);
});
