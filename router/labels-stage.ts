/**
 * Stage "labels": labels as they arrive (chargebacks, analysts' verdicts) become feature inputs. A transaction's
 * first fraud label counts against its merchant (and every label-risk entity of the spec) in the feature store,
 * visible to detect's vectors of transactions at or after the label's labeledAt. Idempotent per txId (the store
 * claims it), so a redelivered batch counts nothing twice. Writes no topic. After each committed batch the labels also
 * join the rule statistics (state/rule-evidence.ts; the ops service adds the decisions side): the stage is the one
 * consumer of the labels topic.
 */
import { LabelSchema, type Label } from '../core/contracts.ts';
import type { FeatureStore } from '../detectors/types.ts';
import type { RuleEvidenceStore } from '../state/rule-evidence.ts';
import type { StageLogic } from './runner/batch-processor.ts';
import type { OutMessage } from './runner/batch.ts';

export function labelsLogic(deps: { features: FeatureStore; evidence?: Pick<RuleEvidenceStore, 'onLabels'> }): StageLogic<Label> {
  const pending = new WeakMap<OutMessage[], Label>();
  return {
    name: 'labels',
    schema: LabelSchema,
    // analyst and chargeback labels of one transaction are two inputs; the store counts its fraud once
    keyOf: (l) => `${l.source}:${l.txId}`,
    async handle(inputs) {
      await deps.features.applyLabels(inputs.map((i) => i.value));
      return inputs.map((i) => {
        const none: OutMessage[] = [];
        pending.set(none, i.value);
        return none;
      });
    },
    async afterCommit(outputs) {
      const labels = outputs.map((o) => pending.get(o)).filter((l) => l !== undefined);
      await deps.evidence?.onLabels(labels.map((l) => ({ txId: l.txId, isFraud: l.isFraud })));
    },
  };
}
