#!/usr/bin/env node
import { runPluginCli } from '@scope-plugins/core';
import { plugin } from './index.js';
await runPluginCli(plugin);
//# sourceMappingURL=cli.js.map