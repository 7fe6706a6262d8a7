import { stringify } from 'yaml';
import type { Config } from './config.js';
import { yamlLine } from './settings/docs.js';
import { shownSettings } from './settings/resolve.js';
import { SETTING_NAMES, settingOf } from './settings/schema.js';

/** `node dist/lb.js [check-config] [--config lb.yaml]`. */
export interface Command {
  /** check-config: validate, print the effective configuration, exit (0, or 2 with every error). */
  readonly checkOnly: boolean;
  readonly file: string | undefined;
}

export function parseCommand(args: readonly string[]): Command {
  let file: string | undefined;
  let checkOnly = false;
  for (let at = 0; at < args.length; at++) {
    const arg = args[at]!;
    if (arg === 'check-config') checkOnly = true;
    else if (arg === '--config') file = args[++at];
    else if (arg.startsWith('--config=')) file = arg.slice('--config='.length);
  }
  return { checkOnly, file };
}

/**
 * The effective configuration as YAML a file could hold (secrets redacted), each value that is
 * not its default followed by where it came from.
 */
export function effectiveConfigText(config: Config): string {
  const shown = shownSettings(config);
  const from = config.configFile ?? 'the file';
  const lines = [`# effective configuration${config.configFile ? ` (${config.configFile}, environment)` : ''}`];
  for (const name of SETTING_NAMES) {
    const origin = config.origins[name];
    const value = yamlLine(name, shown[name]);
    const note = origin === 'default' ? '' : `  # ${origin === 'file' ? from : settingOf(name).env}`;
    lines.push(`${value}${note}`);
  }
  if (config.initialReplicas) lines.push(stringify({ replicas: config.initialReplicas }).trim());
  return `${lines.join('\n')}\n`;
}
