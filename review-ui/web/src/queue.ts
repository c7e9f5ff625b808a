import { historyText } from './decision-row.ts';
import { api, ApiError, role, type Case, type CaseDetail, type ClaimView } from './api.ts';
import { on } from './bus.ts';
import { ago, badge, bar, dateTime, h, kv, money, num, pre, section, table, time } from './dom.ts';
import { lossText } from './expected-loss.ts';
import { amountText } from './format.ts';
import { scoreColumns } from '../../../core/model-registry.ts';
import { baselinePanel, contributionsPanel } from './baseline.ts';

let lastQueue: string[] = [];

const SCORE_COLUMNS = scoreColumns();

function scoreCells(c: Case): HTMLElement[] {
  return SCORE_COLUMNS.map((col) => h('td', { class: 'num' }, num((c.scores as Partial<Record<string, number>>)[col.id], 2)));
}

/** The SLA clock of an open case: minutes left, or how long overdue (red). */
export function slaText(cell: HTMLElement, createdAt: number, now: number, slaMinutes: number): void {
  const left = slaMinutes - Math.max(0, now - createdAt) / 60_000;
  cell.textContent = left >= 0 ? `${Math.floor(left)} min left` : `overdue ${Math.ceil(-left)} min`;
  cell.classList.toggle('hot-text', left < 0);
  cell.title = `review SLA ${slaMinutes} min (policy review.slaMinutes)`;
}

interface MerchantGroup {
  merchantId: string;
  merchantName: string;
  /** Expected loss at stake per currency (a merchant's cases are charged in their cards' currencies: never summed across). */
  stake: Map<string, number>;
  cases: Case[];
}

/** Open cases by merchant: the merchants with most cases first, then most at stake (when in one currency), each group in queue order (a breach reads as one thing). */
function groupByMerchant(cases: Case[]): MerchantGroup[] {
  const groups = new Map<string, MerchantGroup>();
  for (const c of cases) {
    const g = groups.get(c.tx.merchantId) ?? { merchantId: c.tx.merchantId, merchantName: c.tx.merchantName, stake: new Map<string, number>(), cases: [] };
    g.cases.push(c);
    g.stake.set(c.tx.currency, (g.stake.get(c.tx.currency) ?? 0) + (c.expectedLoss ?? 0));
    groups.set(c.tx.merchantId, g);
  }
  const onlyStake = (g: MerchantGroup): [string, number] | undefined => (g.stake.size === 1 ? [...g.stake][0] : undefined);
  const byStake = (a: MerchantGroup, b: MerchantGroup): number => {
    const [x, y] = [onlyStake(a), onlyStake(b)];
    return x && y && x[0] === y[0] ? y[1] - x[1] : 0;
  };
  return [...groups.values()].sort((a, b) => b.cases.length - a.cases.length || byStake(a, b) || a.merchantId.localeCompare(b.merchantId));
}

/** "EUR 120.00 + GBP 35.00": the biggest first. */
const stakeText = (stake: Map<string, number>): string =>
  [...stake].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([currency, minor]) => amountText(minor, currency)).join(' + ');

