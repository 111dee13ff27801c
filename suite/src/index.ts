/** The scope-plugins suite: all plugins in one process. */
export { SUITE_PLUGINS, selectPlugins } from './plugins.js';
export { createSuiteProgram } from './program.js';
export { generatePlugin, validateNewPluginId, type GenerateOptions, type GeneratedPlugin } from './new/generate.js';
