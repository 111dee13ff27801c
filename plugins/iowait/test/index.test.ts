import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { diagnoseReportBody, hostNodeId, resolveOptionValues, type Report, type Sample } from '@scope-plugins/core';
import { renderNode, requireComponent, startTestPlugin, type TestPlugin } from '@scope-plugins/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { DISK_TABLE_PREFIX, IDLE_METRIC, IOWAIT_METRIC, LATEST_KEYS, SWITCH_TO_IDLE, SWITCH_TO_IOWAIT, diskExcludePattern, plugin } from '../src/index.js';
import { canRun, hostNode, readRawCpu, runIostat, sleep, startIo, type RawCpu } from './helpers.js';

const HOST_ID = 'test-host';
const NODE_ID = hostNodeId(HOST_ID);
const hasPsi = existsSync('/proc/pressure/io');

let running: TestPlugin | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

async function start(options: Record<string, unknown> = {}): Promise<TestPlugin> {
  running = await startTestPlugin(plugin, { hostId: HOST_ID, options, logLevel: 'debug' });
  return running;
}

function samples(report: Report, metric: string): Sample[] {
  return hostNode(report, NODE_ID)?.metrics?.[metric]?.samples ?? [];
}

function latest(report: Report, key: string): string | undefined {
  return hostNode(report, NODE_ID)?.latest?.[key]?.value;
}

describe('the option schema (validated by core)', () => {
  const resolveIowaitOptions = (input: Record<string, unknown>) => resolveOptionValues(plugin.id, plugin.options, input);

  it('fills in the defaults', () => {
    expect(resolveIowaitOptions({})).toEqual({ mode: 'iowait', windowMs: 60_000, diskExclude: '^(loop|ram|zram)[0-9]+$', diskPartitions: false, diskInfo: true });
  });

  it('by default leaves loop, ram and zram devices out of the table and keeps every kind of real disk', () => {
    const diskExclude = diskExcludePattern(resolveIowaitOptions({}).diskExclude);
    const names = ['loop0', 'loop12', 'ram0', 'zram1', 'sda', 'sdaa', 'vda', 'xvdb', 'nvme0n1', 'mmcblk0', 'dm-0', 'md127', 'nbd10', 'loopy', 'sram0x'];
    expect(names.filter((name) => diskExclude?.test(name))).toEqual(['loop0', 'loop12', 'ram0', 'zram1']);
    // "" keeps everything (the flag's documented way to turn the filter off).
    expect(diskExcludePattern(resolveIowaitOptions({ diskExclude: '' }).diskExclude)).toBeUndefined();
  });

  it('refuses bad values with a TypeError that shows them', () => {
    expect(() => resolveIowaitOptions({ mode: 'busy' })).toThrow(new TypeError('iowait: --mode (env SCOPE_IOWAIT_MODE) must be one of iowait, idle, got "busy"'));
    expect(() => resolveIowaitOptions({ windowMs: '500' })).toThrow(new TypeError('iowait: --window-ms (env SCOPE_IOWAIT_WINDOW_MS) must be an integer of at least 1000 (ms), got "500"'));
    expect(() => resolveIowaitOptions({ diskExclude: '(' })).toThrow(new TypeError('iowait: --disk-exclude (env SCOPE_IOWAIT_DISK_EXCLUDE) must be a string, got "(" (not a valid regular expression)'));
    expect(resolveIowaitOptions({ diskExclude: '' }).diskExclude).toBe('');
  });
});