export function queueView(root: HTMLElement): () => void {
  const tbody = h('tbody', { id: 'queue' });
  const closedBody = h('tbody', { id: 'closed' });
  const summary = h('p', { class: 'muted' });
  const nextBtn = h('button', { id: 'next-unclaimed', type: 'button' }, 'Next case ', h('kbd', {}, 'N'));
  const nextResult = h('span', { id: 'next-result', class: 'muted', role: 'status' });
  const groupBox = h('input', { type: 'checkbox', id: 'group-merchant' });
  groupBox.checked = localStorage.getItem('queue.groupByMerchant') === '1';
  root.append(
    section(
      'Open cases',
      h('div', { class: 'actions' }, nextBtn, ' ', h('label', {}, groupBox, ' group by merchant'), ' ', nextResult),
      summary,
      h('p', { class: 'muted' }, 'Unclaimed cases first, each part ordered by the stake (the expected loss a review can save), then by how long the case has waited. Opening a case claims it for you. "Next case" takes the most urgent unclaimed one. Enter or click opens a case; j / k move.'),
      h('table', { class: 'queue' }, h('thead', {}, h('tr', {}, ...['risk', 'at stake', 'waiting', 'SLA', 'held by', 'card', 'merchant', 'amount', 'country', ...SCORE_COLUMNS.map((col) => col.heading), 'rules'].map((x) => h('th', {}, x)))), tbody),
    ),
    section('Recently closed', h('table', {}, h('thead', {}, h('tr', {}, ...['closed', 'verdict', 'by', 'card', 'merchant', 'amount', 'note'].map((x) => h('th', {}, x)))), closedBody)),
  );
  let cases: Case[] = [];
  let serverSkew = 0;
  let selected = 0;
  const waitCells: Array<[HTMLElement, number, HTMLElement]> = [];
  let slaMinutes = 60;

  const open = (c: Case) => window.location.assign(`#/case/${encodeURIComponent(c.caseId)}`);
  const takeNext = async () => {
    nextBtn.disabled = true;
    try {
      const r = await api<{ caseId: string }>('POST', '/api/cases/next', {});
      window.location.assign(`#/case/${encodeURIComponent(r.caseId)}`);
    } catch (err) {
      nextResult.textContent = err instanceof ApiError ? err.message : String(err);
    } finally {
      nextBtn.disabled = false;
    }
  };
  nextBtn.addEventListener('click', () => void takeNext());
  groupBox.addEventListener('change', () => {
    localStorage.setItem('queue.groupByMerchant', groupBox.checked ? '1' : '0');
    void load();
  });
  const select = (i: number) => {
    selected = Math.max(0, Math.min(cases.length - 1, i));
    tbody.querySelectorAll('tr.case-row').forEach((tr, j) => tr.classList.toggle('selected', j === selected));
  };

  const load = async () => {
    const r = await api<{ open: Case[]; openCount: number; claims: Record<string, ClaimView>; closed: Case[]; now: number; me: string; slaMinutes: number }>('GET', '/api/cases?limit=200');
    serverSkew = r.now - Date.now();
    slaMinutes = r.slaMinutes;
    const groups = groupByMerchant(r.open);
    cases = groupBox.checked ? groups.flatMap((g) => g.cases) : r.open;
    lastQueue = cases.map((c) => c.caseId);
    summary.textContent = `${r.openCount} open${r.openCount > r.open.length ? ` (showing the first ${r.open.length})` : ''}`;
    waitCells.length = 0;
    const rowOf = (c: Case): HTMLTableRowElement => {
        const wait = h('td', { class: 'num' }, ago(c.createdAt, Date.now() + serverSkew));
        const sla = h('td', { class: 'num sla' });
        slaText(sla, c.createdAt, Date.now() + serverSkew, slaMinutes);
        waitCells.push([wait, c.createdAt, sla]);
        const claim = r.claims[c.caseId];
        const tr = h(
          'tr',
          { class: `case-row${claim ? ' claimed' : ''}`, 'data-case': c.caseId, 'data-holder': claim?.holder ?? '', tabindex: 0 },
          h('td', {}, h('span', { class: 'risk' }, bar(c.risk, c.risk >= 0.7 ? 'hot' : ''), ` ${num(c.risk, 2)}`)),
          h('td', { class: 'num stake', title: c.loss ? lossText(c.loss, c.tx.currency) : '' }, c.expectedLoss === undefined ? '—' : amountText(c.expectedLoss, c.tx.currency)),
          wait,
          sla,
          h('td', { class: 'holder' }, claim ? (claim.holder === r.me ? 'you' : claim.holder) : ''),
          h('td', { class: 'mono' }, c.cardId),
          h('td', { class: 'merchant' }, c.tx.merchantName),
          h('td', { class: 'num' }, money(c.tx.amountMinor, c.tx.currency)),
          h('td', {}, c.tx.country),
          ...scoreCells(c),
          h('td', {}, c.rulesFired.map((r) => r.id).join(', ')),
        );
        tr.addEventListener('click', () => open(c));
        return tr;
    };
    if (groupBox.checked) {
      tbody.replaceChildren(
        ...groups.flatMap((g) => [
          h('tr', { class: 'group-head', 'data-merchant': g.merchantId }, h('td', { colspan: 13 }, h('strong', { class: 'merchant' }, g.merchantName), ` · ${g.merchantId} · ${g.cases.length} case${g.cases.length === 1 ? '' : 's'} · at stake ${stakeText(g.stake)}`)),
          ...g.cases.map(rowOf),
        ]),
      );
    } else tbody.replaceChildren(...cases.map(rowOf));
    if (cases.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 13, class: 'muted' }, 'The queue is empty.')));
    select(selected);
    closedBody.replaceChildren(
      ...r.closed.map((c) =>
        h(
          'tr',
          {},
          h('td', {}, c.closedAt ? time(c.closedAt) : ''),
          h('td', {}, badge(c.status === 'confirmed_fraud' ? 'BLOCK' : 'ALLOW'), ` ${c.status.replace('_', ' ')}`),
          h('td', {}, c.closedBy ?? ''),
          h('td', { class: 'mono' }, c.cardId),
          h('td', { class: 'merchant' }, c.tx.merchantName),
          h('td', { class: 'num' }, money(c.tx.amountMinor, c.tx.currency)),
          h('td', {}, c.note ?? ''),
        ),
      ),
    );
  };

  const onKey = (e: KeyboardEvent) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
    if (e.key === 'j') select(selected + 1);
    else if (e.key === 'k') select(selected - 1);
    else if (e.key === 'Enter' && cases[selected]) open(cases[selected] as Case);
    else if (e.key === 'n' && !e.ctrlKey && !e.metaKey && !e.altKey) void takeNext();
  };
  document.addEventListener('keydown', onKey);
  const ticker = setInterval(() => {
    for (const [cell, created, sla] of waitCells) {
      cell.textContent = ago(created, Date.now() + serverSkew);
      slaText(sla, created, Date.now() + serverSkew, slaMinutes);
    }
  }, 1000);
  let pending: ReturnType<typeof setTimeout> | undefined;
  const reloadSoon = () => {
    pending ??= setTimeout(() => {
      pending = undefined;
      void load();
    }, 300);
  };
  const off = on('case', reloadSoon);
  const offStats = on('stats', (s) => {
    if (s.openCases !== cases.length && cases.length < 200) reloadSoon();
  });
  void load();
  return () => {
    document.removeEventListener('keydown', onKey);
    clearInterval(ticker);
    clearTimeout(pending);
    off();
    offStats();
  };
}

