/** Progress lines on stderr and summary tables on stdout, shared by the producer commands. */

export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const body = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmtNum(c) : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const right = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || /^[-+]?[\d.,]+%?$/.test(String(r[i]))));
  const fmt = (r: string[], head: boolean) => r.map((c, i) => (right[i] && !head ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ').trimEnd();
  return [fmt(headers, true), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map((r) => fmt(r, false))].join('\n');
}

export function fmtNum(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

export function pct(x: number, digits = 3): string {
  return `${(x * 100).toFixed(digits)}%`;
}

/** A rate line on stderr, rewritten in place on a terminal and printed every few seconds otherwise. */
export class Progress {
  private last = 0;
  private readonly tty = process.stderr.isTTY === true;
  private readonly started = Date.now();
  private wrote = false;

  constructor(
    private readonly label: string,
    private readonly total?: number,
    private readonly enabled = true,
  ) {}

  update(done: number, extra = ''): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < (this.tty ? 250 : 5000)) return;
    this.last = now;
    this.print(done, extra);
  }

  done(done: number, extra = ''): void {
    if (!this.enabled) return;
    this.print(done, extra);
    if (this.tty && this.wrote) process.stderr.write('\n');
  }

  private print(done: number, extra: string): void {
    const secs = Math.max(0.001, (Date.now() - this.started) / 1000);
    const of = this.total !== undefined && Number.isFinite(this.total) ? `/${fmtNum(this.total)} (${((done / this.total) * 100).toFixed(0)}%)` : '';
    const text = `${this.label} ${fmtNum(done)}${of}  ${fmtNum(Math.round(done / secs))} ev/s  ${secs.toFixed(1)} s${extra ? `  ${extra}` : ''}`;
    process.stderr.write(this.tty ? `\r${text}\x1b[K` : `${text}\n`);
    this.wrote = true;
  }
}