describe('the plugin on the real host, over its socket', () => {
  it('what a user reads: every row is human text (the mode is named by the graph label, not by a raw mode row)', async () => {
    const p = await start();
    const before = await p.waitForReport((r) => samples(r, IOWAIT_METRIC).length >= 1, 10_000);
    const read = (report: Report) => renderNode(report, 'Host', NODE_ID);
    const rows = [...read(before).metadata, ...read(before).moreMetadata];
    expect(rows.map((r) => r.label)).toEqual(['IO wait %', 'Idle %', ...(hasPsi ? ['IO pressure some (avg10) %', 'IO pressure full (avg10) %'] : [])].slice(0, rows.length));
    for (const row of rows) expect(Number.isFinite(Number(row.value)), `${row.label}: ${row.value}`).toBe(true);
    expect(read(before).metrics.map((m) => m.label)).toEqual(['IO Wait']);
    await p.control(SWITCH_TO_IDLE, NODE_ID);
    const after = await p.waitForReport((r) => samples(r, IDLE_METRIC).length >= 1, 10_000);
    expect(read(after).metrics.map((m) => m.label)).toEqual(['Idle']);
    expect([...read(after).metadata, ...read(after).moreMetadata].map((r) => r.value)).not.toContain('idle');
  });

  it('serves the host node: metric history, metadata, device table, the inactive control; the doctor finds nothing', async () => {
    const p = await start();
    const report = await p.waitForReport((r) => samples(r, IOWAIT_METRIC).length >= 2, 10_000);
    const node = hostNode(report, NODE_ID)!;
    expect(Object.keys(report.Host?.nodes ?? {})).toEqual([NODE_ID]);
    expect(Object.keys(node.metrics ?? {})).toEqual([IOWAIT_METRIC]);
    expect(node.metrics?.[IOWAIT_METRIC]).toMatchObject({ min: 0, max: 100 });
    for (const sample of samples(report, IOWAIT_METRIC)) expect(sample.value).toBeGreaterThanOrEqual(0);
    expect(node.latest?.['active_controls']?.value).toBe(`${SWITCH_TO_IDLE};host_exec`);
    expect(Number(latest(report, LATEST_KEYS.iowait))).toBeGreaterThanOrEqual(0);
    expect(Number(latest(report, LATEST_KEYS.idle))).toBeGreaterThanOrEqual(0);
    expect(Number(latest(report, LATEST_KEYS.iowait)) + Number(latest(report, LATEST_KEYS.idle))).toBeLessThanOrEqual(100.01);
    // PSI rows exactly when the kernel has PSI.
    expect(latest(report, LATEST_KEYS.psiSome) !== undefined).toBe(hasPsi);
    const tableKeys = Object.keys(node.latest ?? {}).filter((k) => k.startsWith(DISK_TABLE_PREFIX));
    expect(tableKeys.length).toBeGreaterThan(0);
    for (const key of tableKeys) expect(key.slice(DISK_TABLE_PREFIX.length).split('___')).toHaveLength(2);
    expect(tableKeys.filter((k) => /^iowait_disk_(loop|ram|zram)/.test(k))).toEqual([]);
    // Scope draws a control only when the topology declares it: the one offered now, and the one offered after a switch.
    expect(Object.keys(report.Host?.controls ?? {}).sort()).toEqual([SWITCH_TO_IDLE, SWITCH_TO_IOWAIT].sort());
    for (const id of latest(report, 'active_controls')!.split(';').filter((c) => c !== 'host_exec')) {
      expect(report.Host?.controls?.[id], id).toMatchObject({ id, human: expect.stringMatching(/\S/), icon: expect.stringMatching(/^fa-/) });
    }
    const diagnosis = await p.doctor();
    expect(diagnosis.status).toBe('ok');
    expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
  });

  it('switches between IO wait and idle end to end: shortcut report with the other metric and its history, then /report follows', async () => {
    const p = await start();
    const before = await p.waitForReport((r) => samples(r, IOWAIT_METRIC).length >= 3, 10_000);
    const lastTimestamp = hostNode(before, NODE_ID)!.latest!['iowait_mode']!.timestamp;

    const toIdle = await p.control(SWITCH_TO_IDLE, NODE_ID);
    expect(toIdle['value']).toEqual({ mode: 'idle' });
    const shortcut = toIdle['shortcutReport'] as Report;
    expect(shortcut.Plugins).toEqual(before.Plugins);
    const shortcutNode = hostNode(shortcut, NODE_ID)!;
    expect(Object.keys(shortcutNode.metrics ?? {})).toEqual([IDLE_METRIC]);
    // The idle history was kept while iowait was shown: the graph is full at once.
    expect(samples(shortcut, IDLE_METRIC).length).toBeGreaterThanOrEqual(3);
    expect(shortcutNode.latest?.['active_controls']?.value).toBe(`${SWITCH_TO_IOWAIT};host_exec`);
    expect(shortcutNode.latest?.[LATEST_KEYS.mode]?.value).toBe('idle');
    expect(Date.parse(shortcutNode.latest!['active_controls']!.timestamp)).toBeGreaterThan(Date.parse(lastTimestamp));
    expect(diagnoseReportBody(JSON.stringify(shortcut), { pluginId: 'iowait', hostId: HOST_ID }).violations.filter((v) => v.kind !== 'note')).toEqual([]);

    const after = await p.report();
    expect(Object.keys(hostNode(after, NODE_ID)?.metrics ?? {})).toEqual([IDLE_METRIC]);
    expect(latest(after, 'active_controls')).toBe(`${SWITCH_TO_IOWAIT};host_exec`);

    // The control just used is no longer offered.
    expect(await p.control(SWITCH_TO_IDLE, NODE_ID)).toEqual({ error: `control "${SWITCH_TO_IDLE}" is not available on node "${NODE_ID}" (available: ${SWITCH_TO_IOWAIT})` });

    const back = await p.control(SWITCH_TO_IOWAIT, NODE_ID);
    const backNode = hostNode(back['shortcutReport'] as Report, NODE_ID)!;
    expect(Object.keys(backNode.metrics ?? {})).toEqual([IOWAIT_METRIC]);
    expect(backNode.metrics![IOWAIT_METRIC]!.samples.length).toBeGreaterThanOrEqual(3);
    expect(backNode.latest?.['active_controls']?.value).toBe(`${SWITCH_TO_IDLE};host_exec`);
    expect(latest(await p.report(), 'active_controls')).toBe(`${SWITCH_TO_IDLE};host_exec`);
  });

  it('answers an unknown control or node with {"error"} saying what was wrong', async () => {
    const p = await start();
    await p.waitForReport((r) => hostNode(r, NODE_ID) !== undefined, 5000);
    expect(await p.control('switchToBusy', NODE_ID)).toEqual({ error: 'unknown control "switchToBusy": plugin iowait offers switchToIOWait, switchToIdle' });
    expect(await p.control(SWITCH_TO_IDLE, 'other-host;<host>')).toEqual({ error: 'unknown node "other-host;<host>": plugin iowait reports no such node' });
    expect(latest(await p.report(), LATEST_KEYS.mode)).toBe('iowait');
  });

  it('starts in idle mode when asked', async () => {
    const p = await start({ mode: 'idle' });
    const report = await p.waitForReport((r) => samples(r, IDLE_METRIC).length >= 1, 10_000);
    expect(samples(report, IOWAIT_METRIC)).toEqual([]);
    expect(latest(report, 'active_controls')).toBe(`${SWITCH_TO_IOWAIT};host_exec`);
  });
});

