/**
 * The host-namespaces plugin's Prometheus families, from the same scan (and container comparison) as the report.
 * Bounds: one series per namespace type (8), two per type for processes (host / other: 16), one per sharing type (8).
 */
import { defineMetricFamily } from '@scope-plugins/core';
import { NAMESPACE_TYPES, SHARING_TYPES } from './parse.js';
/** The families. */
export const HOST_NAMESPACES_METRICS = {
    namespaces: defineMetricFamily({
        name: 'scope_host_namespaces_namespaces',
        help: 'Namespaces on the host by type (those holding at least one process), as in the report\'s table',
        kind: 'gauge',
        labelNames: ['type'],
        maxSeries: NAMESPACE_TYPES.length,
    }),
    processes: defineMetricFamily({
        name: 'scope_host_namespaces_processes',
        help: 'Processes by namespace type, in the host\'s own namespace of that type (namespace="host", the one of pid 1) or in any other (namespace="other")',
        kind: 'gauge',
        labelNames: ['type', 'namespace'],
        maxSeries: NAMESPACE_TYPES.length * 2,
    }),
    containersSharing: defineMetricFamily({
        name: 'scope_host_namespaces_containers_sharing_host',
        help: 'Running containers (whose namespaces could be read) sharing the host\'s namespace of this type (e.g. --network=host for net)',
        kind: 'gauge',
        labelNames: ['type'],
        maxSeries: SHARING_TYPES.length,
    }),
};
/** Every family, for the definition's `metrics`. */
export const HOST_NAMESPACES_METRIC_FAMILIES = Object.values(HOST_NAMESPACES_METRICS);
/**
 * Writes the scan's series for the shown `types`, and, when containers were compared (`sharing` defined: one entry
 * per readable running container), the sharing counts.
 */
export function recordNamespaceMetrics(sink, scan, types, sharing) {
    if (!sink)
        return;
    const m = HOST_NAMESPACES_METRICS;
    // One pass over the scan (it can hold thousands of namespaces), then one series per type.
    const byType = new Map();
    for (const ns of scan.namespaces) {
        let entry = byType.get(ns.type);
        if (!entry)
            byType.set(ns.type, (entry = { namespaces: 0, processes: 0, host: 0, hostPid: Number.POSITIVE_INFINITY }));
        entry.namespaces++;
        entry.processes += ns.nprocs;
        // The host's namespace is the one holding pid 1 (pid 2, kthreadd, where pid 1 is hidden): the scan's lowest pid.
        if ((ns.pid === 1 || ns.pid === 2) && ns.pid < entry.hostPid) {
            entry.hostPid = ns.pid;
            entry.host = ns.nprocs;
        }
    }
    for (const type of types) {
        const entry = byType.get(type) ?? { namespaces: 0, processes: 0, host: 0 };
        sink.set(m.namespaces, { type }, entry.namespaces);
        sink.set(m.processes, { type, namespace: 'host' }, entry.host);
        sink.set(m.processes, { type, namespace: 'other' }, entry.processes - entry.host);
    }
    if (!sharing)
        return;
    for (const type of SHARING_TYPES)
        sink.set(m.containersSharing, { type }, sharing.filter((shared) => shared.includes(type)).length);
}
//# sourceMappingURL=metrics.js.map