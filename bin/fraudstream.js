#!/usr/bin/env -S node --max-semi-space-size=64
// Thin launcher: the CLI is TypeScript, run through tsx's loader so no build step is needed.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
