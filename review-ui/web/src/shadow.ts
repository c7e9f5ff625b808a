/** The shadow challenger panel of the Models page: start/stop a challenger and read its report (issue 13). */
import { api, ApiError, type ShadowReportView } from './api.ts';
import { dateTime, h, kv, table } from './dom.ts';

const ACTIONS = ['ALLOW', 'BLOCK', 'REVIEW', 'ESCALATE'] as const;
const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);
const money = (minor: number) => (minor / 100).toFixed(2);

function reportView(r: ShadowReportView): HTMLElement {
  const tag = r.immature ? ' (immature)' : '';
  return h(
    'div',
    { id: 'shadow-report', 'data-model': r.model, 'data-transactions': String(r.transactions) },
    kv([
      ['challenger', h('span', { id: 'shadow-model' }, `${r.model} · ${r.active ? 'active' : `stopped ${dateTime(r.run.stoppedAt ?? 0)}`} · thresholds from ${r.run.thresholds}`)],
      ['started', `${dateTime(r.run.startedAt)} by ${r.run.by}`],
      ['transactions', h('span', { id: 'shadow-transactions' }, `${r.transactions} (agreement ${pct(r.agreementRate)}; skipped ${r.stats.skippedTransactions} while behind)`)],
      [
        'label maturity',
        h('span', { id: 'shadow-maturity', class: r.immature ? 'warn-text' : 'ok' }, `${pct(r.maturity)} of expected labels · ${r.immature ? `immature (mature at ${pct(r.matureAt)})` : 'mature'} · ${r.labelled} labelled · ${r.delaysKnown} label delays known`),
      ],
    ]),
    h('h3', {}, 'Agreement (rows: champion, columns: challenger)'),
    table(['champion \\ challenger', ...ACTIONS], ACTIONS.map((a) => [a, ...ACTIONS.map((b) => String(r.agreement[a][b]))]), 'compact shadow-agreement'),
    h('h3', {}, 'Each side'),
    table(
      ['', 'block', 'review', 'escalate', 'money blocked', `precision${tag}`, `recall${tag}`],
      (['champion', 'challenger'] as const).map((side) => {
        const s = r[side];
        return [side, pct(s.blockRate), pct(s.reviewRate), pct(s.escalationRate), money(s.moneyBlocked), pct(s.precision), pct(s.recall)];
      }),
      'compact',
    ),
    r.cohorts.length ? table(['cohort (UTC day)', 'transactions', 'labelled', 'maturity'], r.cohorts.map((c) => [new Date(c.day).toISOString().slice(0, 10), String(c.transactions), String(c.labelled), pct(c.maturity)]), 'compact') : '',
  );
}

/** The panel; `versions()` gives the folder names the select offers. */
export function shadowPanel(versions: () => string[]): { el: HTMLElement; reload: () => void; stop: () => void } {
  const select = h('select', { id: 'shadow-version' });
  const useModelThresholds = h('input', { type: 'checkbox', id: 'shadow-model-thresholds' });
  const start = h('button', { type: 'button', id: 'shadow-start', class: 'primary' }, 'Start shadow');
  const stopBtn = h('button', { type: 'button', id: 'shadow-stop' }, 'Stop shadow');
  const status = h('p', { id: 'shadow-status', role: 'status' });
  const body = h('div', { id: 'shadow-body' }, h('p', { class: 'muted' }, 'Loading…'));
  const el = h(
    'div',
    { id: 'shadow' },
    h('p', { class: 'muted' }, 'The challenger is scored on every transaction detect sees, after the champion decided; it never acts. Its would-be decisions are stored apart.'),
    h('div', { class: 'field-inline' }, select, ' ', h('label', {}, useModelThresholds, ' with its own thresholds'), ' ', start, ' ', stopBtn),
    status,
    body,
  );
  const fail = (err: unknown) => {
    status.textContent = err instanceof ApiError ? err.message : String(err);
    status.className = 'error';
  };
  const reload = () => {
    const current = select.value;
    select.replaceChildren(...versions().map((v) => h('option', { value: v }, v)));
    if (current && versions().includes(current)) select.value = current;
    api<{ report: ShadowReportView | null }>('GET', '/api/models/shadow')
      .then((r) => {
        stopBtn.disabled = !r.report?.active;
        body.replaceChildren(r.report ? reportView(r.report) : h('p', { class: 'muted', id: 'shadow-none' }, 'No shadow challenger yet: pick a version and start one.'));
      })
      .catch(fail);
  };
  start.addEventListener('click', () => {
    const version = select.value;
    if (!version) return;
    api<{ run: { model: string } }>('POST', '/api/models/shadow/start', { version, thresholds: useModelThresholds.checked ? 'model' : 'policy' })
      .then((r) => {
        status.textContent = `Shadowing ${r.run.model}: the detect stages pick it up within seconds.`;
        status.className = 'ok';
        reload();
      })
      .catch(fail);
  });
  stopBtn.addEventListener('click', () => {
    api<{ run: { model: string } }>('POST', '/api/models/shadow/stop', {})
      .then((r) => {
        status.textContent = `Stopped shadowing ${r.run.model}; its report stays below.`;
        status.className = 'ok';
        reload();
      })
      .catch(fail);
  });
  const timer = setInterval(reload, 5_000);
  return { el, reload, stop: () => clearInterval(timer) };
}
