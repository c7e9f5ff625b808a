/** Evidence per rule and list: hits, precision against labels, money caught; rules that only ever hit legitimate transactions stand out. */
import { api, type RuleStatsView } from './api.ts';
import { h, money, num, section, table } from './dom.ts';

export function evidenceView(root: HTMLElement): () => void {
  const summary = h('p', { class: 'muted', id: 'evidence-summary' });
  const box = h('div', { id: 'evidence' });
  const load = () => {
    void api<{ rules: RuleStatsView[]; transactions: number; labelled: number }>('GET', '/api/rules/stats').then((s) => {
      summary.textContent = `${s.transactions} transactions counted by the ops service, ${s.labelled} of them labelled (chargebacks and closed cases).`;
      box.replaceChildren(
        s.rules.length
          ? table(
              ['rule / list', 'kind', 'hits', 'labelled', 'fraud', 'precision', 'money caught', ''],
              s.rules.map((r) => [
                h('code', {}, r.rule),
                r.kind,
                r.hits,
                r.labelled,
                r.fraud,
                num(r.precision, 2),
                r.currency ? money(r.moneyCaught, r.currency) : '—',
                r.onlyFalsePositives ? h('span', { class: 'error only-fp', title: 'every labelled hit was legitimate' }, 'only false positives') : '',
              ]),
              'compact evidence-table',
            )
          : h('p', { class: 'muted' }, 'No rule has fired yet.'),
      );
    });
  };
  root.append(section('Rules and lists', summary, box));
  load();
  const timer = setInterval(load, 5_000);
  return () => clearInterval(timer);
}
