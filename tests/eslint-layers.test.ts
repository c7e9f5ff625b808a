import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { EXCEPTIONS, layerOf, MAY_IMPORT, ORDER, ROOT, rule } from '../eslint-layers.js';

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;

const at = (file: string) => path.join(ROOT, file);
const tester = new RuleTester({ languageOptions: { parser: tseslint.parser, ecmaVersion: 2022, sourceType: 'module' } });

describe('layers point down (eslint-layers.js)', () => {
  it('the order is the one ARCHITECTURE.md states', () => {
    expect(ORDER).toEqual(['core', 'state', 'detectors', 'router', 'review-ui', 'cli']);
    expect(layerOf('review-ui/web/src/api.ts')).toBe('review-ui');
    expect(layerOf('infra/chaos/runner.ts')).toBe('infra/chaos');
    expect(layerOf('infra/services.ts')).toBe('infra');
    expect(layerOf('eslint.config.js')).toBeUndefined();
  });

  it('no layer may import one above it, nor bench/ or tests/', () => {
    for (const [i, layer] of ORDER.entries()) {
      const allowed = MAY_IMPORT[layer];
      if (allowed === 'anything') throw new Error(`${layer} may import anything`);
      for (const above of ORDER.slice(i + 1)) expect(allowed, `${layer} -> ${above}`).not.toContain(above);
      expect(allowed).not.toContain('tests');
      if (layer !== 'cli') expect(allowed).not.toContain('bench');
    }
    expect(MAY_IMPORT.router).not.toContain('producers');
  });

  it('every exception names a reason and an import that still exists', () => {
    for (const [edge, why] of EXCEPTIONS) {
      expect(why.length, edge).toBeGreaterThan(20);
      const [from, to] = edge.split(' -> ') as [string, string];
      const spec = path.relative(path.dirname(from), to);
      expect(readFileSync(at(from), 'utf8'), edge).toContain(`'${spec.startsWith('.') ? spec : `./${spec}`}'`);
    }
  });

  tester.run('imports-point-down', rule, {
    valid: [
      { filename: at('state/x.ts'), code: "import { a } from '../core/config.ts';" },
      { filename: at('router/pure/x.ts'), code: "import type { T } from '../../detectors/types.ts'; import { b } from './y.ts';" },
      { filename: at('review-ui/web/src/x.ts'), code: "import { m } from '../../../router/pure/money.ts';" },
      { filename: at('review-ui/server/x.ts'), code: "import { s } from '../../producers/simulator.ts';" },
      { filename: at('bench/x.ts'), code: "import { live } from '../review-ui/server/live.ts';" },
      { filename: at('tests/router/x.test.ts'), code: "import { c } from '../../cli/commands.ts';" },
      { filename: at('cli/x.ts'), code: "import { commands } from '../bench/commands.ts';" },
      { filename: at('core/x.ts'), code: "import { z } from 'zod';" },
    ],
    invalid: [
      { filename: at('core/x.ts'), code: "import { FEATURE_NAMES } from '../detectors/features.ts';", errors: [{ messageId: 'up' }] },
      { filename: at('state/x.ts'), code: "import type { StageName } from '../router/stages.ts';", errors: [{ messageId: 'up' }] },
      { filename: at('state/x.ts'), code: "export { x } from '../router/pure/shadow.ts';", errors: [{ messageId: 'up' }] },
      { filename: at('state/x.ts'), code: "export * from '../detectors/types.ts';", errors: [{ messageId: 'up' }] },
      { filename: at('router/x.ts'), code: "const m = await import('../review-ui/server/live.ts');", errors: [{ messageId: 'up' }] },
      { filename: at('router/x.ts'), code: "let t: import('../review-ui/server/live.ts').CardTx;", errors: [{ messageId: 'up' }] },
      { filename: at('router/x.ts'), code: "import { World } from '../producers/world/index.ts';", errors: [{ messageId: 'up' }] },
      { filename: at('router/x.ts'), code: "import { runBench } from '../bench/pipeline.ts';", errors: [{ messageId: 'up' }] },
      { filename: at('detectors/x.ts'), code: "import { h } from '../tests/helpers/services.ts';", errors: [{ messageId: 'up' }] },
      { filename: at('infra/services.ts'), code: "import { x } from '../state/ui.ts';", errors: [{ messageId: 'up' }] },
      { filename: at('review-ui/x.ts'), code: "import { allCommands } from '../cli/commands.ts';", errors: [{ messageId: 'up' }] },
    ],
  });
});
