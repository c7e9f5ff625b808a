/** The guard rail on the Live page: what it is watching and what it rolled back. */
import type { GuardStatus } from './api.ts';
import { dateTime, h, section, table } from './dom.ts';

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;

export function guardPanel(): { el: HTMLElement; update(s: GuardStatus): void } {
  const rule = h('p', { class: 'muted', id: 'guard-rule' });
  const watching = h('p', { id: 'guard-watching' });
  const rollbacks = h('div', { id: 'guard-rollbacks' });
  const el = section('Guard rail', rule, watching, rollbacks);
  return {
    el,
    update(s) {
      rule.textContent = `A policy or model change is rolled back when, within ${s.rail.windowMinutes} minutes and after ${s.rail.minDecisions} decisions, it blocks more than ${s.rail.maxBlockRateFactor}x the previous rate.`;
      const w = s.watching;
      watching.textContent = w ? `Watching policy v${w.version} (previous v${w.previousVersion}, changed ${dateTime(w.changedAt)}): ${w.decisions} decisions, block rate ${pct(w.currentRate)} against ${pct(w.previousRate)} before; ${w.reason}.` : 'No change being watched.';
      el.classList.toggle('alert', s.rollbacks.length > 0);
      rollbacks.replaceChildren(
        s.rollbacks.length
          ? table(['when', 'rolled back', 'restored', 'as', 'why'], s.rollbacks.map((r) => [dateTime(r.at), `v${r.fromVersion}`, `v${r.toVersion}`, `v${r.newVersion}`, r.reason]), 'compact')
          : '',
      );
    },
  };
}
