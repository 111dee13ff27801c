import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import si from 'systeminformation';
import { describe, expect, it } from 'vitest';
import { readBlockDeviceInfo } from '../src/collect.js';

// systeminformation is checked against /proc and /sys, the truth, for what the plugin would take from it.

async function readSys(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').then(
    (text) => text.trim(),
    () => undefined,
  );
}

describe('block device size and kind', () => {
  it('read from /sys, they match systeminformation.blockDevices() (lsblk) for every device it lists, and the kernel for every disk', async () => {
    const info = await readBlockDeviceInfo('/sys');
    const devices = await si.blockDevices();
    const disks = devices.filter((d) => d.type === 'disk');
    expect(disks.length).toBeGreaterThan(0);
    for (const device of devices) {
      if (!Number.isFinite(device.size)) continue;
      expect(info.get(device.name), device.name).toEqual({ sizeBytes: device.size, physical: device.physical ?? '' });
    }
    for (const disk of disks) {
      const sectors = await readSys(`/sys/class/block/${disk.name}/size`);
      const rotational = await readSys(`/sys/class/block/${disk.name}/queue/rotational`);
      expect(info.get(disk.name)).toEqual({ sizeBytes: Number(sectors) * 512, physical: rotational === '1' ? 'HDD' : 'SSD' });
    }
  });

  it('honours --sys-root', async () => {
    const root = await mkdtemp(join(tmpdir(), 'iowait-sys-'));
    try {
      const dev = (name: string) => join(root, 'class', 'block', name);
      for (const [name, sectors, rotational, partition] of [
        ['sdz', '2048', '1', false],
        ['nvme9n1', '4096', '0', false],
        ['nvme9n1p1', '1024', '0', true],
        ['loop9', '8', '0', false],
      ] as const) {
        await mkdir(join(dev(name), 'queue'), { recursive: true });
        await writeFile(join(dev(name), 'size'), `${sectors}\n`);
        await writeFile(join(dev(name), 'queue', 'rotational'), `${rotational}\n`);
        if (partition) await writeFile(join(dev(name), 'partition'), '1\n');
      }
      expect(Object.fromEntries(await readBlockDeviceInfo(root))).toEqual({
        sdz: { sizeBytes: 2048 * 512, physical: 'HDD' },
        nvme9n1: { sizeBytes: 4096 * 512, physical: 'SSD' },
        nvme9n1p1: { sizeBytes: 1024 * 512, physical: '' },
        loop9: { sizeBytes: 8 * 512, physical: '' },
      });
    } finally {
      await rm(root, { recursive: true, force: true });
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
