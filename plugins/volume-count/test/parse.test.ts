import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildMountRows, countMounts, parseContainerMounts } from '../src/parse.js';

function fixture(name: string): unknown {
  return (JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as unknown[])[0];
}

const ANON = '0efe0fc0581f80378750750afd6f9c415eece367e42b6a71acd43d25655bc6ca';

describe('parseContainerMounts', () => {
  it('reads volumes, binds, --mount tmpfs and --tmpfs (HostConfig.Tmpfs only) in destination order', () => {
    expect(parseContainerMounts(fixture('docker-20.10.24-inspect-all-mount-kinds.json'))).toEqual([
      { type: 'volume', source: ANON, destination: '/anon', readOnly: false, details: 'local' },
      { type: 'bind', source: '/tmp/vc-bind', destination: '/bind', readOnly: true, details: 'rshared' },
      { type: 'volume', source: 'vc-named', destination: '/data', readOnly: false, details: 'local' },
      { type: 'volume', source: 'vc-named', destination: '/data2', readOnly: true, details: 'local' },
      { type: 'tmpfs', source: '', destination: '/mtmp', readOnly: false, details: 'size=65536' },
      { type: 'tmpfs', source: '', destination: '/scratch', readOnly: false, details: 'size=1m,mode=1777' },
    ]);
  });

  it('reads podman\'s inspect, where both tmpfs kinds are in HostConfig.Tmpfs', () => {
    const podman = JSON.parse(readFileSync(new URL('./fixtures/podman-4.3.1-inspect-all-mount-kinds.json', import.meta.url), 'utf8')) as unknown;
    expect(parseContainerMounts(podman)).toEqual([
      { type: 'volume', source: '02c0801358cb9e49f41df63eef740eba159c904837b26a6992b4beaebf25e752', destination: '/anon', readOnly: false, details: 'local' },
      { type: 'bind', source: '/tmp/pm/bind', destination: '/bind', readOnly: true, details: 'rprivate' },
      { type: 'volume', source: 'pnamed', destination: '/data', readOnly: false, details: 'local' },
      { type: 'tmpfs', source: '', destination: '/mtmp', readOnly: false, details: 'size=65536,rw,rprivate,nosuid,nodev,tmpcopyup' },
      { type: 'tmpfs', source: '', destination: '/scratch', readOnly: false, details: 'size=1m,rw,rprivate,nosuid,nodev,tmpcopyup' },
    ]);
  });

  it('gives nothing for a container without mounts and for input that is not an inspect object', () => {
    expect(parseContainerMounts(fixture('docker-20.10.24-inspect-no-mounts.json'))).toEqual([]);
    for (const bad of [null, undefined, 42, 'x', [], { Mounts: 'no' }, { Mounts: [null, 1, {}], HostConfig: { Tmpfs: null } }]) {
      expect(parseContainerMounts(bad)).toEqual([]);
    }
  });

  it('marks a read-only --tmpfs and keeps unknown mount types', () => {
    expect(parseContainerMounts({ Mounts: [{ Type: 'npipe', Source: '\\\\.\\pipe\\x', Destination: '/p', RW: true }], HostConfig: { Tmpfs: { '/ro': 'ro,size=1k' } } })).toEqual([
      { type: 'npipe', source: '\\\\.\\pipe\\x', destination: '/p', readOnly: false, details: '' },
      { type: 'tmpfs', source: '', destination: '/ro', readOnly: true, details: 'ro,size=1k' },
    ]);
  });
});

describe('countMounts', () => {
  it('counts per type; the total includes every type', () => {
    const mounts = parseContainerMounts(fixture('docker-20.10.24-inspect-all-mount-kinds.json'));
    expect(countMounts(mounts)).toEqual({ total: 6, volume: 3, bind: 1, tmpfs: 2 });
    expect(countMounts([...mounts, { type: 'npipe', source: 'p', destination: '/p', readOnly: false, details: '' }])).toEqual({ total: 7, volume: 3, bind: 1, tmpfs: 2 });
    expect(countMounts([])).toEqual({ total: 0, volume: 0, bind: 0, tmpfs: 0 });
  });
});

describe('buildMountRows', () => {
  it('keys rows by a zero-padded index that sorts like the mounts and never contains ___', () => {
    const rows = buildMountRows(parseContainerMounts(fixture('docker-20.10.24-inspect-all-mount-kinds.json')));
    expect(rows).toEqual({
      '000': { type: 'volume', source: `${ANON.slice(0, 12)} (anonymous)`, destination: '/anon', read_only: 'no', details: `local, full name ${ANON}` },
      '001': { type: 'bind', source: '/tmp/vc-bind', destination: '/bind', read_only: 'yes', details: 'rshared' },
      '002': { type: 'volume', source: 'vc-named', destination: '/data', read_only: 'no', details: 'local' },
      '003': { type: 'volume', source: 'vc-named', destination: '/data2', read_only: 'yes', details: 'local' },
      '004': { type: 'tmpfs', source: 'tmpfs', destination: '/mtmp', read_only: 'no', details: 'size=65536' },
      '005': { type: 'tmpfs', source: 'tmpfs', destination: '/scratch', read_only: 'no', details: 'size=1m,mode=1777' },
    });
  });

  it('fills every cell of a tmpfs given no options, and keeps named volumes whole', () => {
    const rows = buildMountRows([
      { type: 'tmpfs', source: '', destination: '/t', readOnly: false, details: '' },
      { type: 'volume', source: 'a'.repeat(63), destination: '/v', readOnly: false, details: 'local' },
    ]);
    expect(rows).toEqual({
      '000': { destination: '/t', type: 'tmpfs', source: 'tmpfs', read_only: 'no', details: 'default options, no size limit' },
      '001': { destination: '/v', type: 'volume', source: 'a'.repeat(63), read_only: 'no', details: 'local' },
    });
  });

  it('widens the index past 999 mounts so string order stays numeric order', () => {
    const many = Array.from({ length: 1001 }, (_, i) => ({ type: 'bind', source: `/s${i}`, destination: `/d${String(i).padStart(4, '0')}`, readOnly: false, details: '' }));
    const rows = buildMountRows(many);
    // Scope orders rows by id as strings; that order must be the destination order.
    const byId = Object.keys(rows).sort();
    expect(byId.map((id) => rows[id]?.['destination'])).toEqual(many.map((m) => m.destination));
    expect([byId[0], byId[999], byId[1000]]).toEqual(['0000', '0999', '1000']);
    expect(byId.some((id) => id.includes('___'))).toBe(false);
  });
});
