/**
 * The chaos suite's invariants, checked on what a read_committed reader saw after a scenario:
 * - every valid input has exactly one final decision (a REVIEW decision with its case counts as decided: the
 *   analyst's verdict follows only if someone approves it), and no decisionId appears twice;
 * - every invalid input is on the DLQ with a reason (a conflicting duplicate with reason "conflicting duplicate");
 * - every closed case has exactly one analyst label and one final review decision;
 * - per-card feature counts equal the distinct transactions of the card;
 * - every message the broker acknowledged was read back from the input topic (else it is lost).
 * Pure: the scenario collects the messages and Redis reads, this module judges them.
 */
import { createHash } from 'node:crypto';
import { DecisionTxSchema, DecisionWireSchema, decisionIdOf, type Stage, type Transaction } from '../../../core/contracts.ts';

/** What the pipeline owes one distinct input (keyed by the sha256 of its bytes). */
export type Expectation =
  | { kind: 'valid'; txId: string; cardId: string; tx: Transaction }
  | { kind: 'invalid' }
  | { kind: 'conflict'; txId: string }
  /** A valid transaction whose stage logic throws (FRAUDSTREAM_FAULTS throwOnKey): owed a dead letter, never a decision. */
  | { kind: 'poison'; txId: string };

export interface ObservedInput {
  hash: string;
  partition: number;
  offset: string;
}

export interface ClosedCase {
  caseId: string;
  txId: string;
  status: string;
}

export interface CheckInput {
  ledger: ReadonlyMap<string, Expectation>;
  /** Every message read back from the input topic (copies included). */
  inputs: readonly ObservedInput[];
  /**
   * The sha256 of every message the broker acknowledged to the suite's producer. One the reader never read back from
   * the input topic is lost (it counts in `in` and in `lost`), not ignored; undefined skips the reconciliation.
   */
  acknowledged?: ReadonlySet<string>;
  /** Raw values read with read_committed. */
  decisions: readonly string[];
  deadLetters: readonly string[];
  cases: readonly string[];
  labels: readonly string[];
  /** Cases an analyst closed (from the review queue in Redis). */
  closedCases?: readonly ClosedCase[];
  /** Transactions applied per card, read from the feature store; undefined skips the check. */
  featureCounts?: ReadonlyMap<string, number>;
  /** exact: counts equal the distinct transactions; atMost: never above (Redis lost its state on purpose). */
  featureMode?: 'exact' | 'atMost';
}

export interface CheckResult {
  /**
   * Outcomes owed: distinct valid transactions + messages owed a dead letter, as read back, + acknowledged messages
   * never read back (in = decided + deadLettered + lost, verdicts aside).
   */
  in: number;
  /** Valid transactions with their final decision (or a REVIEW decision and its case). */
  decided: number;
  /** Outcomes owed and not found: acknowledged messages never read back, undecided transactions, missing dead letters, closed cases without label or decision. */
  lost: number;
  /** Transactions with more than one final decision, a repeated decisionId, or (closed cases) more than one label. */
  decidedTwice: number;
  deadLettered: number;
  /** Messages read back from the input topic, copies included. */
  messages: number;
  /** Distinct messages the broker acknowledged that the reader never read back (part of `lost`). */
  unread: number;
  violations: string[];
}

export function sha256(value: Buffer | Uint8Array | null | undefined): string {
  return createHash('sha256')
    .update(value ?? Buffer.alloc(0))
    .digest('hex');
}

/** JSON with object keys sorted, so two equal values compare equal whatever order their keys were written in. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}

interface DecisionView {
  decisionId: string;
  txId: string;
  final: boolean;
  action: string;
  stage: string;
  tx: unknown;
}

/** The fields of a transaction its decision carries (core/contracts.ts DecisionTxSchema), to compare with what was sent. */
function carried(tx: Transaction): Record<string, unknown> {
  return Object.fromEntries(Object.keys(DecisionTxSchema.shape).map((k) => [k, tx[k as keyof Transaction]]));
}