describe('the plugin on a many-disk host without PSI (a real temporary /proc tree)', () => {
  it('serves one naturally sorted row per whole disk, no PSI rows and no error; the doctor finds nothing', async () => {
    const root = await mkdtemp(join(tmpdir(), 'iowait-host-'));
    const fixture = (name: string) => readFile(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
    try {
      await mkdir(join(root, 'proc'));
      await writeFile(join(root, 'proc', 'stat'), await fixture('proc-stat.txt'));
      await writeFile(join(root, 'proc', 'diskstats'), await fixture('diskstats-many.txt'));
      for (const letter of [...'abcdefghijklmnopqrstuvwxyz', 'aa', 'ab']) await mkdir(join(root, 'sys', 'class', 'block', `sd${letter}1`, 'partition'), { recursive: true });
      for (let i = 0; i < 12; i++) await mkdir(join(root, 'sys', 'class', 'block', `nvme${i}n1p1`, 'partition'), { recursive: true });
      running = await startTestPlugin(plugin, { hostId: HOST_ID, options: { diskInfo: false }, procRoot: join(root, 'proc'), sysRoot: join(root, 'sys'), logLevel: 'debug' });
      await running.waitForReport((r) => latest(r, LATEST_KEYS.mode) !== undefined, 5000);
      await writeFile(join(root, 'proc', 'stat'), await fixture('proc-stat-after-dd.txt'));
      await writeFile(join(root, 'proc', 'diskstats'), await fixture('diskstats-many-later.txt'));
      // Stat is written first: whichever collection reads the new diskstats has read the new stat too.
      const report = await running.waitForReport((r) => samples(r, IOWAIT_METRIC).length >= 1 && latest(r, `${DISK_TABLE_PREFIX}nvme000011n000001___avg_wait_ms`) === '1.33', 5000);
      const node = hostNode(report, NODE_ID)!;
      const devices = Object.entries(node.latest ?? {})
        .filter(([key]) => key.startsWith(DISK_TABLE_PREFIX) && key.endsWith('___device'))
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([, entry]) => entry.value);
      expect(devices).toHaveLength(44);
      expect(devices.slice(0, 4)).toEqual(['dm-0', 'md0', 'nbd0', 'nbd10']);
      expect(devices.filter((d) => d.startsWith('nvme'))).toEqual([...Array(12).keys()].map((i) => `nvme${i}n1`));
      // Device k does 2k reads and 4k writes taking 3k and 5k ms (fixtures/README.md): rates depend on the
      // real interval, their ratio and the mean wait do not.
      for (const [key, entry] of Object.entries(node.latest ?? {}).filter(([k]) => k.endsWith('___reads_per_sec'))) {
        const row = key.slice(0, -'reads_per_sec'.length);
        expect(Math.abs(Number(node.latest![`${row}writes_per_sec`]!.value) - 2 * Number(entry.value))).toBeLessThanOrEqual(0.15);
        expect(node.latest![`${row}avg_wait_ms`]!.value).toBe('1.33');
      }
      expect(samples(report, IOWAIT_METRIC)[0]!.value).toBeCloseTo((25 / 111) * 100, 10);
      expect(Object.keys(node.latest ?? {}).filter((k) => k.includes('psi'))).toEqual([]);
      expect(running.logs.filter((l) => / (warn|error) /.test(l))).toEqual([]);
      const diagnosis = await running.doctor();
      expect(diagnosis.status).toBe('ok');
      expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
    } finally {
      await running?.stop();
      running = undefined;
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('real I/O on the real disk', () => {
  it('while dd writes with O_DIRECT|O_DSYNC, reports the iowait and idle shares /proc/stat shows over the same window', async (ctx) => {
    requireComponent(ctx, 'dd', await canRun('dd', ['--version']), 'install coreutils');
    // Only collectNow() collects (the schedule's first tick aside), so the test knows when the plugin reads /proc/stat.
    running = await startTestPlugin(plugin, { hostId: HOST_ID, intervalMs: 3_600_000, options: { diskInfo: false }, logLevel: 'debug' });
    const p = running;
    await p.waitForReport((r) => latest(r, LATEST_KEYS.mode) !== undefined, 10_000);
    const io = startIo();
    let window: { start: [RawCpu, RawCpu]; end: [RawCpu, RawCpu] };
    let report: Report;
    try {
      // dd under way, and well past the reader's 200 ms minimum since its first read (a closer read keeps the old baseline).
      await sleep(1000);
      // The plugin's own reads happen inside collectNow(): bracket each with reads of the real /proc/stat.
      const first = await readRawCpu();
      const started = await p.running.collectNow();
      const start: [RawCpu, RawCpu] = [first, await readRawCpu()];
      // That read started the plugin's window: it produced the first sample.
      expect(samples(started, IOWAIT_METRIC)).toHaveLength(1);
      // A window of at least 3 s (so the slack below is small against it), kept open until /proc/stat itself
      // has counted some iowait (dd on an idle CPU does within a second; bounded, so a kernel without iowait
      // accounting fails below instead of hanging).
      const deadline = Date.now() + 20_000;
      await sleep(2000);
      do await sleep(1000);
      while ((await readRawCpu()).iowait - start[1].iowait < 10 * cpus().length && Date.now() < deadline);
      const before = await readRawCpu();
      report = await p.running.collectNow();
      window = { start, end: [before, await readRawCpu()] };
    } finally {
      await io.stop();
    }
    // The plugin's counters at each read lie between the bracketing reads, so its share of a field over its
    // window lies between the least of that field over the most ticks and the most over the least. Slack: the
    // kernel attributes a CPU's idle period in progress to idle or iowait when /proc/stat is read, and may
    // move it between the two from one read to the next; allow 2 ticks per CPU at each end.
    const slack = 2 * cpus().length;
    const bounds = (field: 'iowait' | 'idle') => {
      const [[s0, s1], [e0, e1]] = [window.start, window.end];
      return { low: ((e0[field] - s1[field] - 2 * slack) / (e1.total - s0.total)) * 100, high: ((e1[field] - s0[field] + 2 * slack) / (e0.total - s1.total)) * 100 };
    };
    const iowait = bounds('iowait');
    const idle = bounds('idle');
    expect(samples(report, IOWAIT_METRIC)).toHaveLength(2);
    const metric = samples(report, IOWAIT_METRIC).at(-1)!.value;
    const shown = { iowait: Number(latest(report, LATEST_KEYS.iowait)), idle: Number(latest(report, LATEST_KEYS.idle)) };
    process.stderr.write(
      `iowait while dd ran: /proc/stat between ${iowait.low.toFixed(3)} and ${iowait.high.toFixed(3)} %, plugin ${metric.toFixed(3)} % (latest ${shown.iowait}); ` +
        `idle: /proc/stat between ${idle.low.toFixed(3)} and ${idle.high.toFixed(3)} %, plugin ${shown.idle}\n`,
    );
    // /proc/stat saw I/O wait in the window (beyond the slack), so a plugin stuck at 0 or reading another field cannot pass.
    expect(iowait.low).toBeGreaterThan(0);
    expect(metric).toBeGreaterThanOrEqual(iowait.low);
    expect(metric).toBeLessThanOrEqual(iowait.high);
    // The latest values are the same shares rounded to 2 decimals.
    expect(shown.iowait).toBeCloseTo(metric, 2);
    expect(shown.idle).toBeGreaterThanOrEqual(idle.low - 0.005);
    expect(shown.idle).toBeLessThanOrEqual(idle.high + 0.005);
  });

  it('agrees with iostat -c 1 interval values, interval by interval, within a tolerance derived from the window offset', async (ctx) => {
    requireComponent(ctx, 'iostat (sysstat)', await canRun('iostat', ['-V']), 'apt-get install -y sysstat (scripts/provision.sh installs it)');
    const io = startIo();
    let reports;
    let p: TestPlugin | undefined;
    try {
      await sleep(1000);
      // The plugin starts (and takes its baseline read) right after iostat's first report, so both
      // then sample 1 s windows that end within a few ms of each other.
      let started: Promise<TestPlugin> | undefined;
      reports = await runIostat(7, () => (started ??= start()));
      p = await started!;
      await sleep(600);
    } finally {
      await io.stop();
    }
    const iowaitSamples = samples(await p.report(), IOWAIT_METRIC);
    const idleSamples = samples((await p.control(SWITCH_TO_IDLE, NODE_ID))['shortcutReport'] as Report, IDLE_METRIC);
    // Pair each iostat interval (t[i-1], t[i]] with the plugin sample window (s[k-1], s[k]] whose ends are nearest.
    const nearest = (list: Sample[], atMs: number) => {
      let best = -1;
      list.forEach((s, k) => {
        if (best < 0 || Math.abs(Date.parse(s.date) - atMs) < Math.abs(Date.parse(list[best]!.date) - atMs)) best = k;
      });
      return best;
    };
    const rows = reports.slice(1).map((interval, i) => {
      const k = nearest(iowaitSamples, interval.atMs);
      const j = nearest(idleSamples, interval.atMs);
      const endMs = Date.parse(iowaitSamples[k]!.date);
      const startMs = k > 0 ? Date.parse(iowaitSamples[k - 1]!.date) : Number.NEGATIVE_INFINITY;
      // Time covered by one window and not the other.
      const offsetMs = Math.abs(endMs - interval.atMs) + Math.abs(startMs - reports[i]!.atMs);
      // At most offsetMs of the ~1000 ms interval can differ (100 pp times that share); plus 2 pp:
      // one 10 ms tick per CPU at each edge, of 200 ticks (2 CPUs at USER_HZ 100).
      const tolerance = (offsetMs / 1000) * 100 + 2;
      return { offsetMs, tolerance, iostat: { iowait: interval.iowait, idle: interval.idle }, plugin: { iowait: iowaitSamples[k]!.value, idle: idleSamples[j]!.value } };
    });
    process.stderr.write(`iostat agreement (dd running):\n${rows.map((r) => `  offset ${r.offsetMs} ms tolerance ${r.tolerance.toFixed(1)} | iowait iostat ${r.iostat.iowait} plugin ${r.plugin.iowait.toFixed(2)} | idle iostat ${r.iostat.idle} plugin ${r.plugin.idle.toFixed(2)}`).join('\n')}\n`);
    expect(rows).toHaveLength(6);
    // A collection delayed or skipped on a loaded machine leaves a window that does not match: not comparable.
    const comparable = rows.filter((r) => r.offsetMs <= 200);
    expect(comparable.length).toBeGreaterThanOrEqual(4);
    for (const row of comparable) {
      expect(Math.abs(row.plugin.iowait - row.iostat.iowait)).toBeLessThanOrEqual(row.tolerance);
      expect(Math.abs(row.plugin.idle - row.iostat.idle)).toBeLessThanOrEqual(row.tolerance);
    }
  });
});

describe('the built bin', () => {
  it('prints one valid report with --once (two reads one interval apart, so the metric has a real sample)', async () => {
    const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
    expect(existsSync(cli), `${cli} is missing: run pnpm --filter @scope-plugins/iowait build first`).toBe(true);
    const { stdout } = await promisify(execFile)(process.execPath, [cli, '--once', '--log-level', 'warn'], { env: { ...process.env, SCOPE_HOSTNAME: HOST_ID }, timeout: 15_000 });
    const diagnosis = diagnoseReportBody(stdout, { pluginId: 'iowait', hostId: HOST_ID });
    expect(diagnosis.status).toBe('ok');
    expect(diagnosis.violations.filter((v) => v.kind !== 'note')).toEqual([]);
    const report = JSON.parse(stdout) as Report;
    expect(samples(report, IOWAIT_METRIC)).toHaveLength(1);
    expect(latest(report, LATEST_KEYS.idle)).toMatch(/^\d+(\.\d+)?$/);
  });

  it('refuses a bad flag with a clear message', async () => {
    const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
    const result = await promisify(execFile)(process.execPath, [cli, '--once', '--mode', 'busy'], { timeout: 15_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('iowait: --mode (env SCOPE_IOWAIT_MODE) must be one of iowait, idle, got "busy"');
  });
});
