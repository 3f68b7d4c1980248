import { stringify } from 'smol-toml';
import { redactValue } from '@agent-runner/core/redact';
import type { CliContext, GlobalArgs } from '../context.js';
import { loadProjectConfig } from '../load.js';
import { out, outJson } from '../output.js';

/**
 * `agent-runner config check [--json]`: validates the config (schema and semantic rules) and
 * prints it normalised — defaults applied, paths absolute — with secrets redacted.
 * Exit 0 when valid, 78 otherwise (the error names file, line, key).
 */
export function configCheck(ctx: CliContext, args: GlobalArgs): number {
  const cfg = redactValue(loadProjectConfig(ctx, args));
  if (args.json) {
    outJson(ctx, { ok: true, config: cfg });
    return 0;
  }
  const { source, phases, notify, ...rest } = cfg;
  const asToml = {
    ...rest,
    phases: { list: phases.map((p) => p.name), ...Object.fromEntries(phases.map(({ name, ...p }) => [name, p])) },
    notify: Object.fromEntries(notify.map(({ name, ...n }) => [name, n])),
  };
  out(ctx, `# ${source}: valid`);
  out(ctx, '# normalised: defaults applied, paths absolute, secrets redacted');
  out(ctx, stringify(asToml));
  return 0;
}
