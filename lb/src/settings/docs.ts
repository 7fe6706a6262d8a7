import { stringify } from 'yaml';
import type { Setting } from './kinds.js';
import { resolveSettings } from './resolve.js';
import { SETTING_NAMES, type SettingName, settingOf } from './schema.js';

// What the docs show of the settings, made from their declarations: the configuration tables
// (docs/configuration.md, the README's) and lb.example.yaml. scripts/config-docs.ts writes them.

/** The settings most runs touch: the README's table. */
export const README_SETTINGS: readonly SettingName[] = [
  'port',
  'n',
  'replicaDriver',
  'hashKey',
  'adminToken',
  'drainTimeoutMs',
];

const reloadText = (setting: Setting<unknown>) => (setting.runtime ? 'reload' : 'restart');

/**
 * One row a setting: variable, name in a file, default, what it takes, whether a reload changes it,
 * meaning. `docs`: where docs/ is from the page (links in the docs are relative to docs/).
 */
export function settingsTable(names: readonly SettingName[] = SETTING_NAMES, docs = ''): string {
  const defaults = resolveSettings({}, undefined, { driver: 'process', path: undefined }).settings;
  const rows = [
    '| variable | in a file | default | takes | changes on | meaning |',
    '| --- | --- | --- | --- | --- | --- |',
    ...names.map((name) => {
      const setting = settingOf(name);
      const doc = setting.doc.replace(/\]\((?!https?:|#)/g, `](${docs}`);
      const takes = setting.expects(defaults).replaceAll('|', '\\|');
      return `| \`${setting.env}\` | \`${name}\` | ${setting.defaultDoc} | ${takes} | ${reloadText(setting)} | ${doc} |`;
    }),
  ];
  return `${rows.join('\n')}\n`;
}

/** `name: value` as one YAML line (lists in flow style, never folded), as a file would hold it. */
export function yamlLine(name: string, value: unknown): string {
  return stringify({ [name]: value }, { flow: true, lineWidth: 0, flowCollectionPadding: false })
    .trim()
    .replace(/^\{(.*)\}$/, '$1');
}

/** A default that depends on other settings or on how the LB runs is left unset (null) in the example. */
const DERIVED: ReadonlySet<SettingName> = new Set(['host', 'replicaDriver', 'k', 'maxReplicas']);

/**
 * lb.example.yaml: every setting at its default, grouped under comments by concern, each with its
 * variable, whether a reload changes it, and its doc. Read back, it gives the defaults.
 */
export function exampleFile(): string {
  const lines = [
    "# The load balancer's configuration file (LB_CONFIG=lb.yaml, or --config lb.yaml): every setting",
    '# at its default. A name is its environment variable in lower camel case (UPSTREAM_TIMEOUT_MS is',
    '# upstreamTimeoutMs); the environment overrides the file. "reload": SIGHUP or POST /config/reload',
    '# applies a change while the LB runs; "restart": a change waits for the next start. null: unset.',
    '# Check a file: npm run check-config -- --config lb.yaml. Generated from lb/src/settings/.',
  ];
  const defaults = resolveSettings({}, undefined, { driver: 'process', path: undefined }).settings;
  let group: string | undefined;
  for (const name of SETTING_NAMES) {
    const setting = settingOf(name);
    if (setting.group !== group) {
      group = setting.group;
      lines.push('', `# ---- ${group}`);
    }
    const plain = setting.doc.replace(/\[([^\]]+)\]\([^)]+\)/g, '$1').replaceAll('`', '');
    lines.push(`# ${setting.env} (${reloadText(setting)}): ${plain}`);
    const value = DERIVED.has(name) ? null : setting.show(defaults[name]);
    const line = yamlLine(name, value);
    lines.push(DERIVED.has(name) ? `${line} # ${setting.defaultDoc.replaceAll('`', '')}` : line);
  }
  lines.push(
    '',
    '# ---- Replicas to start (instead of n): names and weights (1..16)',
    '# replicas:',
    '#   - {name: Server-1}',
    '#   - {name: Server-2, weight: 2}',
  );
  return `${lines.join('\n')}\n`;
}
