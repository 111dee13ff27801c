import type { Command } from 'commander';
import { PLUGIN_ID_PATTERN } from '@scope-plugins/core';
import { generatePlugin } from './generate.js';

/** Adds `new <id> [--dir DIR]` to the suite's program. */
export function addNewCommand(program: Command): Command {
  return program
    .command('new')
    .description(
      'Write a new plugin package (definition, collector, parser, tests on a fixture, README, bin) on @scope-plugins/core that builds, passes its tests and the doctor as it is: inside this repository\'s pnpm workspace (plugins/<id>) or anywhere else for plain npm',
    )
    .argument('<id>', `plugin id, also the socket's name: Scope's rule ${PLUGIN_ID_PATTERN}, lowercase (it names the npm package too)`)
    .option('--dir <dir>', "where to write it (default: plugins/<id> when run inside this repository's workspace, else ./<id>); must not exist or be empty")
    .showHelpAfterError()
    .action(async (id: string, opts: { dir?: string }) => {
      const made = await generatePlugin({ id, ...(opts.dir !== undefined ? { dir: opts.dir } : {}) });
      process.stdout.write(`wrote ${made.packageName} in ${made.dir}${made.workspaceRoot ? ` (a package of the workspace at ${made.workspaceRoot})` : ''}:\n`);
      for (const file of made.files) process.stdout.write(`  ${file}\n`);
      process.stdout.write(`\nnext:\n${made.nextSteps.map((step) => `  ${step}`).join('\n')}\n`);
    });
}