function parseObject(raw: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(raw);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function decisionView(raw: string): DecisionView | undefined {
  const o = parseObject(raw);
  if (!o || typeof o.txId !== 'string' || typeof o.stage !== 'string') return undefined;
  // The topic may leave out what follows from other fields (core/contracts.ts DecisionWireSchema).
  const decisionId = o.decisionId === undefined ? decisionIdOf(o.txId, o.stage as Stage) : o.decisionId;
  const final = o.final === undefined ? o.action !== 'REVIEW' : o.final;
  if (typeof decisionId !== 'string' || typeof final !== 'boolean') return undefined;
  // The wire names the transaction's fields by position: compared as the object a reader gets (raw when it does not parse).
  const tx = DecisionWireSchema.shape.tx.safeParse(o.tx);
  return { decisionId, txId: o.txId, final, action: String(o.action), stage: o.stage, tx: tx.success ? tx.data : o.tx };
}

/**
 * The hashes a dead letter may stand for: of its raw bytes, and (when the runner truncated the payload to fit the
 * topic) the sha256 it declares for the original.
 */
export function deadLetterHashes(letter: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of ['sha256', 'rawSha256', 'payloadSha256', 'valueSha256']) {
    const v = letter[k];
    if (typeof v === 'string' && /^[0-9a-f]{64}$/i.test(v)) out.push(v.toLowerCase());
  }
  if (typeof letter.rawBase64 === 'string') out.push(sha256(Buffer.from(letter.rawBase64, 'base64')));
  return out;
}

class Tally {
  private readonly items = new Map<string, { n: number; examples: string[] }>();
  add(what: string, example: string): void {
    const t = this.items.get(what) ?? { n: 0, examples: [] };
    t.n += 1;
    if (t.examples.length < 3) t.examples.push(example);
    this.items.set(what, t);
  }
  lines(): string[] {
    return [...this.items].map(([what, t]) => `${t.n} ${what} (e.g. ${t.examples.map((e) => JSON.stringify(e)).join(', ')})`);
  }
}

