/**
 * A case as a report (issue 21): one JSON document and a printable HTML page built from it. Every value from a
 * transaction, a note or an audit entry is escaped here (the page has no script at all, and the route serves it with
 * a policy that allows none), so a merchant called `<img src=x onerror=...>` prints as those characters.
 */
import type { Case, Decision } from '../../../core/contracts.ts';
import type { LinkedCase } from './linked.ts';
import type { CaseBaseline } from './baseline.ts';

export const CASE_EXPORT_VERSION = 2;

export interface CaseExport {
  exportVersion: typeof CASE_EXPORT_VERSION;
  exportedAt: number;
  exportedBy: string;
  case: Case;
  /** The transaction's latest decision the console indexed (the final one once decided), if still in the index. */
  decision: Decision | null;
  claim: { holder: string; expiresAt: number } | null;
  /** The case against normal: the card's, merchant's and device's baselines from the feature store, and the findings. */
  baseline: CaseBaseline;
  /** The card's norm from the transactions the console saw (its last 20). */
  norm: unknown;
  history: unknown[];
  linked: LinkedCase[];
  audit: Array<{ at: number; who: string; action: string; target: string; before?: unknown; after?: unknown; seq?: number; hash?: string }>;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (value: unknown): string => String(value ?? '').replace(/[&<>"']/g, (ch) => ESCAPES[ch] as string);

/** Markup this module built itself (never a value from outside): the only thing `html` does not escape. */
class Safe {
  constructor(readonly text: string) {}
}

/** A template whose every interpolation is escaped unless it is Safe (or an array of them). */
function html(strings: TemplateStringsArray, ...values: unknown[]): Safe {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    const parts = Array.isArray(v) ? v : [v];
    out += parts.map((p) => (p instanceof Safe ? p.text : escapeHtml(p))).join('');
    out += strings[i + 1] ?? '';
  });
  return new Safe(out);
}

const iso = (ms: number | undefined): string => (ms === undefined ? '' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));
const amount = (minor: number, currency: string): string => `${(minor / 100).toFixed(2)} ${currency}`;
const json = (v: unknown): string => (v === undefined ? '' : JSON.stringify(v, null, 2));

function rows(pairs: Array<[string, unknown]>): Safe {
  return html`<table class="kv">${pairs.map(([k, v]) => html`<tr><th>${k}</th><td>${v instanceof Safe ? v : String(v ?? '—')}</td></tr>`)}</table>`;
}

/** The stylesheet of the page: served inline and allowed by its hash alone (the route computes it). */
export const EXPORT_STYLE = `body{font:13px/1.45 system-ui,sans-serif;margin:24px;color:#111}h1{font-size:20px}h2{font-size:15px;margin-top:22px;border-bottom:1px solid #ccc}table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}table.kv th{background:#f4f4f4;width:190px}pre{white-space:pre-wrap;margin:0;font-size:11px}.muted{color:#666}@media print{body{margin:0}h2{break-after:avoid}}`;

