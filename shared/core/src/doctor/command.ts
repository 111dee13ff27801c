import { Command, Option } from 'commander';
import { parsePositiveInt } from '../cli/options.js';
import { doctorFailed, formatDoctor, runDoctor } from './doctor.js';

function parseArgs(text: string): Record<string, string> {
  const value: unknown = JSON.parse(text);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new TypeError(`--args must be a JSON object of strings, got ${text}`);
  return value as Record<string, string>;
}

/** Configures `command` as the doctor: `<socket-or-root> [--json] [--control id --node id]`. */
export function createDoctorCommand(command: Command): Command {
  return command
    .description('Poll plugin sockets exactly as the Scope probe v1.13.2 does, check every answer against the protocol, and print what Scope would show. Exits 1 on any violation.')
    .argument('<socket-or-root>', 'a plugin socket, or a plugins root to scan like the probe')
    .option('--json', 'print the findings as JSON')
    .addOption(new Option('--timeout-ms <ms>', "deadline per request (the probe's is 500)").argParser(parsePositiveInt('--timeout-ms')).default(500))
    .option('--host-id <id>', 'host id the probe would use (default: $SCOPE_HOSTNAME or the hostname)')
    .option('--control <id>', 'also fire this control (unprefixed id) and check the answer')
    .option('--node <id>', 'node id for --control')
    .addOption(new Option('--args <json>', 'ControlArgs for --control').argParser(parseArgs))
    .showHelpAfterError()
    .action(async (target: string, opts: { json?: boolean; timeoutMs: number; hostId?: string; control?: string; node?: string; args?: Record<string, string> }) => {
      if (opts.control && !opts.node) throw new TypeError('--control needs --node <node id>');
      try {
        const entries = await runDoctor(target, {
          timeoutMs: opts.timeoutMs,
          ...(opts.hostId ? { hostId: opts.hostId } : {}),
          ...(opts.control && opts.node ? { control: { control: opts.control, nodeId: opts.node, ...(opts.args ? { args: opts.args } : {}) } } : {}),
        });
        process.stdout.write(opts.json ? `${JSON.stringify(entries, null, 2)}\n` : `${formatDoctor(entries)}\n`);
        process.exitCode = doctorFailed(entries) ? 1 : 0;
      } catch (error) {
        process.stderr.write(`doctor: ${(error as Error).message}\n`);
        process.exitCode = 2;
      }
    });
}
