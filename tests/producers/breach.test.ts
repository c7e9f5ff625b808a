/**
 * An injected merchant breach is followed: the world says which merchant it breached, the simulator knows which
 * sent transactions are that breach's fraud, and the console's tracker counts how each was decided by day.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import type { Decision, Label } from '../../core/contracts.ts';
import type { OutMessage, Sink } from '../../producers/kafka-sink.ts';
import { createSimulator } from '../../producers/simulator.ts';
import { World } from '../../producers/world/world.ts';
import { BreachTracker } from '../../review-ui/server/pure/breach.ts';

const DAY = 86_400_000;

describe('an injected compromised-merchant breach', () => {
  it('the world names the breached merchants, and every fraud it scheduled for them happens there', () => {
    const w = new World({ seed: 3, events: 200_000, cards: 300, merchants: 200, fraudRate: 0 });
    for (let i = 0; i < 100; i++) w.next();
    const r = w.injectEpisodes('compromised_merchant', 2);
    expect(r.breachedMerchants).toHaveLength(2);
    const at = new Map<string, number>();
    for (let e = w.next(); e; e = w.next()) {
      if (e.label?.isFraud && e.label.scenario === 'compromised_merchant') at.set(e.tx.merchantId, (at.get(e.tx.merchantId) ?? 0) + 1);
    }
    expect([...at.keys()].sort()).toEqual([...new Set(r.breachedMerchants)].sort());
    expect([...at.values()].reduce((a, b) => a + b, 0)).toBe(r.scheduled);
    // per merchant, what it says it scheduled there
    for (const b of r.breaches) expect(at.get(b.merchantId), b.merchantId).toBe(r.breaches.filter((x) => x.merchantId === b.merchantId).reduce((a, x) => a + x.scheduled, 0));
    expect(w.injectEpisodes('card_testing', 1).breachedMerchants).toEqual([]);
  });

  it('the simulator says which sent transactions are the breach\'s fraud, and only those', async () => {
    const txs: OutMessage[] = [];
    const labels: OutMessage[] = [];
    const sink: Sink = {
      async send(t, l) {
        txs.push(...t);
        labels.push(...l);
      },
      async close() {},
    };
    const sim = createSimulator(loadConfig({}), { rate: 50_000, seed: 8, sink, world: { cards: 300, merchants: 200, fraudRate: 0, labelDelayScale: 1 } });
    const scheduled = sim.inject('compromised_merchant', 1);
    const [breach] = sim.stats().breaches;
    expect(breach).toMatchObject({ scheduled, sent: 0 });
    await sim.start();
    for (let i = 0; i < 600 && sim.stats().breaches[0]!.sent < scheduled; i++) await new Promise((r) => setTimeout(r, 10));
    const stats = await sim.stop();
    expect(stats.breaches[0]!.sent).toBe(scheduled);
    const sent = txs.map((m) => JSON.parse(m.value.toString()) as { txId: string; merchantId: string; ts: number });
    const attributed = sent.filter((t) => sim.breachOf(t.txId));
    expect(attributed).toHaveLength(scheduled);
    for (const t of attributed) {
      expect(t.merchantId).toBe(breach!.merchantId);
      expect(sim.breachOf(t.txId)).toEqual({ merchantId: breach!.merchantId, injectedAt: breach!.injectedAt });
      expect(t.ts).toBeGreaterThanOrEqual(breach!.injectedAt);
    }
    // Legitimate transactions at the breached merchant are not the breach's fraud.
    const legit = sent.filter((t) => t.merchantId === breach!.merchantId && !sim.breachOf(t.txId));
    const fraudIds = new Set(labels.map((m) => JSON.parse(m.value.toString()) as Label).filter((l) => l.isFraud).map((l) => l.txId));
    for (const t of legit) expect(fraudIds.has(t.txId)).toBe(false);
  }, 30_000);

  it('the console counts the breach\'s decisions by day since the injection, once each, and when label risk was a reason', () => {
    const injectedAt = Date.UTC(2025, 0, 1);
    const breachOf = (txId: string) => (txId.startsWith('b') ? { merchantId: 'm-1', injectedAt } : undefined);
    const decision = (txId: string, day: number, action: Decision['action'], features: Array<[string, number]> = []): Decision =>
      ({ txId, action, tx: { ts: injectedAt + day * DAY + 3_600_000 }, topFeatures: features.map(([name, contribution]) => ({ name, value: 1, contribution })) }) as unknown as Decision;
    const t = new BreachTracker();
    t.observe(decision('b1', 0, 'ALLOW'), breachOf);
    t.observe(decision('b2', 0, 'ALLOW'), breachOf);
    t.observe(decision('b3', 9, 'BLOCK', [['merchant_fraud_rate_7d_delayed', 0.4]]), breachOf);
    t.observe(decision('b4', 9, 'REVIEW', [['merchant_fraud_count_30d_delayed', -0.1], ['amount_z', 0.3]]), breachOf);
    t.observe(decision('b4', 9, 'BLOCK'), breachOf); // the analyst's verdict on the same transaction
    t.observe(decision('x1', 9, 'BLOCK', [['merchant_fraud_rate_7d_delayed', 0.4]]), breachOf); // not the breach's
    expect(t.snapshot()).toEqual([
      {
        merchantId: 'm-1',
        injectedAt,
        days: [
          { day: 0, decided: 2, allowed: 2, reviewed: 0, blocked: 0, byLabelRisk: 0 },
          { day: 9, decided: 2, allowed: 0, reviewed: 1, blocked: 1, byLabelRisk: 1 },
        ],
      },
    ]);
  });
});