function normPanel(d: CaseDetail): HTMLElement {
  const { norm, case: c } = d;
  const flag = (b: boolean, yes: string, no: string) => h('span', { class: b ? 'flag hot' : 'flag' }, b ? yes : no);
  const features = Object.entries(c.features);
  const contributions = new Map(c.topFeatures.map((f) => [f.name, f.contribution]));
  return section(
    'Features beside the console’s recent view of the card',
    norm.n === 0
      ? h('p', { class: 'muted' }, 'No earlier transactions of this card seen by the console yet.')
      : table(
          ['', 'this transaction', 'card norm', ''],
          [
            ['amount', money(c.tx.amountMinor, c.tx.currency), norm.amountMean === null ? '—' : `${money(Math.round(norm.amountMean), c.tx.currency)} ± ${norm.amountStd === null ? '—' : money(Math.round(norm.amountStd), c.tx.currency)}`, norm.amountZ === null ? '' : h('span', { class: Math.abs(norm.amountZ) > 3 ? 'flag hot' : 'flag' }, `${norm.amountZ > 0 ? '+' : ''}${norm.amountZ.toFixed(1)} σ`)],
            ['country', c.tx.country, Object.entries(norm.countries).map(([k, v]) => `${k}×${v}`).join(' '), flag(norm.newCountry, 'new country', 'usual')],
            ['merchant', c.tx.merchantName, '', flag(norm.newMerchant, 'new merchant', 'seen before')],
            ['device', c.tx.deviceId ?? '—', '', flag(norm.newDevice, 'new device', 'known')],
            ['hour (UTC)', String(new Date(c.tx.ts).getUTCHours()), norm.usualHours.join(', '), flag(!norm.hourUsual, 'unusual hour', 'usual')],
          ],
          'compact',
        ),
    h('p', { class: 'muted' }, `From ${norm.n} earlier transactions of this card.`),
    h('h3', {}, 'Feature vector'),
    features.length
      ? table(
          ['feature', 'value', 'contribution'],
          features.map(([name, v]) => {
            const contrib = contributions.get(name);
            return [name, num(v, 3), contrib === undefined ? '' : h('span', { class: contrib > 0 ? 'hot-text' : 'cool-text' }, `${contrib > 0 ? '+' : ''}${num(contrib)}`)];
          }),
          'compact features',
        )
      : h('p', { class: 'muted' }, 'No features recorded.'),
  );
}

