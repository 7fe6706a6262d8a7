/** Settings that cannot be used: every reason, one a line (the LB stops at start, exit 2; a reload changes nothing). */
export class ConfigError extends Error {
  readonly errors: readonly string[];

  constructor(errors: string | readonly string[]) {
    const all = typeof errors === 'string' ? [errors] : errors;
    super(all.join('\n'));
    this.errors = all;
  }
}
