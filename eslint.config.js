import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const io = ['kafkajs', 'ioredis', 'express', 'node:fs', 'node:fs/promises', 'node:net', 'node:http', 'node:child_process'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'review-ui/dist/**', '.cache/**', 'bin/**', 'models/**', 'data/**'] },
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
    // Pure logic never imports I/O: models, features math and policy evaluation stay testable without services.
    files: ['detectors/pure/**/*.ts', 'router/pure/**/*.ts', 'producers/world/**/*.ts', 'infra/chaos/pure/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: io.map((name) => ({ name, message: 'pure modules take I/O through parameters' })) }] },
  },
);
