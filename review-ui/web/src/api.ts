import type { Case, Decision, Policy, PolicyInput } from '../../../core/contracts.ts';
import type { AuditEntry } from '../../../state/audit.ts';
import type { DeadLetterSummary, DeadLetterView } from '../../server/dead-letters.ts';
import type { GuardStatus } from '../../../router/ops/guard.ts';
import type { RuleStatsView } from '../../../router/pure/guard.ts';
import type { CardNorm, Travel } from '../../server/card.ts';
import type { LinkedCase } from '../../server/pure/linked.ts';
import type { CaseBaseline } from '../../server/pure/baseline.ts';
import type { SecondPoint } from '../../server/live.ts';
import type { CardTx } from '../../../state/card-history.ts';
import type { LabelSnapshot } from '../../server/metrics.ts';
import type { ModelVersion } from '../../server/models.ts';
import type { PreviewResult } from '../../server/preview.ts';
import type { SlaStatus } from '../../../router/pure/money.ts';
import type { ReviewCutoff } from '../../../state/review-cutoff.ts';
import type { ServedSummary } from '../../server/serving.ts';
import type { ShadowReportView } from '../../../router/shadow/report.ts';

// Type-only imports: erased by the bundler, so no server code reaches the browser.
export type { Case, Decision, Policy, PolicyInput, ServedSummary };
export type { AuditEntry, LabelSnapshot, ModelVersion, PreviewResult, SecondPoint };
export type { DeadLetterSummary, DeadLetterView, GuardStatus, RuleStatsView };
export type { ShadowReportView, LinkedCase };
export type LiveDecision = Decision & { scenario?: string | null };

let csrf = '';
export let user = '';
/** The account's role: the server refuses admin pages to analysts (403); the nav only hides them. */
export let role: 'analyst' | 'admin' = 'analyst';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Who holds the case, on a 409 about a claimed case. */
    readonly holder?: string,
  ) {
    super(message);
  }
}

export async function loadSession(): Promise<void> {
  const s = await api<{ user: string; role: 'analyst' | 'admin'; csrf: string }>('GET', '/api/session');
  csrf = s.csrf;
  user = s.user;
  role = s.role;
}

/** JSON API call; state-changing calls carry the CSRF token; a lost session goes back to the login page. */
export async function api<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: {
      Accept: 'application/json',
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(method !== 'GET' ? { 'X-CSRF-Token': csrf } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (res.status === 401) {
    window.location.assign('/login');
    throw new ApiError(401, 'not logged in');
  }
  const json = (await res.json().catch(() => ({}))) as { error?: string; holder?: string; restoring?: boolean };
  if (res.status === 503 && json.restoring) showRestoring();
  if (!res.ok) throw new ApiError(res.status, json.error ?? `${res.status} ${res.statusText}`, typeof json.holder === 'string' ? json.holder : undefined);
  return json as T;
}

export interface Stats {
  counts: Record<'ALLOW' | 'BLOCK' | 'REVIEW', number>;
  byStage: Record<string, number>;
  series: SecondPoint[];
  openCases: number;
  /** The oldest open case's age against the review SLA (absent from an older server). */
  sla?: SlaStatus;
  labels: LabelSnapshot;
  /** Model versions on the stages' latest decisions (absent from an older server). */
  served?: ServedSummary;
  /** The guard rail's watch and its rollbacks (absent from an older server). */
  guard?: GuardStatus;
  /** The review cutoff escalate applies (state/review-cutoff.ts) and the staffing's capacity (absent from an older server). */
  reviewCutoff?: { capacityPerHour: number; latest: ReviewCutoff | null };
}

export interface ModelsResponse {
  modelDir: string;
  versions: ModelVersion[];
  activeInPolicy: string | null;
  policyVersion: number;
  served: ServedSummary;
  live: LabelSnapshot;
}

/** Who holds an open case and until when (state/case-claims.ts). */
export interface ClaimView {
  holder: string;
  expiresAt: number;
}

export interface CaseDetail {
  case: Case;
  claim: ClaimView | null;
  linked: LinkedCase[];
  history: CardTx[];
  norm: CardNorm;
  /** The case against normal (explain against normal, issue 21 item 2). */
  baseline: CaseBaseline;
  travel: Travel | null;
  audit: AuditEntry[];
  now: number;
}

let restoringBanner: HTMLElement | undefined;

/**
 * Redis lost the console's data and the server is restoring it from Kafka (issue 18): a banner says so, and the page
 * reloads once GET /api/status reports every view ready again.
 */
export function showRestoring(): void {
  if (restoringBanner) return;
  const banner = document.createElement('div');
  banner.id = 'restoring';
  banner.className = 'restoring';
  banner.setAttribute('role', 'status');
  banner.textContent = 'Restoring: Redis lost the console\'s data; it is being rebuilt from Kafka. This page reloads when it is back.';
  document.body.prepend(banner);
  restoringBanner = banner;
  const poll = () => {
    fetch('/api/status', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then((r) => r.json() as Promise<{ view?: { state?: string } }>)
      .then((b) => {
        if (b.view?.state === 'ready') window.location.reload();
        else setTimeout(poll, 2_000);
      })
      .catch(() => setTimeout(poll, 2_000));
  };
  setTimeout(poll, 2_000);
}
