import { describe, expect, it } from 'vitest';
import type { Decision, DeadLetter, Transaction } from '../../../core/contracts.ts';
import { checkInvariants, sha256, type CheckInput, type Expectation } from '../../../infra/chaos/pure/invariants.ts';
import { parseHoldLine } from '../../../infra/chaos/pure/hold-line.ts';
import { exitCode, table, type ScenarioResult } from '../../../infra/chaos/pure/report.ts';
import { testTransactions } from '../../helpers/transactions.ts';
import { buildDecision, encodeDecision } from '../../../router/pure/decision.ts';

const txs = testTransactions(6, { prefix: 'inv', cards: 2 });
const bytesOf = (tx: Transaction) => Buffer.from(JSON.stringify(tx));

/** A decision as the stages write it (router/pure/decision.ts): decisionId and final left out when they follow. */
function decision(tx: Transaction, over: Partial<Pick<Decision, 'stage' | 'action'>> = {}): string {
  const stage = over.stage ?? 'detect';
  const d = buildDecision(
    { txId: tx.txId, cardId: tx.cardId, tx, scores: {}, topFeatures: [], versions: { model: 'rules-only', policy: 1 } },
    { stage, action: over.action ?? 'ALLOW', reason: 'r', rulesFired: [], timings: {}, decidedAt: 1 },
  );
  return encodeDecision(d);
}

function letter(raw: Buffer | null, reason: string, extra: Record<string, unknown> = {}): string {
  const l: DeadLetter = { sourceTopic: 't', partition: 0, offset: '0', key: null, rawBase64: (raw ?? Buffer.alloc(0)).toString('base64'), reason, stage: 'detect', failedAt: 1 };
  return JSON.stringify({ ...l, ...extra });
}

/** A clean world: every transaction decided once by detect, two invalid messages dead-lettered, one conflict. */
function world(): CheckInput & { ledger: Map<string, Expectation> } {
  const ledger = new Map<string, Expectation>();
  const inputs: CheckInput['inputs'][number][] = [];
  let offset = 0;
  const put = (value: Buffer | null, e: Expectation) => {
    ledger.set(sha256(value), e);
    inputs.push({ hash: sha256(value), partition: 0, offset: String(offset++) });
  };
  for (const tx of txs) put(bytesOf(tx), { kind: 'valid', txId: tx.txId, cardId: tx.cardId, tx });
  const bad1 = Buffer.from('not json');
  const bad2 = Buffer.from('{"txId":5}');
  put(bad1, { kind: 'invalid' });
  put(bad2, { kind: 'invalid' });
  const conflict = bytesOf({ ...txs[0]!, amountMinor: 1 });
  put(conflict, { kind: 'conflict', txId: txs[0]!.txId });
  return {
    ledger,
    inputs,
    decisions: txs.map((t) => decision(t)),
    deadLetters: [letter(bad1, 'not JSON'), letter(bad2, 'schema: txId'), letter(conflict, 'conflicting duplicate')],
    cases: [],
    labels: [],
    featureCounts: new Map([
      ['card-0', 3],
      ['card-1', 3],
    ]),
    featureMode: 'exact',
  };
}