/** Linked cases with a checkbox per open one, and one verdict + note over the selected ones and this case. */
function linkedPanel(d: CaseDetail, note: HTMLTextAreaElement, result: HTMLElement, onDone: () => Promise<void>): HTMLElement {
  const c = d.case;
  const boxes = new Map<string, HTMLInputElement>();
  const all = h('input', { type: 'checkbox', id: 'linked-all', title: 'select every open linked case' });
  // A breach is worked merchant by merchant: its cases' cards also link cases at other merchants, which are not its.
  const atMerchant = h('input', { type: 'checkbox', id: 'linked-merchant', title: 'select every open case linked by this merchant' });
  const viaMerchant = new Set(d.linked.filter((l) => l.via.includes('merchant')).map((l) => l.caseId));
  const rows = d.linked.map((l) => {
    const box = h('input', { type: 'checkbox', class: 'linked-pick', 'data-case': l.caseId, 'data-via': l.via.join(' '), disabled: l.status !== 'open' });
    if (l.status === 'open') boxes.set(l.caseId, box);
    return [
      box,
      h('a', { href: `#/case/${encodeURIComponent(l.caseId)}`, class: 'mono' }, l.caseId),
      l.status.replace('_', ' ') + (l.closedBy ? ` by ${l.closedBy}` : ''),
      l.via.join(', '),
      h('span', { class: 'mono' }, l.cardId),
      h('span', { class: 'merchant' }, l.merchantName),
      money(l.amountMinor, l.currency),
      dateTime(l.ts),
    ];
  });
  all.addEventListener('change', () => {
    for (const b of boxes.values()) b.checked = all.checked;
    atMerchant.checked = all.checked && viaMerchant.size > 0;
  });
  atMerchant.addEventListener('change', () => {
    for (const [id, b] of boxes) b.checked = atMerchant.checked && viaMerchant.has(id);
    all.checked = false;
  });
  const send = async (verdict: 'approve' | 'confirm_fraud') => {
    const ids = [...(c.status === 'open' ? [c.caseId] : []), ...[...boxes].filter(([, b]) => b.checked).map(([id]) => id)];
    if (ids.length === 0) {
      result.textContent = 'Select at least one open case.';
      result.className = 'error';
      return;
    }
    result.className = '';
    result.textContent = `Sending ${ids.length}…`;
    try {
      const r = await api<{ decided: number; results: Array<{ caseId: string; outcome: string; holder?: string }>; published: boolean }>('POST', '/api/cases/bulk-verdict', { caseIds: ids, verdict, note: note.value });
      const skipped = r.results.filter((x) => x.outcome !== 'closed').map((x) => `${x.caseId} (${x.outcome === 'held' ? `held by ${x.holder ?? '?'}` : 'not open'})`);
      result.textContent = `${r.decided} case${r.decided === 1 ? '' : 's'} decided${r.published ? ', labels sent' : ', labels queued'}${skipped.length ? `; not decided: ${skipped.join(', ')}` : ''}.`;
      result.className = 'ok';
      await onDone();
    } catch (err) {
      result.textContent = err instanceof ApiError ? err.message : String(err);
      result.className = 'error';
    }
  };
  const approveAll = h('button', { id: 'bulk-approve', type: 'button', class: 'approve' }, 'Approve these together');
  const fraudAll = h('button', { id: 'bulk-fraud', type: 'button', class: 'fraud' }, 'Confirm fraud for these together');
  approveAll.addEventListener('click', () => void send('approve'));
  fraudAll.addEventListener('click', () => void send('confirm_fraud'));
  return section(
    'Linked cases',
    h('p', { class: 'muted' }, 'Cases sharing this card or device within 24 hours of this transaction, or its merchant within 30 days (a breach is worked for weeks). One verdict and the note above settle this case and the selected ones; each is audited and labelled on its own.'),
    d.linked.length
      ? h(
          'div',
          { id: 'linked' },
          table(['', 'case', 'status', 'shares', 'card', 'merchant', 'amount', 'when'], rows, 'compact'),
          h('label', {}, all, ' select every open one'),
          ' ',
          h('label', {}, atMerchant, ` select every open one at ${c.tx.merchantName}`),
          h('div', { class: 'actions' }, approveAll, fraudAll),
          result,
        )
      : h('p', { class: 'muted', id: 'linked' }, 'No linked cases.'),
  );
}

