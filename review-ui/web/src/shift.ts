/** Shift view: per analyst, decided per hour, median time to decision, agreement with later chargebacks; the SLA clock per open case. */
import { api, ApiError } from './api.ts';
import { h, money, section, table } from './dom.ts';
import { slaText } from './queue.ts';

interface AnalystShift {
  analyst: string;
  decided: number;
  perHour: number;
  confirmedFraud: number;
  approved: number;
  medianToDecisionMs: number | null;
  medianHandlingMs: number | null;
  labelled: number;
  agreed: number;
  agreement: number | null;
  hourly: number[];
}
interface OpenClock {
  caseId: string;
  createdAt: number;
  cardId: string;
  merchantName: string;
  amountMinor: number;
  currency: string;
  holder: string | null;
  leftMinutes: number;
  overdue: boolean;
}
interface ShiftResponse {
  hours: number;
  analysts: AnalystShift[];
  slaMinutes: number;
  open: OpenClock[];
  overdue: number;
  now: number;
}

const minutes = (ms: number | null): string => (ms === null ? '—' : ms < 60_000 ? `${(ms / 1000).toFixed(0)} s` : `${(ms / 60_000).toFixed(1)} min`);

export function shiftView(root: HTMLElement): () => void {
  const hours = h('select', { id: 'shift-hours' }, ...[1, 4, 8, 12, 24].map((n) => h('option', { value: n, selected: n === 8 }, `last ${n} h`)));
  const analysts = h('div', { id: 'shift-analysts' }, h('p', { class: 'muted' }, 'Loading…'));
  const clocks = h('div', { id: 'shift-sla' });
  const status = h('p', { class: 'muted', id: 'shift-status' });
  root.append(
    section('Shift', h('div', { class: 'filters' }, hours), status, analysts, h('p', { class: 'muted' }, 'Time to decision: from the case opening to its verdict; handling: from the analyst’s claim to the verdict. Agreement: of the decided cases whose chargeback label came back, how many the verdict matched.')),
    section('Open cases against the SLA', clocks),
  );
  let skew = 0;
  let data: ShiftResponse | undefined;
  const renderClocks = () => {
    if (!data) return;
    const d = data;
    clocks.replaceChildren(
      d.open.length
        ? table(
            ['case', 'SLA', 'held by', 'card', 'merchant', 'amount'],
            d.open.map((c) => {
              const cell = h('span', { class: 'sla' });
              slaText(cell, c.createdAt, Date.now() + skew, d.slaMinutes);
              return [h('a', { href: `#/case/${encodeURIComponent(c.caseId)}`, class: 'mono' }, c.caseId), cell, c.holder ?? '', h('span', { class: 'mono' }, c.cardId), h('span', { class: 'merchant' }, c.merchantName), money(c.amountMinor, c.currency)];
            }),
            'compact sla-table',
          )
        : h('p', { class: 'muted' }, 'No open case.'),
    );
  };
  const load = async () => {
    try {
      const r = await api<ShiftResponse>('GET', `/api/shift?hours=${hours.value}`);
      data = r;
      skew = r.now - Date.now();
      status.textContent = `${r.analysts.reduce((a, x) => a + x.decided, 0)} decided in the last ${r.hours} h · ${r.open.length} open, ${r.overdue} past the ${r.slaMinutes}-minute SLA`;
      analysts.replaceChildren(
        r.analysts.length
          ? table(
              ['analyst', 'decided', 'per hour', 'fraud / approved', 'median to decision', 'median handling', 'agreement with chargebacks', 'per hour (oldest first)'],
              r.analysts.map((a) => [
                a.analyst, String(a.decided), a.perHour.toFixed(1), `${a.confirmedFraud} / ${a.approved}`, minutes(a.medianToDecisionMs), minutes(a.medianHandlingMs),
                a.agreement === null ? 'no chargeback back yet' : `${(100 * a.agreement).toFixed(0)}% (${a.agreed} of ${a.labelled})`, a.hourly.join(' '),
              ]),
              'compact shift-table',
            )
          : h('p', { class: 'muted' }, 'No case decided in this window.'),
      );
      renderClocks();
    } catch (err) {
      status.textContent = err instanceof ApiError ? err.message : String(err);
    }
  };
  hours.addEventListener('change', () => void load());
  void load();
  const refresh = setInterval(() => void load(), 30_000);
  const tick = setInterval(renderClocks, 5_000);
  return () => {
    clearInterval(refresh);
    clearInterval(tick);
  };
}
