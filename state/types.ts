/**
 * What state/'s stores offer router/ and review-ui/: the review queue, the policy store and detect's scored samples
 * (implemented in review.ts, policy.ts and samples.ts; kept here so the layers above depend on the contract).
 */
import type { Case, Policy, PolicyInput, Scores, RuleHit } from '../core/contracts.ts';

export interface ReviewQueue {
  /** Adds an open case (idempotent per caseId). */
  enqueue(c: Case): Promise<void>;
  /** Open cases, highest priority first (risk, then age: older first on ties and as it waits). */
  listOpen(limit: number): Promise<Case[]>;
  openCount(): Promise<number>;
  get(caseId: string): Promise<Case | undefined>;
  /** Closes an open case once; returns the closed case, or undefined if it was not open (already closed or unknown). */
  close(caseId: string, status: 'approved' | 'confirmed_fraud', by: string, note: string): Promise<Case | undefined>;
}

export interface PolicyStore {
  /** The current policy (creates version 1 from defaults on first use). */
  current(): Promise<Policy>;
  /** Validates and stores a new version; returns it. */
  update(input: PolicyInput, by: string): Promise<Policy>;
  history(limit: number): Promise<Policy[]>;
  /** Makes an old version's content current again, as a new version. */
  rollback(version: number, by: string): Promise<Policy>;
}

/** What detect keeps of each recently scored transaction, so a policy change can be previewed on real traffic. */
export interface ScoredSample {
  txId: string;
  cardId: string;
  merchantId: string;
  mcc: string;
  country: string;
  amountMinor: number;
  scores: Scores;
  rulesFired: RuleHit[];
  action: 'ALLOW' | 'BLOCK' | 'REVIEW' | 'ESCALATE';
  /** The transaction's time (epoch ms): the span a preview's reviews per hour are over. Older samples lack it. */
  ts?: number;
  /** Ground truth once a label has come back for the transaction. */
  isFraud?: boolean;
}
