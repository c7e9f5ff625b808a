import { api, ApiError } from './api.ts';
import { h, pre, section } from './dom.ts';

interface ReplayStatus {
  available: boolean;
  running: boolean;
  rate: number;
  startedBy: string | null;
  stats: unknown;
  reason?: string;
}

const SCENARIOS = ['card_testing', 'account_takeover', 'impossible_travel', 'merchant_compromise', 'bust_out'];

export function replayView(root: HTMLElement): () => void {
  const state = h('p', { id: 'replay-state' });
  const stats = h('div', {});
  const msg = h('p', { role: 'status' });
  const rate = h('input', { type: 'number', id: 'replay-rate', min: 1, max: 100000, value: 50 });
  const scenario = h('input', { id: 'replay-scenario', list: 'scenarios', value: SCENARIOS[0] });
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
      h('div', { class: 'filters' }, h('label', {}, 'scenario ', scenario), h('datalist', { id: 'scenarios' }, ...SCENARIOS.map((s) => h('option', { value: s }))), h('label', {}, 'transactions ', count), inject),
      msg,
      stats,
    ),
  );
  const render = (s: ReplayStatus) => {
    state.textContent = s.available ? (s.running ? `Running at ${s.rate} events/s (started by ${s.startedBy ?? '?'})` : 'Stopped') : `Unavailable: ${s.reason ?? 'no simulator'}`;
    for (const b of [start, stop, speed, inject]) b.disabled = !s.available;
    stats.replaceChildren(s.stats ? pre(s.stats) : h('span', {}));
  };
  const send = (body: Record<string, unknown>) =>
    api<ReplayStatus>('POST', '/api/replay', body)
      .then((s) => {
        msg.textContent = 'Done.';
        msg.className = 'ok';
        render(s);
      })
      .catch((err: unknown) => {
        msg.textContent = err instanceof ApiError ? err.message : String(err);
        msg.className = 'error';
      });
  start.addEventListener('click', () => void send({ action: 'start', rate: Number(rate.value) }));
  stop.addEventListener('click', () => void send({ action: 'stop' }));
  speed.addEventListener('click', () => void send({ action: 'speed', rate: Number(rate.value) }));
  inject.addEventListener('click', () => void send({ action: 'inject', scenario: scenario.value, count: Number(count.value) }));
  const refresh = () => void api<ReplayStatus>('GET', '/api/replay').then(render);
  refresh();
  const timer = setInterval(refresh, 2000);
  return () => clearInterval(timer);
}
