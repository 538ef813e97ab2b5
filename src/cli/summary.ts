/**
 * atomic's SUMMARY table after `containers update --all` / `images update --all`: a blank line,
 * `SUMMARY`, a blank line, then Python-format columns (`{0:15} {1:32} ...`, every cell cut to its
 * width); the status is coloured (bold red/green/yellow) only when stdout is a terminal.
 */
import { row } from '../util/format.js';

export type SummaryColor = 'red' | 'green' | 'yellow';
const ANSI: Record<SummaryColor, number> = { red: 31, green: 32, yellow: 33 };

export function summaryLines(widths: number[], header: string[], rows: Array<{ cells: string[]; status: string; color: SummaryColor }>, tty: boolean): string[] {
  const fmt = (cells: string[]) => row(cells.map((c, i) => [c, widths[i]] as [string, number]));
  const lines = ['', 'SUMMARY', '', fmt(header)];
  for (const r of rows) {
    const cut = r.cells.map((c, i) => c.slice(0, widths[i]));
    const status = r.status.slice(0, widths[widths.length - 1]);
    const cell = tty ? `\x1b[1;${ANSI[r.color]}m${status}\x1b[0m` : status;
    lines.push(fmt([...cut, cell]));
  }
  return lines;
}
