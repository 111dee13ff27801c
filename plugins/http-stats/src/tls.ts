import { realpath } from 'node:fs/promises';

/** Where OpenSSL's libssl usually is (Debian/Ubuntu multiarch, Fedora/RHEL, Alpine). */
export const LIBSSL_CANDIDATES: readonly string[] = Object.freeze([
  '/usr/lib/x86_64-linux-gnu/libssl.so.3',
  '/usr/lib/x86_64-linux-gnu/libssl.so.1.1',
  '/usr/lib/aarch64-linux-gnu/libssl.so.3',
  '/usr/lib/aarch64-linux-gnu/libssl.so.1.1',
  '/usr/lib64/libssl.so.3',
  '/usr/lib64/libssl.so.1.1',
  '/lib/libssl.so.3',
  '/usr/lib/libssl.so.3',
]);

/**
 * Turns `--tls-libraries` into the files to attach OpenSSL uprobes to: a comma-separated list where
 * `auto` stands for the libssl candidates that exist and `none` (alone) means no TLS tracing. Paths
 * given explicitly are kept even when missing (the tracer's preflight reports them); duplicates (same
 * real file) are dropped.
 */
export async function resolveTlsLibraries(spec: string, candidates: readonly string[] = LIBSSL_CANDIDATES): Promise<string[]> {
  const items = spec.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (items.length === 0 || (items.length === 1 && items[0] === 'none')) return [];
  const out: string[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    if (item === 'none') throw new TypeError(`--tls-libraries: "none" cannot be combined with other entries, got ${JSON.stringify(spec)}`);
    const auto = item === 'auto';
    for (const path of auto ? candidates : [item]) {
      let real: string | undefined;
      try {
        real = await realpath(path);
      } catch {
        // Missing: skipped for auto, kept (and reported by the preflight) when named explicitly.
        real = undefined;
      }
      if (real === undefined && auto) continue;
      const key = real ?? path;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(path);
    }
  }
  return out;
}
