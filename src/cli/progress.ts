/**
 * qemu-img's progress indicator (util/qemu-progress.c), for `img convert -p` and friends.
 *
 * The line is "    (%3.2f/100%)" ended by a carriage return, reprinted whenever the value moved
 * by more than `minSkip` percent since the last print, and always at 0 and 100; `end()` prints
 * the final newline. Like qemu-img, it is printed to stdout whether or not stdout is a terminal:
 * tools such as Proxmox VE run `qemu-img convert -p` through a pipe and parse these lines.
 */
import { print } from './output.js';
import { cFixed } from './units.js';

export class Progress {
  private current = 0;
  private lastPrint = 0;

  constructor(
    readonly enabled: boolean,
    private readonly minSkip = 1.0,
    private readonly write: (text: string) => void = print,
  ) {}

  /** qemu_progress_print(value, 0): sets the absolute value in percent. */
  set(percent: number): void {
    if (!this.enabled) return;
    // qemu keeps the value in a C float; the comparison below is the same in doubles.
    const current = Math.fround(percent);
    if (
      current > this.lastPrint + this.minSkip ||
      current < this.lastPrint - this.minSkip ||
      current === 0 ||
      current === 100
    ) {
      this.lastPrint = current;
      this.current = current;
      this.write(`    (${cFixed(this.current, 2)}/100%)\r`);
    }
  }

  end(): void {
    if (this.enabled) this.write('\n');
  }
}
