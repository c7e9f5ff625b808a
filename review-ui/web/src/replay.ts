import { api, ApiError } from './api.ts';
import { h, kv, pre, section } from './dom.ts';

interface ReplayStatus {
  available: boolean;
  running: boolean;
  rate: number;
  startedBy: string | null;
  stats: unknown;
  scenarios: string[];
  reason?: string;
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
      h('div', { class: 'filters' }, h('label', {}, 'scenario ', scenario), h('label', {}, 'transactions ', count), inject),
      msg,
      stats,
    ),
  );
  const render = (s: ReplayStatus) => {
    state.textContent = s.available ? (s.running ? `Running at ${s.rate} events/s (started by ${s.startedBy ?? '?'})` : 'Stopped') : `Unavailable: ${s.reason ?? 'no simulator'}`;
    for (const b of [start, stop, speed, inject]) b.disabled = !s.available;
    if (scenario.options.length === 0) scenario.append(...s.scenarios.map((name) => h('option', { value: name }, name.replace(/_/g, ' '))));
    const st = (s.stats ?? null) as SimStats | null;
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
