export { heavyBackend, heavyBackendSelection, BackendChoices, type BackendChoice, type BackendSelection } from './backend.ts';
export {
  trainHeavy,
  HeavyModel,
  HEAVY_DEFAULTS,
  HeavyArchs,
  HeavyLosses,
  type HeavyArch,
  type HeavyLoss,
  type HeavyItem,
  type HeavyMeta,
  type HeavyEpochLogs,
  type HeavyTrainingSummary,
  type HeavyValidation,
  type TrainHeavyInput,
  type Vec,
} from './model.ts';
export { loadHeavy, HEAVY_FILES } from './io.ts';
