/**
 * A small stream with the structure of public per-customer / per-terminal fraud data: customers shop at nearby
 * terminals; some terminals are breached for two weeks (many different cards defrauded there); labels arrive days
 * later. For feature and parity tests (the demo's world lives in producers/).
 */
import type { Label, Transaction } from '../../core/contracts.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';

const DAY = 86_400_000;

export function delayedStream(opts: { days: number; customers: number; terminals: number; seed: number; start?: number }): { txs: Transaction[]; labels: Label[]; fraud: Set<string> } {
  const rand = mulberry32(opts.seed);
  const start = opts.start ?? Date.UTC(2025, 0, 6);
  const txs: Transaction[] = [];
  const breached = new Map<number, number>();
  for (let d = 0; d < opts.days; d += 2) breached.set(Math.floor(rand() * opts.terminals), d);
  for (let c = 0; c < opts.customers; c++) {
    const mean = 20 + rand() * 80;
    for (let d = 0; d < opts.days; d++) {
      const n = Math.floor(rand() * 3);
      for (let k = 0; k < n; k++) {
        const terminal = (c * 7 + Math.floor(rand() * 6)) % opts.terminals;
        txs.push({
          txId: '',
          cardId: `cust-${c}`,
          merchantId: `term-${terminal}`,
          merchantName: '',
          mcc: '5999',
          amountMinor: Math.max(1, Math.round(mean * (0.5 + rand()) * 100)),
          currency: 'EUR',
          ts: start + d * DAY + Math.floor(rand() * DAY),
          channel: 'card_present',
          country: 'FR',
          lat: 0,
          lon: 0,
          deviceId: rand() < 0.5 ? null : `dev-${c}`,
        });
      }
    }
  }
  txs.sort((a, b) => a.ts - b.ts);
  const labels: Label[] = [];
  const fraud = new Set<string>();
  txs.forEach((tx, i) => {
    tx.txId = `t${i}`;
    const terminal = Number(tx.merchantId.slice(5));
    const from = breached.get(terminal);
    const day = Math.floor((tx.ts - start) / DAY);
    const isFraud = from !== undefined && day >= from && day < from + 14 && rand() < 0.6;
    if (isFraud) fraud.add(tx.txId);
    if (isFraud || rand() < 0.05) {
      labels.push({ txId: tx.txId, cardId: tx.cardId, merchantId: tx.merchantId, txTs: tx.ts, isFraud, scenario: isFraud ? 'breach' : null, source: 'chargeback', labeledAt: tx.ts + Math.round((3 + rand() * 7) * DAY) });
    }
  });
  return { txs, labels, fraud };
}
