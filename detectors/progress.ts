/** Progress on stderr: one rewritten line per stage on a terminal; otherwise every line, frequent ones every few seconds. */
export function stderrProgress(): { update: (stage: string, message: string, frequent?: boolean) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  let lastStage = '';
  let lastAt = 0;
  let open = false;
  const started = performance.now();
  return {
    update(stage, message, frequent = false) {
      const now = performance.now();
      const line = `[${((now - started) / 1000).toFixed(1).padStart(6)} s] ${stage}: ${message}`;
      if (tty) {
        if (stage !== lastStage && open) process.stderr.write('\n');
        process.stderr.write(`\r\x1b[2K${line}`);
        open = true;
      } else if (!frequent || stage !== lastStage || now - lastAt > 3_000) {
        process.stderr.write(`${line}\n`);
        lastAt = now;
      }
      lastStage = stage;
    },
    done() {
      if (tty && open) process.stderr.write('\n');
      open = false;
    },
  };
}

/** A plain text table (the CLI's end-of-run summary). */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [fmt(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(fmt)].join('\n');
}
