/**
 * Layers point one way (docs: ARCHITECTURE.md "Where shared state lives"):
 *   core <- state <- detectors <- router (stages, services) <- review-ui <- cli
 * A module imports only from its own layer or below. Beside the line:
 * - producers/ (the simulator) is a client of the system: it may use detectors' reference data and pure helpers,
 *   and only the console (replay controls), the CLI, bench/, the chaos harness and tests may drive it;
 * - infra/ starts local services and needs only core; infra/chaos/ is a harness that drives the pipeline and the
 *   console's stores (it makes reviewer accounts to snapshot before a wipe);
 * - bench/ and tests/ may import anything; nothing else imports them.
 * Type-only imports count: a type one floor too high is the back-edge this rule exists to catch.
 */
import path from 'node:path';

export const ROOT = import.meta.dirname;

/** The one-way order, lowest first. */
export const ORDER = ['core', 'state', 'detectors', 'router', 'review-ui', 'cli'];

const below = (layer) => ORDER.slice(0, ORDER.indexOf(layer) + 1);

/** What each folder may import (its own folder always). A folder not listed here is not checked. */
export const MAY_IMPORT = {
  core: below('core'),
  state: below('state'),
  detectors: below('detectors'),
  producers: [...below('detectors'), 'producers'],
  router: below('router'),
  'review-ui': [...below('review-ui'), 'producers'],
  cli: [...below('cli'), 'producers', 'infra', 'infra/chaos', 'bench'],
  infra: ['core', 'infra'],
  'infra/chaos': [...below('review-ui'), 'producers', 'infra', 'infra/chaos'],
  bench: 'anything',
  tests: 'anything',
};

/** The layer a repository path belongs to ('infra/chaos' is its own; review-ui/web is review-ui). */
export function layerOf(relPath) {
  const parts = relPath.split(/[\\/]/);
  if (parts.length < 2 || parts[0] === '..') return undefined;
  if (parts[0] === 'infra' && parts[1] === 'chaos') return 'infra/chaos';
  return parts[0] in MAY_IMPORT ? parts[0] : undefined;
}

/**
 * Edges allowed on purpose, one file each: "importer -> imported" as repository paths. Every entry says why; a
 * new one is a decision for the whole team, not a way to make lint pass.
 */
export const EXCEPTIONS = new Map([
  // Commands that drive the simulator on purpose; detectors' library code (features, models, stores, trainer) never does.
  ['detectors/commands.ts -> producers/world/index.ts', '`train` and `drift` on a generated world: the CLI wiring of detectors/, not its library'],
  ['detectors/warm.ts -> producers/world/index.ts', "warming the feature store replays the model's own training world, which only the generator can rebuild"],
]);


/** @type {import('eslint').Rule.RuleModule} */
export const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports point down the layers: core <- state <- detectors <- router <- review-ui <- cli' },
    schema: [],
    messages: {
      up: '{{from}}/ may not import {{to}}/ ({{target}}): layers point down ({{order}}); {{from}}/ may import {{allowed}}. Move what it needs down a floor, or pass it in.',
    },
  },
  create(context) {
    const file = path.relative(ROOT, context.filename);
    const from = layerOf(file);
    const allowed = from && MAY_IMPORT[from];
    if (!allowed || allowed === 'anything') return {};
    const check = (node, spec) => {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const target = path.relative(ROOT, path.resolve(path.dirname(context.filename), spec));
      const to = layerOf(target);
      if (!to || to === from || allowed.includes(to)) return;
      if (EXCEPTIONS.has(`${file} -> ${target}`)) return;
      context.report({ node, messageId: 'up', data: { from, to, target, order: ORDER.join(' <- '), allowed: allowed.join(', ') } });
    };
    const literal = (source) => (source && source.type === 'Literal' ? source.value : undefined);
    return {
      ImportDeclaration: (node) => check(node.source, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value),
      ExportAllDeclaration: (node) => check(node.source, node.source.value),
      ImportExpression: (node) => check(node.source, literal(node.source)),
      TSImportType: (node) => check(node.argument, literal(node.argument.literal ?? node.argument)),
    };
  },
};

export default { rules: { 'imports-point-down': rule } };
