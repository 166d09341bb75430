/**
 * The task set of one logical unit (SAM-5 §8): every command in flight on it, from every I_T
 * nexus, in arrival order, so that task management and resets can find them across sessions.
 *
 * Ordering (SAM-5 §8.6, task attributes): a HEAD OF QUEUE task runs at once; a SIMPLE task waits
 * for every ORDERED task that entered before it; an ORDERED task waits for every task that
 * entered before it. ACA tasks are never admitted (NormACA = 0), so the dispatcher treats them as
 * SIMPLE.
 *
 * Aborting: block I/O cannot be cancelled. An aborted task that has not started yet never starts;
 * one that is running completes its I/O, and either way its response is TASK ABORTED.
 * `awaitEnd` resolves when the task has left the set, which is when task management functions
 * report completion (SAM-5 §7.1: "the task manager shall ... complete ... after all affected
 * tasks have been aborted").
 */
import type { ItNexus, TaskAttribute } from './task.js';

export class Task {
  aborted = false;
  /** Set when the abort came from another I_T nexus (for COMMANDS CLEARED BY ANOTHER INITIATOR). */
  abortedByOther = false;
  started = false;
  private hasEnded = false;
  // The two promises are made only when something waits on them (task management, ordering):
  // most tasks run and end without either.
  private endedPromise: Promise<void> | undefined;
  private endResolve: (() => void) | undefined;
  private abortPromise: Promise<void> | undefined;
  private abortResolve: (() => void) | undefined;

  constructor(
    readonly nexus: ItNexus,
    readonly tag: number,
    readonly attribute: TaskAttribute,
    readonly name: string,
  ) {}

  /** Resolves when the task has left its task set. */
  get ended(): Promise<void> {
    if (this.hasEnded) return Promise.resolve();
    return (this.endedPromise ??= new Promise((r) => (this.endResolve = r)));
  }

  /** Resolves when the task is aborted. */
  get abortSignal(): Promise<void> {
    if (this.aborted) return Promise.resolve();
    return (this.abortPromise ??= new Promise((r) => (this.abortResolve = r)));
  }

  abort(byOther: boolean): void {
    if (this.aborted) return;
    this.aborted = true;
    this.abortedByOther = byOther;
    this.abortResolve?.();
  }

  /** @internal called by TaskSet.end. */
  markEnded(): void {
    this.hasEnded = true;
    this.endResolve?.();
  }
}

export class TaskSet {
  private readonly tasks: Task[] = [];

  /** ORDERED tasks in the set: while there are none, SIMPLE tasks enter without a scan. */
  private ordered = 0;

  /**
   * Enters a task. Returns undefined when it may run at once, else a promise that resolves when it
   * may run (or was aborted).
   */
  enter(task: Task): Promise<void> | undefined {
    let blockers: Task[] = [];
    switch (task.attribute) {
      case 'head-of-queue':
        break;
      case 'ordered':
        blockers = this.tasks.slice();
        this.ordered++;
        break;
      case 'simple':
      case 'aca':
        if (this.ordered > 0) blockers = this.tasks.filter((t) => t.attribute === 'ordered');
        break;
    }
    this.tasks.push(task);
    if (blockers.length === 0) return undefined;
    return Promise.race([Promise.all(blockers.map((t) => t.ended)).then(() => undefined), task.abortSignal]);
  }

  end(task: Task): void {
    const i = this.tasks.indexOf(task);
    if (i >= 0) {
      this.tasks.splice(i, 1);
      if (task.attribute === 'ordered') this.ordered--;
    }
    task.markEnded();
  }

  /** The task of `nexusKey` with `tag`, preferring one that is not aborted. */
  find(nexusKey: string, tag: number): Task | undefined {
    let found: Task | undefined;
    for (const t of this.tasks) {
      if (t.nexus.key !== nexusKey || t.tag !== tag) continue;
      if (!t.aborted) return t;
      found ??= t;
    }
    return found;
  }

  /** The tasks matching `pred`, in arrival order. */
  select(pred: (t: Task) => boolean): Task[] {
    return this.tasks.filter(pred);
  }

  get size(): number {
    return this.tasks.length;
  }

  /** Resolves once every task now in the set has ended (tasks entering later are not waited for). */
  async drain(): Promise<void> {
    await Promise.all(this.tasks.map((t) => t.ended));
  }
}