export function caseView(root: HTMLElement, params: string[]): () => void {
  const caseId = params[0] ?? '';
  const note = h('textarea', { id: 'note', rows: 3, maxlength: 2000, placeholder: 'Note for the audit log (what you checked, why)' });
  const approve = h('button', { id: 'approve', type: 'button', class: 'approve' }, 'Approve (legitimate) ', h('kbd', {}, 'A'));
  const fraud = h('button', { id: 'confirm-fraud', type: 'button', class: 'fraud' }, 'Confirm fraud ', h('kbd', {}, 'F'));
  const result = h('p', { id: 'verdict-result', role: 'status' });
  const claimStatus = h('p', { id: 'claim-status', role: 'status' });
  // Outlives the re-render that follows a bulk verdict, so its outcome stays on screen.
  const bulkResult = h('p', { id: 'bulk-result', role: 'status' });
  const releaseBtn = h('button', { id: 'release-claim', type: 'button', class: 'ghost', hidden: true }, 'Release the claim (admin)');
  const reclaimBtn = h('button', { id: 'reclaim', type: 'button', class: 'ghost', hidden: true }, 'Claim it again');
  const body = h('div', { class: 'case-body' }, h('p', { class: 'muted' }, 'Loading…'));
  root.append(body);
  let detail: CaseDetail | undefined;
  let busy = false;
  let holding = false;
  let gone = false;
  let renewTimer: ReturnType<typeof setTimeout> | undefined;

  /** Claims the case (or renews the claim) and says who holds it; renews itself while the page stays open. */
  const claim = async (): Promise<void> => {
    clearTimeout(renewTimer);
    if (gone || !detail || detail.case.status !== 'open') return;
    try {
      // The first call claims; the timer's calls only renew, so a release by an admin is not undone from here.
      const r = await api<{ outcome: string; claim: ClaimView; ttlMs: number }>('POST', `/api/cases/${encodeURIComponent(caseId)}/claim`, { renew: holding });
      if (gone) return;
      holding = true;
      claimStatus.textContent = `You hold this case until ${time(r.claim.expiresAt)} (renewed while this page is open).`;
      claimStatus.className = 'claim mine';
      releaseBtn.hidden = true;
      reclaimBtn.hidden = true;
      renewTimer = setTimeout(() => void claim(), Math.max(1_000, Math.floor(r.ttlMs / 3)));
    } catch (err) {
      if (gone) return;
      holding = false;
      const holder = err instanceof ApiError ? err.holder : undefined;
      claimStatus.textContent = holder ? `Held by ${holder}: only they can decide it${role === 'admin' ? ' (you can release it)' : ''}.` : err instanceof ApiError ? err.message : String(err);
      claimStatus.className = 'claim other';
      claimStatus.dataset.holder = holder ?? '';
      releaseBtn.hidden = !(holder && role === 'admin');
      reclaimBtn.hidden = !(err instanceof ApiError && err.status === 409 && !holder && /lapsed or was released/.test(err.message));
      approve.disabled = fraud.disabled = true;
      // Look again later: the holder may leave or their claim lapse.
      if (holder) renewTimer = setTimeout(() => void load().then(claim), 15_000);
    }
    if (holding && detail.case.status === 'open') approve.disabled = fraud.disabled = false;
  };
  reclaimBtn.addEventListener('click', () => void claim());
  releaseBtn.addEventListener('click', () => {
    void api('POST', `/api/cases/${encodeURIComponent(caseId)}/release`, {})
      .then(() => claim())
      .catch((err: unknown) => {
        claimStatus.textContent = err instanceof ApiError ? err.message : String(err);
      });
  });

  const neighbour = (step: number): string | undefined => {
    const i = lastQueue.indexOf(caseId);
    return i < 0 ? undefined : lastQueue[i + step];
  };

  const decide = async (verdict: 'approve' | 'confirm_fraud') => {
    if (busy || !detail || detail.case.status !== 'open') return;
    busy = true;
    approve.disabled = fraud.disabled = true;
    result.textContent = 'Sending…';
    try {
      const r = await api<{ case: Case; decision: { action: string }; published: boolean }>('POST', `/api/cases/${encodeURIComponent(caseId)}/verdict`, { verdict, note: note.value });
      const sent = r.published ? 'label sent.' : 'label queued: it is sent as soon as Kafka answers.';
      result.textContent = `Case closed: ${r.case.status.replace('_', ' ')} → final decision ${r.decision.action}, ${sent}`;
      result.className = 'ok';
      const next = neighbour(1);
      lastQueue = lastQueue.filter((x) => x !== caseId);
      holding = false;
      clearTimeout(renewTimer);
      claimStatus.textContent = '';
      await load();
      if (next) result.append(' ', h('a', { href: `#/case/${encodeURIComponent(next)}`, id: 'next-case' }, 'Next case (J) →'));
    } catch (err) {
      result.textContent = err instanceof ApiError ? err.message : String(err);
      result.className = 'error';
      if (err instanceof ApiError && err.holder) void claim();
      else approve.disabled = fraud.disabled = false;
    } finally {
      busy = false;
    }
  };
  approve.addEventListener('click', () => void decide('approve'));
  fraud.addEventListener('click', () => void decide('confirm_fraud'));

  const load = async () => {
    detail = await api<CaseDetail>('GET', `/api/cases/${encodeURIComponent(caseId)}`);
    const c = detail.case;
    const t = c.tx;
    const isOpen = c.status === 'open';
    approve.disabled = fraud.disabled = !isOpen || !holding;
    const scoreRows = Object.entries(c.scores).map(([k, v]) => h('div', { class: 'score' }, h('span', { class: 'label' }, k), bar(v ?? 0, (v ?? 0) >= 0.5 ? 'hot' : ''), h('span', {}, num(v))));
    const travel = detail.travel;
    body.replaceChildren(
      h(
        'div',
        { class: 'case-head' },
        h('a', { href: '#/queue', class: 'ghost' }, '← queue (Esc)'),
        h('h1', {}, 'Case ', h('span', { class: 'mono' }, c.caseId)),
        h('span', { class: `status ${c.status}` }, c.status.replace('_', ' ')),
        h('span', { class: 'risk' }, 'risk ', bar(c.risk, 'hot'), ` ${num(c.risk, 2)}`),
        h('span', { class: 'muted' }, isOpen ? `waiting ${ago(c.createdAt, detail.now)}` : `closed by ${c.closedBy ?? '?'} ${c.closedAt ? dateTime(c.closedAt) : ''}`),
      ),
      h(
        'div',
        { class: 'grid' },
        section(
          'Transaction',
          kv([
            ['tx', t.txId],
            ['card', t.cardId],
            ['merchant', h('span', { id: 'merchant-name', class: 'merchant' }, t.merchantName)],
            ['merchant id · MCC', `${t.merchantId} · ${t.mcc}`],
            ['amount', h('strong', {}, money(t.amountMinor, t.currency))],
            [
              'expected loss',
              h('span', { id: 'case-expected-loss' }, c.loss ? lossText(c.loss, t.currency) : c.expectedLoss !== undefined ? `at stake ${amountText(c.expectedLoss, t.currency)}` : 'not recorded (case opened before issue 13)'),
            ],
            ['when', dateTime(t.ts)],
            ['channel', t.channel],
            ['where', `${t.country} (${t.lat.toFixed(3)}, ${t.lon.toFixed(3)})`],
            ['device', t.deviceId ?? '—'],
            ['versions', `model ${c.versions.model} · policy v${c.versions.policy}`],
            ['history', h('span', { id: 'case-history', class: c.partialHistory ? 'partial-history error' : 'partial-history' }, historyText(c.partialHistory))],
          ]),
        ),
        section(
          'Model scores',
          ...scoreRows,
          h('h3', {}, 'Rules fired'),
          c.rulesFired.length
            ? h('ul', { class: 'rules' }, ...c.rulesFired.map((r) => h('li', { class: `rule ${r.effect}` }, h('code', {}, r.id), ` ${r.description}`, r.value !== undefined ? ` (${String(r.value)}${r.threshold !== undefined ? ` vs ${String(r.threshold)}` : ''})` : '')))
            : h('p', { class: 'muted' }, 'none'),
        ),
        section(
          'Verdict',
          isOpen ? h('p', { class: 'muted' }, 'N = write a note (Esc leaves it), A = approve, F = confirm fraud, J / K = next / previous case, Esc = queue.') : h('p', {}, `Closed: ${c.status.replace('_', ' ')}${c.note ? ` — ${c.note}` : ''}`),
          isOpen ? claimStatus : null,
          isOpen ? releaseBtn : null,
          isOpen ? reclaimBtn : null,
          note,
          h('div', { class: 'actions' }, approve, fraud),
          result,
        ),
      ),
      h('div', { class: 'grid', id: 'explain' }, contributionsPanel(detail), baselinePanel(detail)),
      h(
        'div',
        { class: 'grid' },
        normPanel(detail),
        section(
          'Travel',
          travel && travel.distanceKm > 0.5
            ? kv([
                ['from', `${travel.fromCountry} (tx ${travel.fromTxId})`],
                ['distance', `${travel.distanceKm.toFixed(0)} km`],
                ['time between', `${travel.minutes.toFixed(0)} min`],
                ['implied speed', h('span', { class: travel.speedKmh !== null && travel.speedKmh > 900 ? 'flag hot' : 'flag' }, travel.speedKmh === null ? 'same minute' : `${travel.speedKmh.toFixed(0)} km/h${travel.speedKmh > 900 ? ' — faster than a plane' : ''}`)],
              ])
            : h('p', { class: 'muted' }, travel ? 'Same place as the previous transaction.' : 'No earlier transaction of this card seen.'),
        ),
      ),
      linkedPanel(detail, note, bulkResult, load),
      section(
        'Export',
        h('p', {}, h('a', { id: 'export-html', href: `/api/cases/${encodeURIComponent(c.caseId)}/export?format=html`, target: '_blank', rel: 'noopener' }, 'Printable report (HTML)'), ' · ', h('a', { id: 'export-json', href: `/api/cases/${encodeURIComponent(c.caseId)}/export?format=json`, download: `case-${c.caseId}.json` }, 'JSON')),
        h('p', { class: 'muted' }, 'The transaction, scores, why, the card’s norm, linked cases, the verdict and the audit trail. Each export is audited.'),
      ),
      section(
        'Card’s recent history',
        detail.history.length
          ? table(
              ['time', 'decision', 'merchant', 'amount', 'country', 'channel'],
              detail.history.map((x) => [dateTime(x.ts), badge(x.action), x.merchantName, money(x.amountMinor, x.currency), x.country, x.channel]),
              'compact',
            )
          : h('p', { class: 'muted' }, 'None seen yet.'),
      ),
      section(
        'Audit',
        detail.audit.length
          ? table(['when', 'who', 'action', 'after'], detail.audit.map((a) => [dateTime(a.at), a.who, a.action, pre(a.after)]), 'compact')
          : h('p', { class: 'muted' }, 'No actions on this case yet.'),
      ),
    );
  };

  const onKey = (e: KeyboardEvent) => {
    if (e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLInputElement) {
      if (e.key === 'Escape') (e.target as HTMLElement).blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key.toLowerCase();
    if (e.key === 'Escape') window.location.assign('#/queue');
    else if (k === 'n') {
      e.preventDefault();
      note.focus();
    } else if (k === 'a') void decide('approve');
    else if (k === 'f') void decide('confirm_fraud');
    else if (k === 'j' || k === 'k') {
      const id = neighbour(k === 'j' ? 1 : -1) ?? (k === 'j' ? lastQueue[0] : undefined);
      if (id && id !== caseId) window.location.assign(`#/case/${encodeURIComponent(id)}`);
    }
  };
  document.addEventListener('keydown', onKey);
  load()
    .then(claim)
    .catch((err: unknown) => {
      body.replaceChildren(h('p', { class: 'error' }, err instanceof ApiError ? err.message : String(err)), h('a', { href: '#/queue' }, '← back to the queue'));
    });
  return () => {
    gone = true;
    clearTimeout(renewTimer);
    document.removeEventListener('keydown', onKey);
    // Leaving the page lets the case go at once rather than when the claim lapses.
    if (holding && detail?.case.status === 'open') void api('POST', `/api/cases/${encodeURIComponent(caseId)}/release`, {}).catch(() => undefined);
  };
}
