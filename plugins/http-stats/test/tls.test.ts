import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTlsLibraries } from '../src/tls.js';

describe('resolveTlsLibraries', () => {
  let dir: string;
  let lib: string;
  let link: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hs-tls-'));
    lib = join(dir, 'libssl.so.3');
    link = join(dir, 'libssl.so');
    await writeFile(lib, '');
    await symlink(lib, link);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('finds the candidates that exist for auto, once per real file', async () => {
    expect(await resolveTlsLibraries('auto', [join(dir, 'missing.so'), lib, link])).toEqual([lib]);
  });

  it('keeps explicit paths, even missing ones (the preflight reports them), and mixes them with auto', async () => {
    expect(await resolveTlsLibraries(`auto, /nonexistent/libssl.so , ${link}`, [lib])).toEqual([lib, '/nonexistent/libssl.so']);
  });

  it('turns tracing off with none or an empty list, and refuses none mixed with paths', async () => {
    expect(await resolveTlsLibraries('none', [lib])).toEqual([]);
    expect(await resolveTlsLibraries(' ', [lib])).toEqual([]);
    await expect(resolveTlsLibraries(`none,${lib}`)).rejects.toThrow(/"none" cannot be combined/);
  });
});
