/**
 * `check`: rebuilds every cluster's reference count from the metadata (header, L1/L2 tables,
 * refcount structures, snapshot tables) and compares it with the stored refcounts, in qemu-img's
 * terms: a refcount below the references is a corruption, one above is a leak. OFLAG_COPIED must
 * be set exactly on entries whose cluster has refcount 1.
 *
 * Repair ('leaks' or 'all') writes the rebuilt refcounts (and, with 'all', fixes COPIED flags),
 * then checks again and reports what is left. Called with `meta` held and the guest drained.
 */
import type { CheckReport } from '../image.js';
import { compressedClusters, decodeL1Entry, decodeL2Entry, encodeL1Entry, setL2Copied } from './entries.js';
import { INCOMPAT } from './header.js';
import { decodeSnapshotTable, MAX_SNAPSHOT_TABLE } from './snapshot-table.js';
import type { Qcow2Image } from './qcow2.js';

interface Tally {
  refs: Uint32Array;
  messages: string[];
  corruptions: number;
  allocated: number;
  fragmented: number;
  compressed: number;
  /** Active L1/L2 entries with their COPIED flag, for the OFLAG_COPIED pass. */
  copied: Array<{ kind: 'l1' | 'l2'; l1i: number; l2i: number; host: number; flag: boolean; table: number }>;
}

async function tally(img: Qcow2Image): Promise<Tally> {
  const { s, rc, map } = img;
  const cs = s.clusterSize;
  const n = Math.ceil(s.file.size / cs);
  const t: Tally = {
    refs: new Uint32Array(n),
    messages: [],
    corruptions: 0,
    allocated: 0,
    fragmented: 0,
    compressed: 0,
    copied: [],
  };
  const inc = (off: number, len: number, what: string): void => {
    for (let c = Math.floor(off / cs); c * cs < off + len; c++) {
      if (c >= n) {
        t.messages.push(
          `ERROR ${what} at offset 0x${(c * cs).toString(16)} is beyond the end of the image file`,
        );
        t.corruptions++;
        return;
      }
      t.refs[c]!++;
    }
  };
  const h = s.header;
  inc(0, cs, 'header');
  inc(h.l1TableOffset, h.l1Size * 8, 'L1 table');
  inc(h.refcountTableOffset, h.refcountTableClusters * cs, 'refcount table');
  for (let k = 0; k < rc.tableEntries; k++) {
    const off = rc.blockOffset(k);
    if (off) inc(off, cs, `refcount block ${k}`);
  }
  const walkL1 = async (l1: Buffer, l1Size: number, active: boolean): Promise<void> => {
    for (let i = 0; i < l1Size; i++) {
      const e = decodeL1Entry(l1, i, cs);
      if (e.kind === 'invalid') {
        t.messages.push(`ERROR ${e.reason}`);
        t.corruptions++;
        continue;
      }
      if (e.kind !== 'table') continue;
      inc(e.offset, cs, 'L2 table');
      if (e.offset + cs > s.file.size) continue;
      if (active)
        t.copied.push({ kind: 'l1', l1i: i, l2i: -1, host: e.offset, flag: e.copied, table: e.offset });
      const l2 = active ? await map.table(e.offset) : Buffer.alloc(cs);
      if (!active) await s.file.pread(e.offset, l2);
      // As qemu's check_refcounts_l2: fragmentation is counted within one L2 table.
      let prevHost = -1;
      for (let j = 0; j < s.l2Entries; j++) {
        const x = decodeL2Entry(l2, j, s.clusterBits, s.v3, s.extL2);
        switch (x.kind) {
          case 'invalid':
            t.messages.push(`ERROR ${x.reason} (L2 table at 0x${e.offset.toString(16)})`);
            t.corruptions++;
            break;
          case 'normal':
          case 'zero':
          case 'partial':
            if (!x.hostOffset) break;
            inc(x.hostOffset, cs, 'data cluster');
            if (active) {
              t.copied.push({
                kind: 'l2',
                l1i: i,
                l2i: j,
                host: x.hostOffset,
                flag: x.copied,
                table: e.offset,
              });
              // qemu counts zero clusters that keep a host cluster as allocated too.
              t.allocated++;
              if (prevHost >= 0 && x.hostOffset !== prevHost + cs) t.fragmented++;
              prevHost = x.hostOffset;
            }
            break;
          case 'compressed':
            for (const c of compressedClusters(x, cs)) inc(c, cs, 'compressed cluster');
            if (active) {
              t.allocated++;
              t.compressed++;
              t.fragmented++; // "Compressed clusters are fragmented by nature" (qemu)
            }
            break;
          case 'unallocated':
            break;
        }
      }
    }
  };
  await walkL1(map.l1, h.l1Size, true);
  if (h.nbSnapshots > 0) {
    const buf = Buffer.alloc(
      Math.max(0, Math.min(MAX_SNAPSHOT_TABLE, s.file.size - h.snapshotsOffset, h.nbSnapshots * 1200 + 4096)),
    );
    await s.file.pread(h.snapshotsOffset, buf);
    const table = decodeSnapshotTable(buf, h.nbSnapshots);
    inc(h.snapshotsOffset, table.size, 'snapshot table');
    for (const snap of table.entries) {
      inc(snap.l1TableOffset, snap.l1Size * 8, `snapshot ${snap.id} L1 table`);
      const l1 = Buffer.alloc(snap.l1Size * 8);
      await s.file.pread(snap.l1TableOffset, l1);
      await walkL1(l1, snap.l1Size, false);
    }
  }
  return t;
}