describe('chaos invariants', () => {
  it('a clean run: nothing lost, nothing twice, no violations', () => {
    const r = checkInvariants(world());
    expect(r).toMatchObject({ in: 9, decided: 6, lost: 0, decidedTwice: 0, deadLettered: 3, messages: 9 });
    expect(r.violations).toEqual([]);
  });

  it('a missing decision is lost', () => {
    const w = world();
    const r = checkInvariants({ ...w, decisions: w.decisions.slice(1) });
    expect(r.lost).toBe(1);
    expect(r.decided).toBe(5);
    expect(r.violations.join('\n')).toMatch(/without a final decision.*inv-0/);
  });

  it('a duplicated decision is decided twice, and so is a second final decision from another stage', () => {
    const w = world();
    expect(checkInvariants({ ...w, decisions: [...w.decisions, w.decisions[2]!] }).decidedTwice).toBe(1);
    const both = checkInvariants({ ...w, decisions: [...w.decisions, decision(txs[3]!, { stage: 'escalate', action: 'BLOCK' })] });
    expect(both.decidedTwice).toBe(1);
    expect(both.violations.join('\n')).toMatch(/more than one final decision/);
  });

  it('a REVIEW decision counts as decided only with its case; an analyst verdict after it is not a second decision', () => {
    const w = world();
    const review = decision(txs[1]!, { stage: 'escalate', action: 'REVIEW' });
    const rest = w.decisions.filter((_, i) => i !== 1);
    expect(checkInvariants({ ...w, decisions: [...rest, review] }).lost).toBe(1);
    const withCase = { ...w, decisions: [...rest, review], cases: [JSON.stringify({ caseId: `case-${txs[1]!.txId}`, txId: txs[1]!.txId })] };
    expect(checkInvariants(withCase)).toMatchObject({ lost: 0, decidedTwice: 0 });
    const verdict = decision(txs[1]!, { stage: 'review' });
    const label = JSON.stringify({ txId: txs[1]!.txId, isFraud: false, scenario: null, source: 'analyst', labeledAt: 2 });
    const closed = [{ caseId: `case-${txs[1]!.txId}`, txId: txs[1]!.txId, status: 'approved' }];
    expect(checkInvariants({ ...withCase, decisions: [...withCase.decisions, verdict], labels: [label], closedCases: closed })).toMatchObject({ lost: 0, decidedTwice: 0, violations: [] });
    const twice = checkInvariants({ ...withCase, decisions: [...withCase.decisions, verdict], labels: [label, label], closedCases: closed });
    expect(twice.decidedTwice).toBe(1);
    const unlabelled = checkInvariants({ ...withCase, decisions: [...withCase.decisions, verdict], closedCases: closed });
    expect(unlabelled.lost).toBe(1);
  });

  it('an invalid message missing from the DLQ is lost; a letter without a reason is a violation', () => {
    const w = world();
    expect(checkInvariants({ ...w, deadLetters: w.deadLetters.slice(1) }).lost).toBe(1);
    const noReason = checkInvariants({ ...w, deadLetters: [letter(Buffer.from('not json'), ' '), ...w.deadLetters.slice(1)] });
    expect(noReason.violations.join('\n')).toMatch(/without a reason/);
  });

  it('a conflicting duplicate must be dead-lettered as one, and never decided in place of the original', () => {
    const w = world();
    const conflictRaw = bytesOf({ ...txs[0]!, amountMinor: 1 });
    const wrongReason = checkInvariants({ ...w, deadLetters: [...w.deadLetters.slice(0, 2), letter(conflictRaw, 'duplicate')] });
    expect(wrongReason.violations.join('\n')).toMatch(/conflicting duplicates dead-lettered with another reason/);
    const decidedCopy = checkInvariants({ ...w, decisions: [decision({ ...txs[0]!, amountMinor: 1 }), ...w.decisions.slice(1)] });
    expect(decidedCopy.violations.join('\n')).toMatch(/different content/);
  });

  it('a truncated dead letter is matched by the sha256 it declares', () => {
    const w = world();
    const big = Buffer.alloc(900 * 1024, 7);
    w.ledger.set(sha256(big), { kind: 'invalid' });
    const inputs = [...w.inputs, { hash: sha256(big), partition: 0, offset: '99' }];
    const truncated = letter(big.subarray(0, 1000), 'not JSON', { sha256: sha256(big), sizeBytes: big.length });
    expect(checkInvariants({ ...w, inputs, deadLetters: [...w.deadLetters, truncated] })).toMatchObject({ lost: 0, deadLettered: 4 });
    expect(checkInvariants({ ...w, inputs }).lost).toBe(1);
  });

  it('two copies of one valid message need one decision; two copies of an invalid one need two letters', () => {
    const w = world();
    const again = [...w.inputs, w.inputs[0]!, w.inputs[6]!];
    const r = checkInvariants({ ...w, inputs: again });
    expect(r.decided).toBe(6);
    expect(r.lost).toBe(1);
    expect(r.messages).toBe(11);
  });

  it('a message the broker acknowledged and the reader never read back is lost and counts in `in`', () => {
    const w = { ...world(), featureCounts: undefined };
    const acknowledged = new Set(w.inputs.map((i) => i.hash));
    expect(checkInvariants({ ...w, acknowledged })).toMatchObject({ in: 9, lost: 0, unread: 0, violations: [] });
    // The first transaction and the first invalid message were acknowledged, but the reader saw neither.
    const unseen = [w.inputs[0]!, w.inputs[6]!];
    const r = checkInvariants({ ...w, acknowledged, inputs: w.inputs.filter((i) => !unseen.includes(i)), decisions: w.decisions.slice(1), deadLetters: w.deadLetters.slice(1) });
    expect(r).toMatchObject({ in: 9, decided: 5, deadLettered: 2, lost: 2, unread: 2 });
    expect(r.violations).toEqual([`2 messages the broker acknowledged that were never read back from the input topic (e.g. "${txs[0]!.txId}", "${w.inputs[6]!.hash.slice(0, 12)}")`]);
    // Without the acknowledgements the same loss is invisible: what the reader never saw is not owed.
    expect(checkInvariants({ ...w, inputs: w.inputs.filter((i) => !unseen.includes(i)), decisions: w.decisions.slice(1), deadLetters: w.deadLetters.slice(1) })).toMatchObject({ in: 7, lost: 0 });
  });

  it('a card counting a transaction twice, or one too few, breaks the feature invariant (at most: only too many)', () => {
    const w = world();
    const counts = new Map([
      ['card-0', 4],
      ['card-1', 2],
    ]);
    expect(checkInvariants({ ...w, featureCounts: counts }).violations.filter((v) => v.includes('feature count'))).toHaveLength(1);
    expect(checkInvariants({ ...w, featureCounts: counts }).violations.join('\n')).toMatch(/2 cards whose feature count differs/);
    const atMost = checkInvariants({ ...w, featureCounts: counts, featureMode: 'atMost' });
    expect(atMost.violations.join('\n')).toMatch(/1 cards counting more transactions than they had.*card-0: 4 vs 3/);
  });

  it('a poison transaction is owed a dead letter and no decision', () => {
    const w = world();
    const pill = testTransactions(1, { prefix: 'chaos-poison' })[0]!;
    w.ledger.set(sha256(bytesOf(pill)), { kind: 'poison', txId: pill.txId });
    const inputs = [...w.inputs, { hash: sha256(bytesOf(pill)), partition: 0, offset: '50' }];
    const decided = checkInvariants({ ...w, inputs, decisions: [...w.decisions, decision(pill)] });
    expect(decided.lost).toBe(1);
    expect(decided.violations.join('\n')).toMatch(/poison transactions decided/);
    expect(checkInvariants({ ...w, inputs, deadLetters: [...w.deadLetters, letter(bytesOf(pill), 'stage logic threw: injected fault')] })).toMatchObject({ lost: 0, violations: [] });
  });

  it('a decision for something that was never a valid input is reported', () => {
    const w = world();
    const stranger = testTransactions(1, { prefix: 'stranger' })[0]!;
    expect(checkInvariants({ ...w, decisions: [...w.decisions, decision(stranger)] }).violations.join('\n')).toMatch(/not valid inputs.*stranger-0/);
  });
});

