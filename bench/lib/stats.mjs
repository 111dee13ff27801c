// Small statistics and machine facts shared by the benchmarks' result files.
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release } from 'node:os';

/** Median (mean of the middle two for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** { median, min, max } of a list. */
export function spread(xs) {
  xs = xs.filter((x) => Number.isFinite(x));
  if (xs.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/** "median (min–max)" with `digits` decimals. */
export function formatSpread(s, digits = 0) {
  if (!Number.isFinite(s.median)) return '–';
  const f = (x) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

function tryExec(file, args) {
  try {
    return execFileSync(file, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** Machine, date and commit, for the head of every result file. */
export function describeRun() {
  return {
    date: new Date().toISOString(),
    commit: tryExec('git', ['rev-parse', '--short', 'HEAD']) + (tryExec('git', ['status', '--porcelain', '--untracked-files=no']) === '' ? '' : '+dirty'),
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    kernel: release(),
    node: process.version,
    bpftrace: tryExec('bpftrace', ['--version']),
    loadavg: loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

/** The markdown lines describing a run. */
export function describeRunMarkdown(run, command) {
  return [
    `Command (repo root, after \`pnpm run build\`): \`${command}\``,
    '',
    `Machine: ${run.cpus}, kernel ${run.kernel}, Node ${run.node}, ${run.bpftrace}; commit ${run.commit}; run ${run.date}; load average at start ${run.loadavg} (other work shares the machine).`,
  ].join('\n');
}
