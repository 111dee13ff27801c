#!/usr/bin/env node
// A committed launcher, so pnpm and npm link this bin even before dist/ is built (a bin whose file is
// missing at install time is never linked); the program itself is dist/doctor/cli.js.
import '../dist/doctor/cli.js';