describe('hold line', () => {
  const line = (o: Record<string, unknown>) => JSON.stringify({ level: 40, msg: 'fault: holding transaction before commit', ...o });
  it('reads the partition and the offsets however they are spelled', () => {
    expect(parseHoldLine(line({ partition: 2, offsets: ['10', '11', '14'] }))).toMatchObject({ partition: 2, first: 10n, last: 14n });
    expect(parseHoldLine(line({ partition: 0, offsets: '5-9' }))).toMatchObject({ partition: 0, first: 5n, last: 9n });
    expect(parseHoldLine(line({ partition: 1, firstOffset: '3', lastOffset: '4' }))).toMatchObject({ partition: 1, first: 3n, last: 4n });
    expect(parseHoldLine(line({ partition: 1, offsets: { first: 7, last: 8 } }))).toMatchObject({ first: 7n, last: 8n });
    expect(parseHoldLine(line({ partition: 4 }))).toEqual({ partition: 4 });
  });
  it('ignores other lines', () => {
    expect(parseHoldLine('{"msg":"stage started","partition":1}')).toBeUndefined();
    expect(parseHoldLine('fault: holding transaction before commit (not json)')).toBeUndefined();
    expect(parseHoldLine(line({}))).toBeUndefined();
  });
});

describe('chaos report', () => {
  const ok: ScenarioResult = { name: 'a', in: 10, decided: 10, lost: 0, decidedTwice: 0, deadLettered: 0, recoverySeconds: 1.5, ok: true, messages: 10, seconds: 30, violations: [], notes: [] };
  it('exits non-zero on anything lost, decided twice or not ok', () => {
    expect(exitCode([ok])).toBe(0);
    expect(exitCode([ok, { ...ok, lost: 1 }])).toBe(1);
    expect(exitCode([{ ...ok, decidedTwice: 2 }])).toBe(1);
    expect(exitCode([{ ...ok, ok: false }])).toBe(1);
  });
  it('prints one row per scenario and the violations of the failed ones', () => {
    const t = table([ok, { ...ok, name: 'broken', lost: 3, ok: false, recoverySeconds: null, violations: ['3 valid transactions without a final decision'] }]);
    expect(t.split('\n')[0]).toMatch(/scenario\s+in\s+decided\s+lost\s+decidedTwice\s+deadLettered\s+recovery s\s+ok/);
    expect(t).toMatch(/broken\s+10\s+10\s+3\s+0\s+0\s+-\s+NO/);
    expect(t).toContain('  - 3 valid transactions without a final decision');
  });
});
