import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';

/** The Python that has Debian's `python3-prometheus-client` (the Prometheus project's own parsers). */
export const EXPOSITION_PARSER_PYTHON = '/usr/bin/python3';

/** One sample as the parser read it. */
export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One family as the parser read it (for counters the parser's family name has no `_total`). */
export interface ParsedFamily {
  name: string;
  type: string;
  help: string;
  samples: ParsedSample[];
}

// Parses stdin with client_python's parser for the asked format and prints the families as JSON; exits 3 on a parse error.
const PARSER_SCRIPT = `
import json, math, sys
fmt = sys.argv[1]
text = sys.stdin.read()
try:
    if fmt == 'openmetrics':
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    else:
        from prometheus_client.parser import text_string_to_metric_families
    out = []
    for f in text_string_to_metric_families(text):
        out.append({'name': f.name, 'type': f.type, 'help': f.documentation,
                    'samples': [{'name': s.name, 'labels': dict(s.labels), 'value': (None if math.isnan(s.value) else s.value)} for s in f.samples]})
except Exception as e:
    sys.stderr.write('parse error: %s\\n' % e)
    sys.exit(3)
json.dump(out, sys.stdout)
`;

/** True when the parser can run (`apt-get install python3-prometheus-client`; scripts/provision.sh does it). */
export function hasExpositionParser(): boolean {
  if (!existsSync(EXPOSITION_PARSER_PYTHON)) return false;
  return existsSync('/usr/lib/python3/dist-packages/prometheus_client/openmetrics/parser.py');
}

/**
 * Parses a metrics page with the Prometheus project's reference parser (client_python): the strict OpenMetrics
 * parser, or the text-format one. Rejects with the parser's message when the page is malformed.
 */
export function parseExposition(text: string, format: 'prometheus' | 'openmetrics'): Promise<ParsedFamily[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(EXPOSITION_PARSER_PYTHON, ['-c', PARSER_SCRIPT, format], { timeout: 20_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${format} parser refused the page: ${stderr.trim() || error.message}`, { cause: error }));
      else resolve(JSON.parse(stdout) as ParsedFamily[]);
    });
    child.stdin?.end(text);
  });
}

/** Fetches `url` with the given Accept header; returns status, content type and body. */
export async function scrapeMetrics(url: string, accept?: string): Promise<{ status: number; contentType: string; body: string }> {
  const response = await fetch(url, { headers: accept ? { accept } : {}, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: await response.text() };
}

/** A TCP socket in LISTEN state, from /proc/net/tcp or tcp6. */
export interface ListeningSocket {
  inode: string;
  address: string;
  port: number;
  file: 'tcp' | 'tcp6';
}

/**
 * The TCP sockets `pid` owns that are listening: its socket inodes (from /proc/<pid>/fd) matched against the
 * LISTEN rows of /proc/<pid>/net/tcp and tcp6 (the process' own network namespace).
 */
export async function readListeningSockets(pid: number, procRoot = '/proc'): Promise<ListeningSocket[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`${procRoot}/${pid}/fd`)) {
    const target = await readlink(`${procRoot}/${pid}/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) inodes.add(match[1]!);
  }
  const out: ListeningSocket[] = [];
  for (const file of ['tcp', 'tcp6'] as const) {
    const text = await readFile(`${procRoot}/${pid}/net/${file}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // st 0A is TCP_LISTEN; field 9 is the inode.
      if (fields.length < 10 || fields[3] !== '0A' || !inodes.has(fields[9]!)) continue;
      const [address = '', port = '0'] = fields[1]!.split(':');
      out.push({ inode: fields[9]!, address, port: Number.parseInt(port, 16), file });
    }
  }
  return out;
}
