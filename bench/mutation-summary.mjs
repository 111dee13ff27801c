#!/usr/bin/env node
// Turns StrykerJS's JSON report (mutation-testing-report-schema) into the markdown committed as
// bench/results/mutation.md: the score per file and overall, and every surviving mutant with the line
// it changed. Run by `pnpm mutation` after Stryker; by hand: node bench/mutation-summary.mjs <report.json>
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const file = process.argv[2] ?? 'shared/core/reports/mutation/mutation.json';
const report = JSON.parse(readFileSync(file, 'utf8'));
const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

const rows = [];
const survivors = [];
const all = { detected: 0, undetected: 0, other: 0 };
for (const [path, { source, mutants }] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
  const lines = source.split('\n');
  const count = { detected: 0, undetected: 0, other: 0 };
  for (const mutant of mutants) {
    if (DETECTED.has(mutant.status)) count.detected++;
    else if (UNDETECTED.has(mutant.status)) {
      count.undetected++;
      const line = mutant.location.start.line;
      survivors.push({ path, line, status: mutant.status, mutator: mutant.mutatorName, replacement: mutant.replacement ?? '', code: (lines[line - 1] ?? '').trim() });
    } else count.other++;
  }
  for (const key of Object.keys(all)) all[key] += count[key];
  rows.push({ path, ...count });
}

const score = (c) => (c.detected + c.undetected === 0 ? 'n/a' : `${((100 * c.detected) / (c.detected + c.undetected)).toFixed(1)} %`);
const cell = (text) => String(text).replaceAll('|', '\\|').replaceAll('\n', ' ').slice(0, 120);
const out = [];
out.push('# Mutation check: report guard and doctor (shared/core)');
out.push('');
out.push('Command: `pnpm mutation` (StrykerJS 9.6 with the vitest runner; config `shared/core/stryker.config.mjs`,');
out.push('tests `shared/core/vitest.mutation.config.ts`). Not part of `pnpm test`.');
out.push('');
out.push(`Score (killed or timed out / all with a verdict): **${score(all)}** — ${all.detected} detected, ${all.undetected} survived or not covered, ${all.other} not counted (compile/runtime errors, ignored).`);
out.push('');
const noStrings = { detected: 0, undetected: 0 };
const byMutator = new Map();
for (const { mutants } of Object.values(report.files)) {
  for (const mutant of mutants) {
    const verdict = DETECTED.has(mutant.status) ? 'detected' : UNDETECTED.has(mutant.status) ? 'undetected' : undefined;
    if (!verdict) continue;
    const entry = byMutator.get(mutant.mutatorName) ?? { detected: 0, undetected: 0 };
    entry[verdict]++;
    byMutator.set(mutant.mutatorName, entry);
    if (mutant.mutatorName !== 'StringLiteral') noStrings[verdict]++;
  }
}
out.push(`Without string-literal mutants (message wording, ids in messages): **${score(noStrings)}** — ${noStrings.detected} detected, ${noStrings.undetected} undetected.`);
out.push('');
const notes = (() => {
  try {
    return readFileSync(new URL('./mutation-notes.md', import.meta.url), 'utf8').trim();
  } catch {
    return '';
  }
})();
if (notes) out.push(notes, '');
out.push('| mutator | detected | survived / no coverage | score |');
out.push('|---|---:|---:|---:|');
for (const [name, c] of [...byMutator].sort(([, a], [, b]) => b.undetected - a.undetected)) out.push(`| ${name} | ${c.detected} | ${c.undetected} | ${score(c)} |`);
out.push('');
out.push('| file | detected | survived / no coverage | score |');
out.push('|---|---:|---:|---:|');
for (const row of rows) out.push(`| ${relative('.', row.path)} | ${row.detected} | ${row.undetected} | ${score(row)} |`);
out.push('');
out.push(`## Survivors (${survivors.length})`);
out.push('');
out.push('| file:line | status | mutator | replacement | original line |');
out.push('|---|---|---|---|---|');
for (const s of survivors) out.push(`| ${s.path}:${s.line} | ${s.status} | ${s.mutator} | \`${cell(s.replacement)}\` | \`${cell(s.code)}\` |`);
console.log(out.join('\n'));
