import { Command } from 'commander';
import { addCommonOptions, addPluginOptions, createDoctorCommand, readCommonFlags, runPlugins } from '@scope-plugins/core';
import { addNewCommand } from './new/command.js';
import { SUITE_PLUGINS, selectPlugins } from './plugins.js';

/** The `scope-plugins` program: `run [id...]`, `doctor <socket-or-root>`, `new <id>`, `list`. */
export function createSuiteProgram(): Command {
  const program = new Command('scope-plugins')
    .description('Host-monitoring plugins for Weave Scope, hosted in one process, plus a protocol doctor for any plugin.')
    .showHelpAfterError();

  const run = program
    .command('run')
    .description(`Serve the named plugins (all when none: ${[...SUITE_PLUGINS.keys()].join(', ')}) in this process, each on <root>/<id>/<id>.sock. A plugin whose data source is missing keeps serving and says what is wrong.`)
    .argument('[ids...]', 'plugin ids to run')
    .showHelpAfterError();
  addCommonOptions(run);
  // Every plugin's flags, namespaced (`--iowait.mode`); the Docker ones are process-wide (`--docker-host`).
  const pluginOptions = addPluginOptions(run, [...SUITE_PLUGINS.values()], 'suite');
  run.action(async (ids: string[], opts: Record<string, unknown>, command: Command) => {
    await runPlugins(selectPlugins(ids), readCommonFlags(opts), { ...pluginOptions.read(command), style: 'suite' });
  });

  createDoctorCommand(program.command('doctor'));

  addNewCommand(program);

  program
    .command('list')
    .description('List the plugins of the suite')
    .action(() => {
      for (const definition of SUITE_PLUGINS.values()) process.stdout.write(`${definition.id}\t${definition.label}: ${definition.description}\n`);
    });
  return program;
}
