import type { Case, Decision, Policy, PolicyInput } from '../../../core/contracts.ts';
import type { ServedSummary } from '../../server/serving.ts';

export type { Case, Decision, Policy, PolicyInput, ServedSummary };
export type LiveDecision = Decision & { scenario?: string | null };

let csrf = '';
export let user = '';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function loadSession(): Promise<void> {
  const s = await api<{ user: string; csrf: string }>('GET', '/api/session');
  csrf = s.csrf;
  user = s.user;
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
  const json = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new ApiError(res.status, json.error ?? `${res.status} ${res.statusText}`);
  return json as T;
}

export interface SecondPoint {
  t: number;
  ALLOW: number;
  BLOCK: number;
  REVIEW: number;
  p50: number | null;
  p95: number | null;
}

export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  precision: number | null;
  recall: number | null;
}

export interface LabelSnapshot {
  labels: number;
  pending: number;
  bySourceAndModel: Record<string, Confusion>;
}

export interface Stats {
  counts: Record<'ALLOW' | 'BLOCK' | 'REVIEW', number>;
  byStage: Record<string, number>;
  series: SecondPoint[];
  openCases: number;
  labels: LabelSnapshot;
  /** Model versions on the stages' latest decisions (absent from an older server). */
  served?: ServedSummary;
}

export interface ModelVersion {
  version: string;
  card: Record<string, unknown> | null;
  error?: string;
  modifiedAt: number;
}

export interface ModelsResponse {
  modelDir: string;
  versions: ModelVersion[];
  activeInPolicy: string | null;
  policyVersion: number;
  served: ServedSummary;
  live: LabelSnapshot;
}

export interface CardTx {
  txId: string;
  ts: number;
  amountMinor: number;
  currency: string;
  merchantId: string;
  merchantName: string;
  mcc: string;
  country: string;
  channel: string;
  lat: number;
  lon: number;
  deviceId: string | null;
  action: string;
  stage: string;
  decidedAt: number;
}

export interface AuditEntry {
  id: string;
  at: number;
  who: string;
  action: string;
  target: string;
  before?: unknown;
  after?: unknown;
  ip?: string;
}

export interface CaseDetail {
  case: Case;
  history: CardTx[];
  norm: {
    n: number;
    amountMean: number | null;
    amountStd: number | null;
    amountZ: number | null;
    countries: Record<string, number>;
    newCountry: boolean;
    newMerchant: boolean;
    newDevice: boolean;
    usualHours: number[];
    hourUsual: boolean;
  };
  travel: { fromTxId: string; fromCountry: string; distanceKm: number; minutes: number; speedKmh: number | null } | null;
  audit: AuditEntry[];
  now: number;
}
