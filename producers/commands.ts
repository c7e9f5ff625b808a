import type { Command } from '../cli/command.ts';

/** CLI subcommands owned by this part of the tree; cli/main.ts lists them. */
export const commands: Command[] = [];
