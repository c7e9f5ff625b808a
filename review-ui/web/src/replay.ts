import { api, ApiError } from './api.ts';
import { bar, h, kv, pre, section, table } from './dom.ts';

interface ReplayStatus {
  available: boolean;
  running: boolean;
  rate: number;
  startedBy: string | null;
  stats: unknown;
  scenarios: string[];
  reason?: string;
  breaches?: BreachFollowUp[];
}

interface BreachFollowUp {
  merchantId: string;
  injectedAt: number;
  days: Array<{ day: number; decided: number; allowed: number; reviewed: number; blocked: number; byLabelRisk: number }>;
}

interface SimBreach {
  merchantId: string;
  scheduled: number;
  sent: number;
}

/**
 * An injected merchant breach, day by day since the injection (simulated days): how its fraud was decided, and how
 * often the merchant's label risk (learned from chargebacks that had arrived) was among the reasons.
 */
function breachView(f: BreachFollowUp, sim: SimBreach | undefined): HTMLElement {
  const total = f.days.reduce((a, d) => a + d.decided, 0);
  const caught = f.days.reduce((a, d) => a + d.reviewed + d.blocked, 0);
  const pct = (x: number, n: number) => (n ? `${((100 * x) / n).toFixed(0)}%` : '—');
  return h(
    'div',
    { class: 'breach', 'data-merchant': f.merchantId },
    h('h3', {}, 'Breached merchant ', h('code', {}, f.merchantId)),
    h(
      'p',
      { class: 'muted' },
      `${sim ? `${sim.sent} of ${sim.scheduled} fraud transactions sent; ` : ''}${total} decided, ${caught} caught (${pct(caught, total)}). ` +
        'Early on no chargeback has arrived and the merchant looks clean; as they arrive its label risk rises and its fraud starts to be caught.',
    ),
    table(
      ['day', 'decided', 'allowed', 'reviewed', 'blocked', 'caught', '', 'label risk among the reasons'],
      f.days.map((d) => [String(d.day), String(d.decided), String(d.allowed), String(d.reviewed), String(d.blocked), pct(d.reviewed + d.blocked, d.decided), bar(d.decided ? (d.reviewed + d.blocked) / d.decided : 0, 'block'), String(d.byLabelRisk)]),
      'breach-days',
    ),
  );
}

interface SimStats {
  sent?: number;
  rate?: number;
  targetRate?: number;
  byScenario?: Record<string, number>;
  labelsSent?: number;
  labelsPending?: number;
  error?: string;
}

export function replayView(root: HTMLElement): () => void {
  const state = h('p', { id: 'replay-state' });
  const stats = h('div', {});
  const breaches = h('div', { id: 'replay-breaches' });
  const msg = h('p', { role: 'status', id: 'replay-msg' });
  const rate = h('input', { type: 'number', id: 'replay-rate', min: 1, max: 100000, value: 50 });
  const scenario = h('select', { id: 'replay-scenario' });
  const count = h('input', { type: 'number', id: 'replay-count', min: 1, max: 100000, value: 20 });
  const btn = (label: string, id: string) => h('button', { type: 'button', id }, label);
  const start = btn('Start', 'replay-start');
  const stop = btn('Stop', 'replay-stop');
  const speed = btn('Set speed', 'replay-speed');
  const inject = btn('Inject attack', 'replay-inject');
  root.append(
    section(
      'Replay',
      h('p', { class: 'muted' }, 'Drives the simulated transaction stream; its decisions appear on the Live page.'),
      state,
      h('div', { class: 'filters' }, h('label', {}, 'events/s ', rate), start, speed, stop),
      h('div', { class: 'filters' }, h('label', {}, 'scenario ', scenario), h('label', {}, 'attacks ', count), inject),
      msg,
      breaches,
      stats,
    ),
  );
  const render = (s: ReplayStatus) => {
    state.textContent = s.available ? (s.running ? `Running at ${s.rate} events/s (started by ${s.startedBy ?? '?'})` : 'Stopped') : `Unavailable: ${s.reason ?? 'no simulator'}`;
    for (const b of [start, stop, speed, inject]) b.disabled = !s.available;
    if (scenario.options.length === 0) scenario.append(...s.scenarios.map((name) => h('option', { value: name }, name.replace(/_/g, ' '))));
    const st = (s.stats ?? null) as SimStats | null;
    const simBreaches = ((st as { breaches?: SimBreach[] } | null)?.breaches ?? []) as SimBreach[];
    const followed = s.breaches ?? [];
    const merchants = [...new Set([...simBreaches.map((b) => b.merchantId), ...followed.map((b) => b.merchantId)])];
    breaches.replaceChildren(
      ...merchants.map((m) => breachView(followed.find((b) => b.merchantId === m) ?? { merchantId: m, injectedAt: 0, days: [] }, simBreaches.find((b) => b.merchantId === m))),
    );
    stats.replaceChildren(
      st
        ? h(
            'div',
            {},
            kv([
              ['sent', String(st.sent ?? '—')],
              ['measured rate', st.rate === undefined ? '—' : `${st.rate.toFixed(1)} / s (target ${String(st.targetRate ?? '—')})`],
              ['labels sent / pending', `${String(st.labelsSent ?? '—')} / ${String(st.labelsPending ?? '—')}`],
              ['fraud by scenario', Object.entries(st.byScenario ?? {}).map(([k, v]) => `${k} ${v}`).join(' · ') || '—'],
              ...(st.error ? ([['error', h('span', { class: 'error' }, st.error)]] as Array<[string, HTMLElement]>) : []),
            ]),
            h('details', {}, h('summary', {}, 'raw'), pre(st)),
          )
        : h('span', {}),
    );
  };
  const send = (body: Record<string, unknown>) => {
    msg.textContent = 'Sending…';
    msg.className = 'muted';
    return api<ReplayStatus>('POST', '/api/replay', body)
      .then((s) => {
        msg.textContent = 'Done.';
        msg.className = 'ok';
        render(s);
      })
      .catch((err: unknown) => {
        msg.textContent = err instanceof ApiError ? err.message : String(err);
        msg.className = 'error';
      });
  };
  start.addEventListener('click', () => void send({ action: 'start', rate: Number(rate.value) }));
  stop.addEventListener('click', () => void send({ action: 'stop' }));
  speed.addEventListener('click', () => void send({ action: 'speed', rate: Number(rate.value) }));
  inject.addEventListener('click', () => void send({ action: 'inject', scenario: scenario.value, count: Number(count.value) }));
  const refresh = () => void api<ReplayStatus>('GET', '/api/replay').then(render);
  refresh();
  const timer = setInterval(refresh, 2000);
  return () => clearInterval(timer);
}
