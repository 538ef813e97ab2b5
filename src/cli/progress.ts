/**
 * Pull output: plain "Copying blob ..." / "Skipping blob ..." lines always (Ansible greps
 * "Copying blob" to decide `changed`, so it only appears when bytes are fetched); on a TTY a one-line
 * progress bar per blob is redrawn on stderr while the blob streams.
 */
import type { Output } from '../app/context.js';

export interface ProgressEvent {
  id: string;
  done: number;
  total?: number;
}

export class ProgressPrinter {
  private active = false;
  constructor(private readonly out: Output) {}

  line(text: string): void {
    this.clear();
    this.out.line(text);
  }

  warn(text: string): void {
    this.clear();
    this.out.warn(text);
  }

  progress(ev: ProgressEvent): void {
    if (!this.out.isTTY || !process.stderr.isTTY) return;
    const width = 30;
    const frac = ev.total ? Math.min(1, ev.done / ev.total) : 0;
    const bar = '='.repeat(Math.round(frac * width)).padEnd(width, ' ');
    const mib = (n: number) => (n / 1048576).toFixed(1);
    const total = ev.total ? ` / ${mib(ev.total)} MiB` : '';
    process.stderr.write(`\r${ev.id.slice(0, 19)} [${bar}] ${mib(ev.done)}${total} MiB`);
    this.active = true;
  }

  done(): void {
    this.clear();
  }

  private clear(): void {
    if (this.active) {
      process.stderr.write('\r\x1b[K');
      this.active = false;
    }
  }
}

/** The pull event callbacks (lines, warnings, per-blob byte progress) wired to a printer. */
export function pullEventsFor(p: ProgressPrinter): {
  onLine(l: string): void;
  onWarning(w: string): void;
  onProgress(ev: { status: string; digest: string; bytes?: number; size?: number }): void;
} {
  return {
    onLine: (l) => p.line(l),
    onWarning: (w) => p.warn(w),
    onProgress: (ev) => {
      if (ev.status === 'copying' && typeof ev.bytes === 'number') p.progress({ id: String(ev.digest), done: ev.bytes, total: ev.size });
    },
  };
}
