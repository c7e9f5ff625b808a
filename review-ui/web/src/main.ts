import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, loadSession, role, user } from './api.ts';
import { connect, on } from './bus.ts';
import { clear, h } from './dom.ts';
import { liveView } from './live.ts';
import { queueView, caseView } from './queue.ts';
import { searchView } from './search.ts';
import { shiftView } from './shift.ts';
import { policyView } from './policy.ts';
import { modelsView } from './models.ts';
import { compareView } from './compare.ts';
import { replayView } from './replay.ts';
import { auditView } from './audit.ts';
import { deadLettersView } from './dead-letters.ts';
import { evidenceView } from './evidence.ts';

export type View = (root: HTMLElement, params: string[]) => (() => void) | void;

// admin: pages whose API only admins may use (review-ui/server/app.ts ADMIN_PATHS); hidden from analysts.
const routes: Array<{ path: string; label?: string; view: View; admin?: boolean }> = [
  { path: 'live', label: 'Live', view: liveView },
  { path: 'queue', label: 'Review queue', view: queueView },
  { path: 'case', view: caseView },
  { path: 'search', label: 'Search', view: searchView },
  { path: 'shift', label: 'Shift', view: shiftView },
  { path: 'policy', label: 'Policy', view: policyView, admin: true },
  { path: 'models', label: 'Models', view: modelsView, admin: true },
  { path: 'compare', view: compareView, admin: true },
  { path: 'replay', label: 'Replay', view: replayView, admin: true },
  { path: 'evidence', label: 'Evidence', view: evidenceView },
  { path: 'dead-letters', label: 'Dead letters', view: deadLettersView },
  { path: 'audit', label: 'Audit log', view: auditView },
];

const view = document.getElementById('view') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
let cleanup: (() => void) | void;
const queueBadge = h('span', { class: 'count', id: 'queue-count' }, '0');

function render(): void {
  const [path = 'live', ...params] = window.location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const route = routes.find((r) => r.path === path && (role === 'admin' || !r.admin)) ?? (routes[0] as (typeof routes)[number]);
  if (cleanup) cleanup();
  clear(view);
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.path === (route.path === 'case' ? 'queue' : route.path === 'compare' ? 'models' : route.path));
  cleanup = route.view(view, params);
}

async function boot(): Promise<void> {
  await loadSession();
  (document.getElementById('who') as HTMLElement).textContent = user;
  for (const r of routes.filter((x) => x.label && (role === 'admin' || !x.admin))) {
    const a = h('a', { href: `#/${r.path}`, 'data-path': r.path }, r.label as string);
    if (r.path === 'queue') a.append(' ', queueBadge);
    nav.append(a);
  }
  (document.getElementById('logout') as HTMLButtonElement).addEventListener('click', () => {
    void api('POST', '/api/logout', {}).finally(() => window.location.assign('/login'));
  });
  const conn = document.getElementById('conn') as HTMLElement;
  on('conn', (up) => {
    conn.textContent = up ? 'live' : 'reconnecting…';
    conn.classList.toggle('up', up);
  });
  on('stats', (s) => {
    queueBadge.textContent = String(s.openCases);
    queueBadge.classList.toggle('hot', s.openCases > 0);
  });
  connect();
  window.addEventListener('hashchange', render);
  render();
}

void boot();
