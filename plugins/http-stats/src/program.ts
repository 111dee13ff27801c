/**
 * Builds the one bpftrace program the plugin runs: the syscall program (plain HTTP) followed by the OpenSSL
 * fragment (HTTPS) attached to every TLS library, so HTTP and HTTPS share one bpftrace process (one LLVM, one
 * set of maps, one output stream) instead of one per library plus one for HTTP. Pure: text in, text out.
 */

/** Stands for each library in the attach points of `bpf/https-openssl.bt`. */
export const LIBRARY_PLACEHOLDER = '__LIBRARY__';

/** Characters a library path may hold in a bpftrace attach point (0.17 has no quoting there). */
const ATTACH_PATH = /^\/[A-Za-z0-9_./+@-]+$/;

/** True when `path` can be written into a bpftrace attach point as is. */
export function isAttachablePath(path: string): boolean {
  return ATTACH_PATH.test(path) && !path.includes('..');
}

/**
 * The syscall program, then (when there are libraries) the TLS fragment with each `uprobe:__LIBRARY__:SYM`
 * attach point repeated once per library. Throws a TypeError naming a library path bpftrace could not parse.
 */
export function composeTracerProgram(httpProgram: string, tlsFragment: string, libraries: readonly string[]): string {
  if (libraries.length === 0) return httpProgram;
  for (const library of libraries) {
    if (!isAttachablePath(library)) throw new TypeError(`TLS library path ${JSON.stringify(library)} cannot be attached to: use an absolute path of letters, digits and ._+@-/ only`);
  }
  if (!tlsFragment.includes(LIBRARY_PLACEHOLDER)) throw new TypeError(`the TLS fragment has no ${LIBRARY_PLACEHOLDER} attach point`);
  const attached = tlsFragment.replace(/\b(uprobe|uretprobe):__LIBRARY__:(\w+)/g, (_, kind: string, symbol: string) => libraries.map((library) => `${kind}:${library}:${symbol}`).join(', '));
  return `${httpProgram.trimEnd()}\n\n${attached}`;
}
