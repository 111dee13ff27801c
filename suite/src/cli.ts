#!/usr/bin/env node
import { describeError } from '@scope-plugins/core';
import { createSuiteProgram } from './program.js';

try {
  await createSuiteProgram().parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`scope-plugins: ${describeError(error)}\n`);
  process.exit(1);
}