export function caseExportHtml(x: CaseExport): string {
  const c = x.case;
  const t = c.tx;
  const scores = Object.entries(c.scores).map(([k, v]) => [k, v === undefined ? '—' : v.toFixed(3)] as [string, unknown]);
  const body = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Case ${c.caseId}</title><style>${new Safe(EXPORT_STYLE)}</style></head>
<body>
<h1>Case <span id="case-id">${c.caseId}</span></h1>
<p class="muted">Exported ${iso(x.exportedAt)} by ${x.exportedBy} · fraudstream case export v${x.exportVersion}</p>
<h2>Transaction</h2>
${rows([
  ['tx', t.txId], ['card', t.cardId], ['merchant', html`<span id="merchant-name">${t.merchantName}</span>`], ['merchant id · MCC', `${t.merchantId} · ${t.mcc}`],
  ['amount', amount(t.amountMinor, t.currency)], ['when', iso(t.ts)], ['channel', t.channel], ['where', `${t.country} (${t.lat}, ${t.lon})`], ['device', t.deviceId ?? '—'],
])}
<h2>Scores and why</h2>
${rows([...scores, ['risk (heavy model)', c.risk.toFixed(3)], ['expected loss at stake', c.expectedLoss === undefined ? '—' : amount(Math.round(c.expectedLoss), t.currency)], ['versions', `model ${c.versions.model} · policy v${c.versions.policy}`]])}
<table><tr><th>rule</th><th>effect</th><th>description</th><th>value</th><th>threshold</th></tr>${c.rulesFired.map((r) => html`<tr><td>${r.id}</td><td>${r.effect}</td><td>${r.description}</td><td>${r.value ?? ''}</td><td>${r.threshold ?? ''}</td></tr>`)}</table>
<table><tr><th>feature</th><th>value</th><th>contribution</th></tr>${c.topFeatures.map((f) => html`<tr><td>${f.name}</td><td>${f.value.toFixed(3)}</td><td>${f.contribution.toFixed(3)}</td></tr>`)}</table>
<h2>Against normal</h2>
<ul id="findings">${x.baseline.findings.map((f) => html`<li class="${f.level}"><strong>${f.level}</strong> · ${f.entity}: ${f.text}</li>`)}</ul>
<table><tr><th>entity</th><th>id</th><th>days before</th><th>active days</th><th>transactions</th><th>mean amount</th><th>largest</th><th>fraud labels</th><th>first seen</th></tr>${x.baseline.entities.map((e) => html`<tr><td>${e.entity}</td><td>${e.id}</td><td>${e.days}</td><td>${e.activeDays}</td><td>${e.count}</td><td>${e.meanMinor === null ? '—' : amount(Math.round(e.meanMinor), t.currency)}</td><td>${e.maxMinor === null ? '—' : amount(e.maxMinor, t.currency)}</td><td>${e.fraudLabels}</td><td>${iso(e.firstSeen ?? undefined)}</td></tr>`)}</table>
${x.baseline.notes.length ? html`<p class="muted">Not compared: ${x.baseline.notes.join('; ')}.</p>` : html``}
<p class="muted">Baselines as the feature store held them at ${iso(x.baseline.asOf)}: whole days before the transaction's day; fraud labels that had arrived by then.</p>
<h2>Card norm (the card's transactions the console saw)</h2>
<pre>${json(x.norm)}</pre>
<h2>Card's recent history</h2>
<pre>${json(x.history)}</pre>
<h2>Linked cases</h2>
${x.linked.length ? html`<table><tr><th>case</th><th>status</th><th>shares</th><th>card</th><th>merchant</th><th>amount</th><th>when</th></tr>${x.linked.map((l) => html`<tr><td>${l.caseId}</td><td>${l.status}</td><td>${l.via.join(', ')}</td><td>${l.cardId}</td><td>${l.merchantName}</td><td>${amount(l.amountMinor, l.currency)}</td><td>${iso(l.ts)}</td></tr>`)}</table>` : html`<p class="muted">none</p>`}
<h2>Verdict</h2>
${rows([['status', c.status], ['decided by', c.closedBy ?? '—'], ['decided at', iso(c.closedAt)], ['note', c.note ?? '—'], ['final decision', x.decision ? `${x.decision.action} (${x.decision.stage}): ${x.decision.reason}` : '—'], ['claimed by', x.claim ? `${x.claim.holder} until ${iso(x.claim.expiresAt)}` : '—']])}
<h2>Audit trail</h2>
<table><tr><th>when</th><th>who</th><th>action</th><th>after</th><th>seq · hash</th></tr>${x.audit.map((a) => html`<tr><td>${iso(a.at)}</td><td>${a.who}</td><td>${a.action}</td><td><pre>${json(a.after)}</pre></td><td>${a.seq ?? ''} · ${(a.hash ?? '').slice(0, 12)}</td></tr>`)}</table>
</body></html>
`;
  return body.text;
}
