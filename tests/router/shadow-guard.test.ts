import { describe, expect, it } from 'vitest';
import { labelArrivedShare, shadowReport } from '../../router/pure/shadow.ts';
import type { ShadowPair } from '../../state/shadow.ts';
import { checkBlockRate, DEFAULT_GUARD_RAIL, ruleStats } from '../../router/pure/guard.ts';

const DAY = 86_400_000;
const pair = (over: Partial<ShadowPair>): ShadowPair => ({
  txId: 't', ts: 10 * DAY, amountMinor: 1_000, champion: 'ALLOW', challenger: 'ALLOW', championEscalated: false, challengerEscalated: false, ...over,
});

describe('shadow report', () => {
  it('fills the agreement matrix and judges each side against the labels that came back', () => {
    const pairs = [
      pair({ champion: 'BLOCK', challenger: 'BLOCK', isFraud: true, amountMinor: 5_000 }),
      pair({ champion: 'ALLOW', challenger: 'BLOCK', isFraud: true, challengerEscalated: true }),
      pair({ champion: 'BLOCK', challenger: 'ALLOW', isFraud: false }),
      pair({ champion: 'ALLOW', challenger: 'ALLOW' }),
    ];
    const r = shadowReport(pairs, 100 * DAY, { delaysDays: [], matureAt: 0.8 });
    expect(r.agreement.BLOCK.BLOCK).toBe(1);
    expect(r.agreement.ALLOW.BLOCK).toBe(1);
    expect(r.agreement.BLOCK.ALLOW).toBe(1);
    expect(r.agreement.ALLOW.ALLOW).toBe(1);
    expect(r.agreementRate).toBe(0.5);
    expect(r.champion).toMatchObject({ blockRate: 0.5, moneyBlocked: 6_000, precision: 0.5, recall: 0.5, escalationRate: 0 });
    expect(r.challenger).toMatchObject({ blockRate: 0.5, moneyBlocked: 6_000, precision: 1, recall: 1, escalationRate: 0.25 });
  });

  it('marks young cohorts immature from how late labels usually arrive', () => {
    const delays = [1, 5, 20, 30, 40, 45, 50, 55, 60, 90]; // days from transaction to chargeback
    expect(labelArrivedShare(10, delays)).toBe(0.2);
    expect(labelArrivedShare(100, delays)).toBe(1);
    const young = shadowReport([pair({ ts: 95 * DAY })], 100 * DAY, { delaysDays: delays, matureAt: 0.8 });
    expect(young.immature).toBe(true);
    expect(young.cohorts[0]!.maturity).toBe(0.1);
    const old = shadowReport([pair({ ts: 0 })], 100 * DAY, { delaysDays: delays, matureAt: 0.8 });
    expect(old.immature).toBe(false);
  });
});

describe('guard rail', () => {
  const g = DEFAULT_GUARD_RAIL;
  it('rolls back a change that blocks more than K times the previous rate, once enough decisions are in', () => {
    expect(checkBlockRate(g, { blocks: 10, decisions: 1_000 }, { blocks: 20, decisions: 100 }, 2)).toMatchObject({ rollback: false, watching: true });
    const v = checkBlockRate(g, { blocks: 10, decisions: 1_000 }, { blocks: 80, decisions: 400 }, 3);
    expect(v.rollback).toBe(true);
    expect(v.reason).toContain('20.00%');
    expect(checkBlockRate(g, { blocks: 10, decisions: 1_000 }, { blocks: 10, decisions: 400 }, 3).rollback).toBe(false);
    expect(checkBlockRate(g, { blocks: 10, decisions: 1_000 }, { blocks: 400, decisions: 400 }, g.windowMinutes + 1).rollback).toBe(false);
  });
  it('judges a change from zero blocks against the floor rate', () => {
    expect(checkBlockRate(g, { blocks: 0, decisions: 1_000 }, { blocks: 2, decisions: 400 }, 1).rollback).toBe(false);
    expect(checkBlockRate(g, { blocks: 0, decisions: 1_000 }, { blocks: 40, decisions: 400 }, 1).rollback).toBe(true);
  });
  it('judges a change that starts serving a model against the block rate its card expects, not the rules-only 0 before', () => {
    // 1.7% blocked: over 3x the 0.5% floor (a first model was rolled back in the demo), within 3x the card's 1.1%
    const firstModel = { blocks: 17, decisions: 1_000 };
    expect(checkBlockRate(g, { blocks: 0, decisions: 1_000 }, firstModel, 1).rollback).toBe(true);
    expect(checkBlockRate(g, { blocks: 0, decisions: 1_000 }, firstModel, 1, 0.011)).toMatchObject({ rollback: false, watching: true });
    // a runaway is still a runaway: 3x the card's rate is the limit
    const runaway = checkBlockRate(g, { blocks: 0, decisions: 1_000 }, { blocks: 40, decisions: 1_000 }, 1, 0.011);
    expect(runaway.rollback).toBe(true);
    expect(runaway.reason).toBe('block rate 4.00% over 1000 decisions is more than 3x the 1.10% its model\'s card expects (previous 0.00%)');
  });
});

describe('rule evidence', () => {
  it('counts hits, precision and money per rule and flags a rule that only produces false positives', () => {
    const rows = [
      ...Array.from({ length: 6 }, () => ({ rulesFired: ['rule.country_block'], amountMinor: 100, isFraud: false })),
      { rulesFired: ['list.block_card', 'rule.amount_block'], amountMinor: 9_000, isFraud: true },
      { rulesFired: ['rule.amount_block'], amountMinor: 8_000, isFraud: false },
      { rulesFired: ['rule.amount_block'], amountMinor: 8_000 },
    ];
    const s = ruleStats(rows);
    const country = s.find((r) => r.rule === 'rule.country_block')!;
    expect(country).toMatchObject({ hits: 6, labelled: 6, fraud: 0, precision: 0, onlyFalsePositives: true });
    const amount = s.find((r) => r.rule === 'rule.amount_block')!;
    expect(amount).toMatchObject({ hits: 3, labelled: 2, fraud: 1, precision: 0.5, moneyCaught: 9_000, onlyFalsePositives: false });
    expect(s[0]!.rule).toBe('rule.country_block');
  });
});
