/**
 * What the copy manager remembers of EXTENDED COPY commands for RECEIVE COPY RESULTS (SPC-4
 * §6.18): per logical unit (the copy manager is the LU that received the command) and per I_T
 * nexus (list identifiers are the application client's, unique only within its nexus), the copy
 * status of each list identifier sent with LIST ID USAGE 00b or 10b.
 *
 * - A list identifier whose copy is still in progress cannot be reused: "... the copy manager
 *   shall terminate the command ... ILLEGAL REQUEST ... OPERATION IN PROGRESS" (SPC-4 §6.3.1).
 *   A completed one is replaced by the new command.
 * - Bounded: MAX_HELD_LISTS per nexus (the oldest completed entry is dropped first) and
 *   MAX_HELD_NEXUSES per LU (the least recently used nexus is dropped).
 */
import type { LogicalUnit } from '../logical-unit.js';
import { CopyAsc, copyIllegal } from './copy-sense.js';
import { CopyManagerStatus } from './copy-status.js';
import { MAX_HELD_LISTS, MAX_HELD_NEXUSES } from './limits.js';

export interface HeldCopy {
  status: number;
  segmentsProcessed: number;
  /** Bytes written to copy destinations so far. */
  bytes: number;
}

export class HeldCopyResults {
  private readonly byNexus = new Map<string, Map<number, HeldCopy>>();

  /** Starts holding the status of `listId` for `nexusKey`; OPERATION IN PROGRESS if it is busy. */
  begin(nexusKey: string, listId: number): HeldCopy {
    let lists = this.byNexus.get(nexusKey);
    if (lists) {
      this.byNexus.delete(nexusKey);
    } else {
      lists = new Map();
      if (this.byNexus.size >= MAX_HELD_NEXUSES) this.byNexus.delete(this.byNexus.keys().next().value!);
    }
    this.byNexus.set(nexusKey, lists);
    const old = lists.get(listId);
    if (old?.status === CopyManagerStatus.IN_PROGRESS) throw copyIllegal(CopyAsc.OPERATION_IN_PROGRESS);
    lists.delete(listId);
    if (lists.size >= MAX_HELD_LISTS) {
      for (const [id, h] of lists) {
        if (h.status !== CopyManagerStatus.IN_PROGRESS) {
          lists.delete(id);
          break;
        }
      }
    }
    const held: HeldCopy = { status: CopyManagerStatus.IN_PROGRESS, segmentsProcessed: 0, bytes: 0 };
    lists.set(listId, held);
    return held;
  }

  /** Forgets everything held (a hard reset: SPC-2 §7.14 lists it among the times held results go). */
  clear(): void {
    this.byNexus.clear();
  }

  get(nexusKey: string, listId: number): HeldCopy | undefined {
    return this.byNexus.get(nexusKey)?.get(listId);
  }
}

const perLu = new WeakMap<LogicalUnit, HeldCopyResults>();

export function heldResultsOf(lu: LogicalUnit): HeldCopyResults {
  let r = perLu.get(lu);
  if (!r) {
    r = new HeldCopyResults();
    perLu.set(lu, r);
  }
  return r;
}
