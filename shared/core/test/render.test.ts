import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { Report } from '../src/index.js';
import { renderNode } from '../src/testing/index.js';

const CASES = new URL('./fixtures/scope-decode-cases/', import.meta.url).pathname;

describe('renderNode', () => {
  it('gives what the real Scope v1.13.2 app rendered for the example fixture (fixtures README, protocol §9)', async () => {
    const report = JSON.parse(await readFile(`${CASES}report-example-host-metric-table-control.json`, 'utf8')) as Report;
    expect(renderNode(report, 'Host', 'h;<host>')).toEqual({
      metadata: [{ id: 'demo_mode', label: 'Demo mode', value: 'idle', priority: 1 }],
      moreMetadata: [],
      metrics: [{ id: 'demo_iowait', label: 'IO wait', value: 1.25, priority: 1 }],
      tables: [
        {
          id: 'demo-cpu',
          label: 'Per-CPU',
          type: 'multicolumn-table',
          columns: [
            { id: 'user', label: 'User %', dataType: 'number' },
            { id: 'iowait', label: 'IO wait %', dataType: 'number' },
          ],
          rows: [
            { id: 'cpu0', cells: { 'User %': '12.5', 'IO wait %': '0.3' } },
            { id: 'cpu1', cells: { 'User %': '7.0', 'IO wait %': '2.1' } },
          ],
        },
      ],
    });
  });
});