export function checkInvariants(c: CheckInput): CheckResult {
  const v = new Tally();

  // What was really written to the input topic, judged by the ledger.
  const valid = new Map<string, Extract<Expectation, { kind: 'valid' }>>();
  /** hash -> copies on the input topic that are owed a dead letter. */
  const owedLetters = new Map<string, { n: number; exp: Expectation }>();
  for (const input of c.inputs) {
    const exp = c.ledger.get(input.hash);
    if (!exp) {
      v.add('messages on the input topic that the suite never sent', `${input.partition}:${input.offset}`);
      continue;
    }
    if (exp.kind === 'valid') valid.set(exp.txId, exp);
    else {
      const o = owedLetters.get(input.hash) ?? { n: 0, exp };
      o.n += 1;
      owedLetters.set(input.hash, o);
    }
  }

  // What the broker acknowledged must be on the input topic: a send acked and never read back is lost.
  let unread = 0;
  if (c.acknowledged) {
    const read = new Set(c.inputs.map((i) => i.hash));
    for (const h of c.acknowledged) {
      if (read.has(h)) continue;
      const exp = c.ledger.get(h);
      // A valid transaction read back in other bytes (never the case for the suite's traffic) is not unread.
      if (exp?.kind === 'valid' && valid.has(exp.txId)) continue;
      unread += 1;
      v.add('messages the broker acknowledged that were never read back from the input topic', exp && 'txId' in exp ? exp.txId : h.slice(0, 12));
    }
  }

  // Decisions by transaction.
  const byTx = new Map<string, DecisionView[]>();
  const decisionIds = new Map<string, number>();
  for (const raw of c.decisions) {
    const d = decisionView(raw);
    if (!d) {
      v.add('unreadable decisions', raw.slice(0, 80));
      continue;
    }
    const list = byTx.get(d.txId) ?? [];
    list.push(d);
    byTx.set(d.txId, list);
    decisionIds.set(d.decisionId, (decisionIds.get(d.decisionId) ?? 0) + 1);
  }
  const caseTx = new Set<string>();
  for (const raw of c.cases) {
    const o = parseObject(raw);
    if (o && typeof o.txId === 'string') caseTx.add(o.txId);
    else v.add('unreadable cases', raw.slice(0, 80));
  }

  let decided = 0;
  let lost = unread;
  const twice = new Set<string>();
  for (const [txId, exp] of valid) {
    const ds = byTx.get(txId) ?? [];
    const finals = ds.filter((d) => d.final);
    const review = ds.some((d) => !d.final && d.action === 'REVIEW');
    if (finals.length > 0 || (review && caseTx.has(txId))) decided += 1;
    else {
      lost += 1;
      v.add(review ? 'REVIEW decisions without their case' : 'valid transactions without a final decision', txId);
    }
    if (finals.length > 1) {
      twice.add(txId);
      v.add('transactions with more than one final decision', `${txId}: ${finals.map((d) => `${d.stage}:${d.action}`).join(' + ')}`);
    }
    const first = ds[0];
    if (first && canonical(first.tx) !== canonical(carried(exp.tx))) v.add('decisions carrying different content than the transaction sent first', txId);
  }
  for (const [id, n] of decisionIds) {
    if (n < 2) continue;
    const txId = id.slice(0, id.lastIndexOf(':'));
    twice.add(txId);
    v.add('decisionIds published more than once', `${id} x${n}`);
  }

  // Dead letters: each owed copy matched once, by hash (declared when the payload was truncated).
  const letters: Array<{ hashes: string[]; reason: string }> = [];
  for (const raw of c.deadLetters) {
    const o = parseObject(raw);
    if (!o) {
      v.add('unreadable dead letters', raw.slice(0, 80));
      continue;
    }
    letters.push({ hashes: deadLetterHashes(o), reason: typeof o.reason === 'string' ? o.reason : '' });
  }
  let deadLettered = 0;
  const remaining = new Map([...owedLetters].map(([h, o]) => [h, o.n]));
  for (const l of letters) {
    const h = l.hashes.find((x) => (remaining.get(x) ?? 0) > 0);
    if (!h) {
      const aboutValid = l.hashes.map((x) => c.ledger.get(x)).find((e) => e?.kind === 'valid');
      if (aboutValid?.kind === 'valid') v.add('valid transactions sent to the DLQ', aboutValid.txId);
      else v.add('dead letters for no owed input (a copy dead-lettered twice?)', l.reason.slice(0, 80));
      continue;
    }
    remaining.set(h, remaining.get(h)! - 1);
    deadLettered += 1;
    const exp = owedLetters.get(h)!.exp;
    if (!l.reason.trim()) v.add('dead letters without a reason', h.slice(0, 12));
    if (exp.kind === 'conflict' && !/conflicting duplicate/i.test(l.reason)) v.add('conflicting duplicates dead-lettered with another reason', `${exp.txId}: ${l.reason.slice(0, 80)}`);
  }
  for (const [h, n] of remaining) {
    if (n <= 0) continue;
    lost += n;
    const exp = owedLetters.get(h)!.exp;
    v.add(`${exp.kind} inputs not on the DLQ`, 'txId' in exp ? exp.txId : h.slice(0, 12));
  }
  const poison = new Set<string>();
  for (const o of owedLetters.values()) if (o.exp.kind === 'poison') poison.add(o.exp.txId);
  for (const txId of byTx.keys()) {
    if (poison.has(txId)) v.add('poison transactions decided', txId);
    else if (!valid.has(txId)) v.add('decisions for transactions that were not valid inputs', txId);
  }

  // Analyst verdicts: one label and one final review decision per closed case.
  if (c.closedCases?.length) {
    const labels = new Map<string, number>();
    for (const raw of c.labels) {
      const o = parseObject(raw);
      if (o && o.source === 'analyst' && typeof o.txId === 'string') labels.set(o.txId, (labels.get(o.txId) ?? 0) + 1);
    }
    for (const cc of c.closedCases) {
      const n = labels.get(cc.txId) ?? 0;
      const reviewFinal = (byTx.get(cc.txId) ?? []).filter((d) => d.final && d.stage === 'review').length;
      if (n === 0) {
        lost += 1;
        v.add('closed cases without a label', cc.caseId);
      } else if (n > 1) {
        twice.add(cc.txId);
        v.add('closed cases labelled more than once', `${cc.caseId} x${n}`);
      }
      if (reviewFinal === 0) {
        lost += 1;
        v.add('closed cases without their final review decision', cc.caseId);
      }
    }
  }

  // Feature store: each distinct valid transaction applied exactly once to its card.
  if (c.featureCounts) {
    const perCard = new Map<string, number>();
    for (const exp of valid.values()) perCard.set(exp.cardId, (perCard.get(exp.cardId) ?? 0) + 1);
    for (const [card, want] of perCard) {
      const got = c.featureCounts.get(card) ?? 0;
      if (c.featureMode === 'atMost' ? got > want : got !== want) {
        v.add(c.featureMode === 'atMost' ? 'cards counting more transactions than they had' : 'cards whose feature count differs from their distinct transactions', `${card}: ${got} vs ${want}`);
      }
    }
  }

  return {
    in: valid.size + [...owedLetters.values()].reduce((s, o) => s + o.n, 0) + unread,
    decided,
    lost,
    decidedTwice: twice.size,
    deadLettered,
    messages: c.inputs.length,
    unread,
    violations: v.lines(),
  };
}
