import { describe, expect, it } from 'vitest';
import { createMetricsBatch } from '@scope-plugins/core';
import { HOST_NAMESPACES_METRIC_FAMILIES, recordNamespaceMetrics, type NamespaceRecord, type NamespaceScan } from '../src/index.js';

const ns = (type: NamespaceRecord['type'], inode: string, pid: number, nprocs: number): NamespaceRecord => ({ type, inode, pid, nprocs, user: 'root', command: 'x' });

function record(scan: NamespaceScan, types: NamespaceRecord['type'][], sharing?: Array<NamespaceRecord['type'][]>) {
  const batch = createMetricsBatch(HOST_NAMESPACES_METRIC_FAMILIES);
  recordNamespaceMetrics(batch.sink, scan, types, sharing);
  expect(Object.fromEntries(batch.dropped())).toEqual({});
  return Object.fromEntries([...batch.snapshot().series].map(([family, series]) => [family, Object.fromEntries([...series.values()].map((s) => [s.labelValues.join('|'), s.value]))]));
}

describe('host-namespaces metrics', () => {
  const scan: NamespaceScan = {
    source: 'proc',
    namespaces: [ns('net', '4026531840', 1, 90), ns('net', '4026532001', 300, 7), ns('net', '4026532002', 400, 3), ns('pid', '4026531836', 1, 100)],
    processes: 100,
    skipped: 0,
  };

  it('namespaces by type, processes in the host namespace (the one holding pid 1) and in others', () => {
    expect(record(scan, ['net', 'pid'])).toEqual({
      scope_host_namespaces_namespaces: { net: 3, pid: 1 },
      scope_host_namespaces_processes: { 'net|host': 90, 'net|other': 10, 'pid|host': 100, 'pid|other': 0 },
    });
  });

  it('where pid 1 cannot be read, the namespace of pid 2 (kthreadd) is the host\'s; a shown type without namespaces is 0', () => {
    const hidden: NamespaceScan = { ...scan, namespaces: [ns('net', '4026531840', 2, 80), ns('net', '4026532001', 300, 7)] };
    expect(record(hidden, ['net', 'uts'])).toEqual({
      scope_host_namespaces_namespaces: { net: 2, uts: 0 },
      scope_host_namespaces_processes: { 'net|host': 80, 'net|other': 7, 'uts|host': 0, 'uts|other': 0 },
    });
  });

  it('containers sharing each host namespace type, when containers were compared', () => {
    expect(record(scan, ['net'], [['net', 'pid'], ['net'], []])['scope_host_namespaces_containers_sharing_host']).toEqual({ mnt: 0, net: 2, pid: 1, uts: 0, ipc: 0, user: 0, cgroup: 0, time: 0 });
  });
});
