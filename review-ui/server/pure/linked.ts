/**
 * Linked cases (issue 21): cases that share a card, a merchant (our terminal) or a device with a case, within a window
 * of its transaction time. Transactions carry no IP, so none is linked by IP. Pure: the caller passes the candidates
 * (the open queue, bounded by the policy's review capacity, and the recently closed cases).
 */
import type { Case } from '../../../core/contracts.ts';

/** Cases whose transactions are this close in time can be linked by a card or a device. */
export const LINK_WINDOW_MS = 24 * 3600_000;
/**
 * By a merchant: a breach is worked for two to four weeks (the world's compromised_merchant; the public streams'
 * terminal compromises), so its cases are days apart. Measured on the demo: with the 24 h window the first case of a
 * six-case breach linked none of the other five.
 */
export const MERCHANT_LINK_WINDOW_MS = 30 * 24 * 3600_000;
/** At most this many linked cases are listed (the most related first). */
export const LINKED_MAX = 50;

export type LinkVia = 'card' | 'merchant' | 'device';

export interface LinkedCase {
  caseId: string;
  txId: string;
  status: Case['status'];
  via: LinkVia[];
  cardId: string;
  merchantId: string;
  merchantName: string;
  amountMinor: number;
  currency: string;
  ts: number;
  risk: number;
  expectedLoss?: number;
  closedBy?: string;
}

/** What two cases share, each entity within its own window (`windowMs` for card and device, the merchant's for merchants). */
export function sharedEntities(a: Case, b: Case, windowMs = LINK_WINDOW_MS, merchantWindowMs = MERCHANT_LINK_WINDOW_MS): LinkVia[] {
  const gap = Math.abs(a.tx.ts - b.tx.ts);
  const via: LinkVia[] = [];
  if (gap <= windowMs && a.tx.cardId === b.tx.cardId) via.push('card');
  if (gap <= merchantWindowMs && a.tx.merchantId === b.tx.merchantId) via.push('merchant');
  if (gap <= windowMs && a.tx.deviceId !== null && a.tx.deviceId === b.tx.deviceId) via.push('device');
  return via;
}

/** Open ones first, then those sharing more, then the closest in time. */
export function linkedCases(target: Case, candidates: readonly Case[], windowMs = LINK_WINDOW_MS, max = LINKED_MAX, merchantWindowMs = MERCHANT_LINK_WINDOW_MS): LinkedCase[] {
  const seen = new Set<string>([target.caseId]);
  const out: Array<LinkedCase & { gap: number }> = [];
  for (const c of candidates) {
    if (seen.has(c.caseId)) continue;
    seen.add(c.caseId);
    const gap = Math.abs(c.tx.ts - target.tx.ts);
    const via = sharedEntities(target, c, windowMs, merchantWindowMs);
    if (via.length === 0) continue;
    out.push({
      caseId: c.caseId, txId: c.txId, status: c.status, via, cardId: c.tx.cardId, merchantId: c.tx.merchantId, merchantName: c.tx.merchantName,
      amountMinor: c.tx.amountMinor, currency: c.tx.currency, ts: c.tx.ts, risk: c.risk, gap,
      ...(c.expectedLoss !== undefined ? { expectedLoss: c.expectedLoss } : {}), ...(c.closedBy ? { closedBy: c.closedBy } : {}),
    });
  }
  out.sort((a, b) => Number(b.status === 'open') - Number(a.status === 'open') || b.via.length - a.via.length || a.gap - b.gap || a.caseId.localeCompare(b.caseId));
  return out.slice(0, max).map(({ gap: _gap, ...rest }) => rest);
}
