#!/usr/bin/env node
import { limitV8Memory } from '@scope-plugins/core/v8-memory';

// Before the program is even loaded (hence the dynamic imports): loading it alone would grow V8's young
// generation past the size it is kept at for the life of the process (see limitV8Memory).
limitV8Memory();
const { describeError } = await import('@scope-plugins/core');
const { createSuiteProgram } = await import('./program.js');

try {
  await createSuiteProgram().parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`scope-plugins: ${describeError(error)}\n`);
  process.exit(1);
}
