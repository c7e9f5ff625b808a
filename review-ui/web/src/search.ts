/** Search: decisions and cases in the console's bounded index, in the Live page's row format, with a CSV download. */
import { api, ApiError, type LiveDecision } from './api.ts';
import { dateTime, h, section } from './dom.ts';
import { STREAM_HEADINGS, decisionRow } from './decision-row.ts';

type SearchRow = LiveDecision & { caseId?: string; caseStatus?: string };
interface SearchResponse {
  rows: SearchRow[];
  scanned: number;
  complete: boolean;
  via: string;
  indexed: number;
  bound: { maxRows: number; days: number };
}

const FIELDS = ['card', 'merchant', 'txId', 'action', 'from', 'to'] as const;

export function searchView(root: HTMLElement): void {
  const inputs = {
    card: h('input', { id: 'search-card', name: 'card', placeholder: 'card id', maxlength: 128 }),
    merchant: h('input', { id: 'search-merchant', name: 'merchant', placeholder: 'merchant id or part of its name', maxlength: 200 }),
    txId: h('input', { id: 'search-tx', name: 'txId', placeholder: 'tx id', maxlength: 128 }),
    action: h('select', { id: 'search-action', name: 'action' }, h('option', { value: '' }, 'any action'), ...['BLOCK', 'REVIEW', 'ALLOW'].map((a) => h('option', { value: a }, a))),
    from: h('input', { id: 'search-from', name: 'from', type: 'datetime-local', step: 1 }),
    to: h('input', { id: 'search-to', name: 'to', type: 'datetime-local', step: 1 }),
  };
  const submit = h('button', { id: 'search-btn', type: 'submit' }, 'Search');
  const csv = h('a', { id: 'search-csv', class: 'button ghost', hidden: true }, 'Download CSV');
  const status = h('p', { id: 'search-status', class: 'muted', role: 'status' });
  const tbody = h('tbody', { id: 'search-results' });
  const form = h(
    'form',
    { id: 'search-form', class: 'filters' },
    ...FIELDS.map((f) => h('label', {}, `${f} `, inputs[f])),
    submit,
    csv,
  );
  root.append(
    section(
      'Search decisions and cases',
      h('p', { class: 'muted' }, 'Card, tx id and merchant id are exact; a merchant name matches in part. Times are your local time.'),
      form,
      status,
      h('table', { class: 'stream' }, h('thead', {}, h('tr', {}, ...[...STREAM_HEADINGS, 'case'].map((x) => h('th', {}, x)))), tbody),
    ),
  );

  const query = (): URLSearchParams => {
    const q = new URLSearchParams();
    for (const f of FIELDS) {
      const el = inputs[f];
      if (!el.value) continue;
      // datetime-local is the browser's local time; the API takes epoch ms (or ISO).
      q.set(f, f === 'from' || f === 'to' ? String(new Date(el.value).getTime()) : el.value.trim());
    }
    return q;
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void run();
  });

  const run = async () => {
    const q = query();
    submit.disabled = true;
    status.className = 'muted';
    status.textContent = 'Searching…';
    try {
      const r = await api<SearchResponse>('GET', `/api/search?${q.toString()}`);
      tbody.replaceChildren(
        ...r.rows.map((d) => {
          const { tr } = decisionRow(d, d.scenario ?? '', dateTime);
          tr.append(h('td', {}, d.caseId ? h('a', { href: `#/case/${encodeURIComponent(d.caseId)}`, class: 'case-link' }, d.caseStatus === 'open' ? 'open case' : 'case') : ''));
          return tr;
        }),
      );
      if (r.rows.length === 0) tbody.append(h('tr', {}, h('td', { colspan: STREAM_HEADINGS.length + 1, class: 'muted' }, 'Nothing found.')));
      status.textContent = `${r.rows.length} found (${r.scanned} read by ${r.via}${r.complete ? '' : '; stopped reading: narrow the search by card, merchant or time'}). The index keeps the last ${r.bound.days} days or ${r.bound.maxRows.toLocaleString()} decisions, whichever is less (${r.indexed.toLocaleString()} now).`;
      q.set('format', 'csv');
      csv.setAttribute('href', `/api/search?${q.toString()}`);
      csv.setAttribute('download', 'fraudstream-search.csv');
      csv.hidden = r.rows.length === 0;
    } catch (err) {
      status.className = 'error';
      status.textContent = err instanceof ApiError ? err.message : String(err);
      csv.hidden = true;
    } finally {
      submit.disabled = false;
    }
  };
}
