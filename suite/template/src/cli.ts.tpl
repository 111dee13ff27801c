#!/usr/bin/env node
// The bin: common flags (--root, --once, --log-level, --proc-root, ...) and the plugin's own, then serve.
import { runPluginCli } from '@scope-plugins/core';
import { plugin } from './index.js';

await runPluginCli(plugin);