export async function checkQcow2(img: Qcow2Image, repair?: 'leaks' | 'all'): Promise<CheckReport> {
  const first = await compare(img);
  if (!repair) return first.report;
  if (img.s.readOnly) throw new Error('cannot repair an image opened read-only');
  let leaksFixed = 0;
  let corruptionsFixed = 0;
  for (let round = 0; round < 3; round++) {
    const cur = round === 0 ? first : await compare(img);
    const fixes = cur.mismatches.filter((m) => (m.stored > m.refs ? true : repair === 'all'));
    const flagFixes = repair === 'all' ? cur.flagMismatches : [];
    if (fixes.length === 0 && flagFixes.length === 0) break;
    const refs = cur.refs;
    const avoid = (c: number): boolean => c < refs.length && refs[c]! > 0;
    for (const m of fixes) {
      await img.rc.setRange(m.cluster, 1, () => m.refs, avoid);
      if (round === 0) {
        if (m.stored > m.refs) leaksFixed++;
        else corruptionsFixed++;
      }
    }
    for (const f of flagFixes) {
      const want = (await img.rc.get(Math.floor(f.host / img.s.clusterSize))) === 1;
      if (f.kind === 'l1') {
        encodeL1Entry(img.map.l1, f.l1i, f.host, want);
        await img.s.file.pwrite(
          img.s.header.l1TableOffset + f.l1i * 8,
          img.map.l1.subarray(f.l1i * 8, f.l1i * 8 + 8),
        );
      } else {
        const t = await img.map.table(f.table);
        const es = img.s.l2EntrySize;
        setL2Copied(t, f.l2i, img.s.extL2, want);
        await img.s.file.pwrite(f.table + f.l2i * es, t.subarray(f.l2i * es, f.l2i * es + 8));
      }
      if (round === 0) corruptionsFixed++;
    }
    if (img.rc.hasDirty) await img.rc.writeDirty();
    await img.s.file.flush();
  }
  const after = await compare(img);
  const h = img.s.header;
  if (after.report.corruptions === 0 && h.incompatibleFeatures & INCOMPAT.CORRUPT) {
    h.incompatibleFeatures &= ~INCOMPAT.CORRUPT;
    img.s.corruptReason = undefined;
    await img.s.writeHeaderFields();
  }
  return { ...after.report, 'leaks-fixed': leaksFixed, 'corruptions-fixed': corruptionsFixed };
}

interface Comparison {
  report: CheckReport;
  refs: Uint32Array;
  mismatches: Array<{ cluster: number; stored: number; refs: number }>;
  flagMismatches: Tally['copied'];
}

async function compare(img: Qcow2Image): Promise<Comparison> {
  const { s, rc } = img;
  const cs = s.clusterSize;
  const t = await tally(img);
  const mismatches: Comparison['mismatches'] = [];
  let leaks = 0;
  let corruptions = t.corruptions;
  let end = 0;
  for (let c = 0; c < t.refs.length; c++) {
    const stored = await rc.get(c);
    const refs = t.refs[c]!;
    // qemu's image end offset: past the last cluster that is referenced or has a refcount.
    if (refs > 0 || stored > 0) end = c + 1;
    if (stored === refs) continue;
    mismatches.push({ cluster: c, stored, refs });
    if (stored < refs) {
      t.messages.push(`ERROR cluster ${c} refcount=${stored} reference=${refs}`);
      corruptions++;
    } else {
      t.messages.push(`Leaked cluster ${c} refcount=${stored} reference=${refs}`);
      leaks++;
    }
  }
  const flagMismatches: Tally['copied'] = [];
  for (const e of t.copied) {
    const refcount = await rc.get(Math.floor(e.host / cs));
    if ((refcount === 1) !== e.flag) {
      flagMismatches.push(e);
      const what = e.kind === 'l1' ? 'L2 table' : 'data cluster';
      t.messages.push(`ERROR OFLAG_COPIED ${what}: offset=0x${e.host.toString(16)} refcount=${refcount}`);
      corruptions++;
    }
  }
  const report: CheckReport = {
    filename: img.filename,
    format: 'qcow2',
    'check-errors': 0,
    corruptions,
    leaks,
    'image-end-offset': end * cs,
    'total-clusters': Math.ceil(s.header.size / cs),
    'allocated-clusters': t.allocated,
    'fragmented-clusters': t.fragmented,
    'compressed-clusters': t.compressed,
    messages: t.messages,
  };
  return { report, refs: t.refs, mismatches, flagMismatches };
}
