import { readFile } from 'node:fs/promises';
import si from 'systeminformation';
import { describe, expect, it } from 'vitest';
import { readBlockDeviceInfo } from '../src/collect.js';

// systeminformation is checked against /proc and /sys, the truth, for what the plugin takes from it.

async function readSys(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').then(
    (text) => text.trim(),
    () => undefined,
  );
}

describe('systeminformation against the kernel', () => {
  it('blockDevices(): sizes and kinds the table shows match /sys/class/block (size × 512, queue/rotational)', async () => {
    const info = await readBlockDeviceInfo();
    const disks = (await si.blockDevices()).filter((d) => d.type === 'disk');
    expect(disks.length).toBeGreaterThan(0);
    for (const disk of disks) {
      const sectors = await readSys(`/sys/class/block/${disk.name}/size`);
      const rotational = await readSys(`/sys/class/block/${disk.name}/queue/rotational`);
      expect(sectors, `/sys/class/block/${disk.name}/size`).toBeDefined();
      expect(info.get(disk.name)).toEqual({ sizeBytes: Number(sectors) * 512, physical: rotational === '1' ? 'HDD' : 'SSD' });
    }
  });

  it('currentLoad() has no iowait share at all, so it cannot drive this plugin (see README)', async () => {
    const load = await si.currentLoad();
    expect(Object.keys(load).filter((key) => /iowait|softirq/i.test(key))).toEqual([]);
    // /proc/stat does account both, in the same aggregate line.
    const cpuLine = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
    expect(cpuLine.split(/\s+/).length).toBeGreaterThanOrEqual(8);
  });
});
