/** Result of {@link parseFirstJsonValue}. */
export interface FirstJsonValue {
  value: unknown;
  /** Non-whitespace bytes after the first value (Scope ignores them). */
  trailing: string;
}

function endOfValue(text: string, start: number): number {
  const first = text[start];
  if (first === '"') {
    for (let i = start + 1; i < text.length; i++) {
      if (text[i] === '\\') i++;
      else if (text[i] === '"') return i + 1;
    }
    return text.length;
  }
  if (first === '{' || first === '[') {
    let depth = 0;
    for (let i = start; i < text.length; i++) {
      const c = text[i];
      if (c === '"') i = endOfValue(text, i) - 1;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return text.length;
  }
  const match = /^[^\s,\]}{[]+/.exec(text.slice(start));
  return start + (match?.[0].length ?? 1);
}

/** Parses only the first JSON value of `text`, as Scope's decoder does; throws a SyntaxError if that value is malformed. */
export function parseFirstJsonValue(text: string): FirstJsonValue {
  const start = text.search(/\S/);
  if (start < 0) throw new SyntaxError('empty body');
  const end = endOfValue(text, start);
  const value: unknown = JSON.parse(text.slice(start, end));
  return { value, trailing: text.slice(end).trim() };
}

/**
 * JSON.parse turns `1.0` into `1`; Scope's decoder keeps the literal for string fields. Recover the
 * literal of a numeric `api_version` so `1.0` is judged as Scope judges it.
 */
export function recoverApiVersionLiteral(text: string, value: unknown): void {
  const specs = (value as { Plugins?: unknown } | null)?.Plugins;
  if (!Array.isArray(specs)) return;
  const literals = [...text.matchAll(/"api_version"\s*:\s*(-?[0-9][0-9.eE+-]*)/g)].map((m) => m[1]!);
  let next = 0;
  for (const spec of specs) {
    if (spec && typeof spec === 'object' && typeof (spec as Record<string, unknown>)['api_version'] === 'number') {
      const literal = literals[next++];
      if (literal !== undefined) (spec as Record<string, unknown>)['api_version'] = literal;
    }
  }
}
