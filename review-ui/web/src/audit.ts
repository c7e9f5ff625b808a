import { api, type AuditEntry } from './api.ts';
import { dateTime, h, pre, section, table } from './dom.ts';

export function auditView(root: HTMLElement): void {
  const filter = h('input', { id: 'audit-filter', placeholder: 'target, e.g. policy or case:ID' });
  const box = h('div', { id: 'audit' });
  const load = () => {
    const q = filter.value.trim();
    void api<{ entries: Array<AuditEntry & { redacted?: string }> }>('GET', `/api/audit?limit=300${q ? `&target=${encodeURIComponent(q)}` : ''}`).then(({ entries }) => {
      box.replaceChildren(
        entries.length
          ? table(['when', 'who', 'action', 'target', 'before', 'after'], entries.map((e) => [dateTime(e.at), e.who, e.action, e.target, e.before === undefined ? '' : pre(e.before), e.after === undefined ? (e.redacted ?? '') : e.redacted ? h('span', {}, pre(e.after), h('small', { class: 'muted' }, e.redacted)) : pre(e.after)]), 'compact audit-table')
          : h('p', { class: 'muted' }, 'No entries.'),
      );
    });
  };
  filter.addEventListener('change', load);
  root.append(section('Audit log', h('p', { class: 'muted' }, 'Every review action: who, when, what, before and after. Newest first.'), h('div', { class: 'filters' }, filter), box));
  load();
}
