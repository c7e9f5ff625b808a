/** The synthetic payments world: pure, seeded, no I/O. Import from here. */
export { World, generateStream, HOLIDAY, type WorldEvent, type MerchantInfo } from './world.ts';
export { SCENARIOS, SCENARIO_NAMES, isScenarioName, scenarioInfo, type ScenarioName, type ScenarioInfo } from './scenarios.ts';
export { resolveWorldOptions, WorldOptionsSchema, DEFAULT_START_TS, type WorldOptions, type ResolvedWorldOptions } from './options.ts';
export { CATEGORIES, type Category } from './categories.ts';
export { CITIES, type City } from './geo.ts';
export { Rng } from './rng.ts';
export {
  continueWorld,
  historyCardIds,
  historyEvents,
  historyWorldOptions,
  parseWorldHistory,
  WORLD_GENERATOR,
  WorldHistorySchema,
  type LiveWorldOptions,
  type WorldHistory,
} from './history.ts';
