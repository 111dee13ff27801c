/** A control request as the Scope probe sends it to `POST /control`. */
export interface ControlRequest {
  /** App that asked (informational). */
  appId: string;
  /** Control id, without the `<pluginID>~` prefix. */
  control: string;
  /** Node the control was fired on. */
  nodeId: string;
  /** String arguments from the UI, or an empty object. */
  args: Record<string, string>;
  /** Probe that relayed the request (from the query string), if given. */
  probeId: string | undefined;
}

/** Parses and validates a control body; returns the request or an error message saying what is wrong. */
export function parseControlRequest(body: string, probeId?: string): ControlRequest | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (cause) {
    return { error: `control request body is not valid JSON: ${(cause as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: 'control request body must be a JSON object with Control and NodeID' };
  }
  const v = value as Record<string, unknown>;
  if (typeof v['Control'] !== 'string' || v['Control'] === '') return { error: 'control request needs a non-empty string "Control"' };
  if (typeof v['NodeID'] !== 'string' || v['NodeID'] === '') return { error: 'control request needs a non-empty string "NodeID"' };
  const rawArgs = v['ControlArgs'];
  const args: Record<string, string> = {};
  if (rawArgs !== undefined && rawArgs !== null) {
    if (typeof rawArgs !== 'object' || Array.isArray(rawArgs)) return { error: '"ControlArgs" must be null or an object of strings' };
    for (const [k, arg] of Object.entries(rawArgs)) {
      if (typeof arg !== 'string') return { error: `"ControlArgs.${k}" must be a string, got ${JSON.stringify(arg)}` };
      args[k] = arg;
    }
  }
  const control = v['Control'].replace(/^[^~]*~/, '');
  return { appId: typeof v['AppID'] === 'string' ? v['AppID'] : '', control, nodeId: v['NodeID'], args, probeId };
}
