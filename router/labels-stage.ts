/**
 * Stage "labels": labels as they arrive (chargebacks, analysts' verdicts) become feature inputs. A transaction's
 * first fraud label counts against its merchant (and every label-risk entity of the spec) in the feature store,
 * visible to detect's vectors of transactions at or after the label's labeledAt. Idempotent per txId (the store
 * claims it), so a redelivered batch counts nothing twice. Writes no topic.
 */
import { LabelSchema, type Label } from '../core/contracts.ts';
import type { FeatureStore } from '../detectors/types.ts';
import type { StageLogic } from './runner/batch-processor.ts';

export function labelsLogic(deps: { features: FeatureStore }): StageLogic<Label> {
  return {
    name: 'labels',
    schema: LabelSchema,
    // analyst and chargeback labels of one transaction are two inputs; the store counts its fraud once
    keyOf: (l) => `${l.source}:${l.txId}`,
    async handle(inputs) {
      await deps.features.applyLabels(inputs.map((i) => i.value));
      return inputs.map(() => []);
    },
  };
}
