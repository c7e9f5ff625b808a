import type { Case, Transaction } from '../../core/contracts.ts';

export function tx(over: Partial<Transaction> = {}): Transaction {
  return {
    txId: 'tx-1',
    cardId: 'card-1',
    merchantId: 'm-1',
    merchantName: 'Corner Shop',
    mcc: '5411',
    amountMinor: 1234,
    currency: 'EUR',
    ts: 1_700_000_000_000,
    channel: 'card_present',
    country: 'FR',
    lat: 48.85,
    lon: 2.35,
    deviceId: null,
    ...over,
  };
}

export function openCase(caseId: string, risk: number, createdAt: number, over: Partial<Case> = {}): Case {
  const t = tx({ txId: `tx-${caseId}` });
  return {
    caseId,
    txId: t.txId,
    cardId: t.cardId,
    tx: t,
    features: { amount_z: 2.5 },
    scores: { isolationForest: 0.6, xgboost: 0.5, heavy: risk },
    rulesFired: [],
    topFeatures: [{ name: 'amount_z', value: 2.5, contribution: 0.2 }],
    versions: { model: 'v1', policy: 1 },
    risk,
    status: 'open',
    createdAt,
    ...over,
  };
}
