import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import layers from './eslint-layers.js';

// A Redis key family name followed by ':' and a key segment (a space after ':' is prose, e.g. "drift: usage"),
// (the samples list, which has no segment, is caught in templates below)
const redisKey = String.raw`/^(heartbeat|outcome|stats|review|policy|drift|feat|ui|search):(?!\s)/`;
// `${prefix}samples` is a key; the word alone (a CLI flag, a field name) is not.
const redisKeyTemplate = String.raw`/^(heartbeat|outcome|stats|review|policy|drift|feat|ui|search):(?!\s)|^samples$/`;
const redisKeyMessage = 'Redis keys are spelled in state/ only: import the key builder from there';

const io = ['kafkajs', 'ioredis', 'express', 'node:fs', 'node:fs/promises', 'node:net', 'node:http', 'node:child_process'];
const pureIo = io.map((name) => ({ name, message: 'pure modules take I/O through parameters' }));
const noProducers = [{ group: ['**/producers/**'], message: 'detectors/ runs without the simulator: move shared code to detectors/reference/ or core/' }];

export default tseslint.config(
  { ignores: ['node_modules/**', 'review-ui/dist/**', '.cache/**', 'bin/**', 'models/**', 'data/**', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Layers point down: core <- state <- detectors <- router <- review-ui <- cli (eslint-layers.js has the table).
    files: ['**/*.ts'],
    plugins: { layers },
    rules: { 'layers/imports-point-down': 'error' },
  },
  {
    // Pure logic never imports I/O: models, features math and policy evaluation stay testable without services.
    // (detectors' pure folders also keep noProducers: a later block replaces an earlier one's options for the same rule.)
    files: ['router/pure/**/*.ts', 'producers/world/**/*.ts', 'infra/chaos/pure/**/*.ts', 'review-ui/server/pure/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: pureIo }] },
  },
  {
    files: ['detectors/pure/**/*.ts', 'detectors/reference/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: pureIo, patterns: noProducers }] },
  },
  {
    // Every Redis key is spelled in state/: a key family written in two places drifts apart (issue 11).
    files: ['**/*.ts'],
    ignores: ['state/**', 'tests/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: `Literal[value=${redisKey}]`, message: redisKeyMessage },
        { selector: `TemplateElement[value.raw=${redisKeyTemplate}]`, message: redisKeyMessage },
      ],
    },
  },
);
