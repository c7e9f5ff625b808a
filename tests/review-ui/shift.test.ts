import { describe, expect, it } from 'vitest';
import { median, queueOrder, shiftView, slaClock } from '../../review-ui/server/pure/shift.ts';
import { openCase } from '../router/review-queue-fixtures.ts';

const H = 3_600_000;
const now = Date.UTC(2026, 2, 1, 12);

describe('shift view', () => {
  const closed = (id: string, by: string, status: 'approved' | 'confirmed_fraud', createdAt: number, closedAt: number) => openCase(id, 0.6, createdAt, { status, closedBy: by, closedAt });
  const cases = [
    closed('a1', 'ann', 'confirmed_fraud', now - 3 * H, now - 3 * H + 60_000),
    closed('a2', 'ann', 'approved', now - 2 * H, now - 2 * H + 180_000),
    closed('a3', 'ann', 'confirmed_fraud', now - 30 * 60_000, now - 20 * 60_000),
    closed('b1', 'ben', 'approved', now - H, now - H + 120_000),
    closed('old', 'ben', 'approved', now - 20 * H, now - 19 * H),
    openCase('still-open', 0.6, now - H),
  ];
  const claims = new Map([['a1|ann', now - 3 * H + 30_000], ['a3|ann', now - 25 * 60_000], ['b1|ann', now - H]]);
  const truth = new Map([['a1', { isFraud: true }], ['a2', { isFraud: true }], ['b1', { isFraud: false }]]);

  it('counts per analyst inside the window, per hour, with medians and agreement against chargebacks', () => {
    const v = shiftView(cases, claims, truth, now, 4);
    expect(v.analysts.map((a) => a.analyst)).toEqual(['ann', 'ben']);
    const [ann, ben] = v.analysts;
    expect(ann).toMatchObject({ decided: 3, perHour: 0.75, confirmedFraud: 2, approved: 1, medianToDecisionMs: 180_000, labelled: 2, agreed: 1, agreement: 0.5, hourly: [0, 1, 1, 1] });
    // Handling from ann's own claims: a1 30 s, a3 5 min (a2 has no claim on record).
    expect(ann?.medianHandlingMs).toBe((30_000 + 300_000) / 2);
    // ben's claim-less case has no handling time; ann's claim on b1 is not his.
    expect(ben).toMatchObject({ decided: 1, medianHandlingMs: null, labelled: 1, agreed: 1, agreement: 1 });
  });

  it('medians of even and odd counts', () => {
    expect(median([])).toBeNull();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('SLA clock and queue order', () => {
  it('says how long is left, or how long overdue', () => {
    expect(slaClock(now - 10 * 60_000, now, 60)).toEqual({ ageMinutes: 10, slaMinutes: 60, leftMinutes: 50, overdue: false });
    expect(slaClock(now - 75 * 60_000, now, 60)).toMatchObject({ leftMinutes: -15, overdue: true });
  });

  it('puts overdue cases on top (longest overdue first), then unclaimed, then claimed, each in the given order', () => {
    const c = (caseId: string, ageMin: number) => ({ caseId, createdAt: now - ageMin * 60_000 });
    const given = [c('big-claimed', 5), c('big', 10), c('late', 70), c('later', 90), c('small', 1)];
    expect(queueOrder(given, new Set(['big-claimed', 'late']), now, 60).map((x) => x.caseId)).toEqual(['later', 'late', 'big', 'small', 'big-claimed']);
  });
});
