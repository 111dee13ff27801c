import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** Options of {@link limitV8Memory}. */
export interface V8MemoryOptions {
  /** Largest semi-space in MiB (V8's young generation is two of them; V8's own default grows to 16). @default 1 */
  semiSpaceMiB?: number;
  /** Highest V8 tier: 1 = Sparkplug baseline code, no TurboFan (V8's own default, 999, allows any). @default 1 */
  maxOptTier?: number;
  /** The node command-line flags; an operator's own flag for either setting wins. @default process.execArgv */
  execArgv?: readonly string[];
  /** Environment holding NODE_OPTIONS. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** What {@link limitV8Memory} did for each setting: `operator-flag` when the operator's own flag was kept. */
export interface V8MemoryOutcome {
  youngGeneration: 'limited' | 'limiting' | 'operator-flag';
  maxOpt: 'limited' | 'operator-flag';
}

const YOUNG_FLAG = /--(max|min)[-_]semi[-_]space[-_]size|--semi[-_]space[-_]growth[-_]factor/;
const OPT_FLAG = /--max[-_]opt\b|--(no[-_])?turbofan\b|--(no[-_])?opt\b/;

function semiSpaceBytes(): number {
  const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  // V8 reports the young generation as both semi-spaces together.
  return (newSpace?.space_size ?? 0) / 2;
}

function validateSize(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${name} must be a positive number, got ${String(value)}`);
  return value;
}

/**
 * Applies, from inside the process, the two V8 settings that keep a plugin host small (measured in
 * suite/README.md, Memory), for a process started any way (bin, `node dist/cli.js`, the image, the DaemonSet):
 * - the young generation stays at about `semiSpaceMiB` per semi-space, as `node --max-semi-space-size` would
 *   (V8 grows it to 16 MiB per semi-space under a few MiB/s of allocation: 32 MiB of RSS). That flag is read only
 *   when the heap is set up; the growth factor is read at each growth, so it is set to 1 once the size is reached;
 * - no function is optimized beyond `maxOptTier` (default: Sparkplug, no TurboFan), as `node --max-opt` would:
 *   TurboFan's compiler pages, compile zones and optimized code cost ~7 MiB, and its compiles cost more CPU than
 *   they saved at one collection a second.
 * Call it first thing in a CLI's entry module, before the program is imported. A flag the operator gave for either
 * setting (command line or NODE_OPTIONS) keeps that setting as the operator chose. Throws a TypeError for bad sizes.
 */
export function limitV8Memory(options: V8MemoryOptions = {}): V8MemoryOutcome {
  const semiSpaceMiB = validateSize('semiSpaceMiB', options.semiSpaceMiB ?? 1);
  const maxOptTier = options.maxOptTier ?? 1;
  if (!Number.isInteger(maxOptTier) || maxOptTier < 0) throw new TypeError(`maxOptTier must be a non-negative integer, got ${String(maxOptTier)}`);
  const given = [...(options.execArgv ?? process.execArgv), (options.env ?? process.env)['NODE_OPTIONS'] ?? ''];
  const operatorSet = (flag: RegExp) => given.some((arg) => flag.test(arg));

  let maxOpt: V8MemoryOutcome['maxOpt'] = 'operator-flag';
  if (!operatorSet(OPT_FLAG)) {
    setFlagsFromString(`--max-opt=${maxOptTier}`);
    maxOpt = 'limited';
  }

  if (operatorSet(YOUNG_FLAG)) return { youngGeneration: 'operator-flag', maxOpt };
  const target = semiSpaceMiB * 1024 * 1024;
  if (semiSpaceBytes() >= target) {
    setFlagsFromString('--semi-space-growth-factor=1');
    return { youngGeneration: 'limited', maxOpt };
  }
  // Smaller than the target so far: let it double up to it, and stop it at the first scavenge that got there.
  const observer = new PerformanceObserver(() => {
    if (semiSpaceBytes() < target) return;
    setFlagsFromString('--semi-space-growth-factor=1');
    observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
  return { youngGeneration: 'limiting', maxOpt };
}
