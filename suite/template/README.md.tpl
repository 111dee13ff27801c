# {{packageName}}

A [Weave Scope](https://github.com/weaveworks/scope) plugin made with `scope-plugins new` on
[`@scope-plugins/core`](https://www.npmjs.com/package/@scope-plugins/core). As generated it shows the
host's load average (from `/proc/loadavg`) on the host node: three values, the runnable and total
tasks, and a graph of the 1-minute load. Change it into your own plugin from there.

## Build, test, run

```sh
{{commands}}
```

`{{bin}}` serves the plugin socket `/var/run/scope/plugins/{{id}}/{{id}}.sock` (`--root DIR` for
another root), which Scope's probe picks up if that root existed when it started. The doctor polls
it exactly as the probe does and prints what Scope would show, with every protocol violation
(exit status 1 on any).

Flags: the common ones of every `@scope-plugins/core` bin (`--root`, `--once`, `--log-level`,
`--interval-ms`, `--proc-root`, `--sys-root`, `--socket-mode`, `--help`) and this plugin's own:

| flag | env | default | |
|---|---|---|---|
| `--decimals N` | `SCOPE_{{ENV}}_DECIMALS` | `2` | decimals shown for the load averages (a whole number ≥ 0) |

## Layout

| file | what it holds |
|---|---|
| `src/index.ts` | the definition: id, label, templates (what Scope shows), options, `create` → `collect` |
| `src/parse.ts` | pure parsers, text in, typed record out, tested on committed fixtures |
| `src/collect.ts` | the only host access, through the context's paths (`--proc-root`), never hard-coded |
| `src/cli.ts` | the bin: `runPluginCli(plugin)` |
| `test/parse.test.ts` | the parser on `test/fixtures/` (their origin is in `test/fixtures/README.md`) |
| `test/plugin.test.ts` | the plugin on a real socket with the fixtures as its `/proc`: the report, and the doctor's verdict |

The plugin id `{{id}}` is also its socket's name: Scope requires it to match
`^[A-Za-z0-9]+([-][A-Za-z0-9]+)*$`. Keys written on nodes start with `{{key}}_`, because Scope merges
the keys of every plugin into one node.
