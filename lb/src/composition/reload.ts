import { EventEmitter } from 'node:events';
import { Mutex } from 'async-mutex';
import type { Logger } from 'pino';
import { applyRuntimeSettings, type Config, ConfigError, type ConfigReading, restartNeeded } from '../config.js';
import type { PublishedSettings } from '../membership/replica.js';
import { type FileLayer, resolveSettings, shownSettings } from '../settings/resolve.js';
import { SETTING_NAMES, type SettingName, settingOf } from '../settings/schema.js';

/** What a reload did. */
export interface ReloadOutcome {
  readonly version: number;
  /** Run-time settings whose value changed (applied). */
  readonly changed: readonly SettingName[];
  /** Settings whose new value needs a restart (left as they are). */
  readonly restartNeeded: readonly SettingName[];
}

/**
 * The controller's configuration and its versions. A reload reads file and environment again
 * (one at a time, in arrival order); one that cannot be used changes nothing and throws every
 * reason. One that can writes its run-time settings into the configuration, and every listener
 * (this process's data plane; through the membership feed, every worker and data plane) applies it.
 */
export class ConfigVersions extends EventEmitter<{ applied: [ReadonlySet<SettingName>, number] }> {
  version = 1;
  private pending: SettingName[] = [];
  /** The run-time settings a reload has changed since the start: what data planes take from it. */
  private readonly reloaded = new Set<SettingName>();
  private readonly mutex = new Mutex();

  constructor(
    readonly config: Config,
    private readonly read: () => ConfigReading,
    private readonly log: Logger,
    /** A reload was refused (the counter of /metrics). */
    private readonly refused: () => void,
  ) {
    super();
  }

  reload(): Promise<ReloadOutcome> {
    return this.mutex.runExclusive(() => {
      const reading = this.read();
      if (!('config' in reading)) {
        this.refused();
        this.log.error({ errors: reading.errors }, 'configuration not reloaded: nothing changed');
        throw new ConfigError(reading.errors);
      }
      const next = reading.config;
      const changed = applyRuntimeSettings(this.config, next, next.origins);
      this.pending = restartNeeded(this.config, next);
      if (changed.size > 0) {
        for (const name of changed) this.reloaded.add(name);
        this.version++;
        this.emit('applied', changed, this.version);
      }
      const outcome = { version: this.version, changed: [...changed], restartNeeded: this.pending };
      this.log.info(outcome, changed.size > 0 ? 'configuration reloaded' : 'configuration reloaded: nothing changed');
      if (this.pending.length > 0)
        this.log.warn({ restartNeeded: this.pending }, 'settings changed that need a restart: left as they are');
      return outcome;
    });
  }

  /** GET /config: every setting by its file name (secrets redacted), the version, what needs a restart. */
  effective(): { version: number; settings: Record<string, unknown>; restartNeeded: SettingName[] } {
    return { version: this.version, settings: shownSettings(this.config), restartNeeded: this.pending };
  }

  /**
   * What data planes apply: the run-time settings reloads changed, as this version has them. Until
   * a reload changes one, each data plane keeps its own (its environment means what it always meant).
   */
  published(): PublishedSettings {
    const shown = shownSettings(this.config);
    return { version: this.version, values: Object.fromEntries([...this.reloaded].map((name) => [name, shown[name]])) };
  }
}

/**
 * In a data plane: the run-time settings the controller's reloads changed, written into this
 * process's configuration (the rest stay as its own file and environment give them). Returns the
 * names that changed; values it cannot read change nothing (an error).
 */
export function applyPublished(config: Config, published: PublishedSettings): Set<SettingName> {
  // Its own settings that need a restart, the controller's run-time ones (secrets are not run-time).
  const own = shownSettings(config) as Record<string, unknown>;
  for (const name of SETTING_NAMES) if (settingOf(name).secret) delete own[name];
  const layer: FileLayer = { shown: 'the controller', values: { ...own, ...published.values } };
  const { settings, origins, errors } = resolveSettings({}, layer, {
    driver: config.replicaDriver,
    path: process.env.PATH,
  });
  if (errors.length > 0) throw new ConfigError(errors);
  return applyRuntimeSettings(config, settings, origins);
}
