/** For each phase, the phases it may move to: a move not listed is a bug of the data plane. */
export type Transitions<P extends string> = { readonly [From in P]: readonly P[] };

/** LB_ASSERT=1 (the test runner sets it): an illegal move throws, so a test meets it where it happens. */
const STRICT = process.env.LB_ASSERT === '1';
const reported = new Set<string>();

/**
 * The phase after moving from `from` to `to`. The check is one lookup in an array of at most six
 * names; a move the table does not list throws under LB_ASSERT=1, and is otherwise reported once
 * (on stderr) and made anyway: the connection goes on as it would have without the check.
 */
export function move<P extends string>(table: Transitions<P>, what: string, from: P, to: P): P {
  if (!table[from].includes(to)) illegal(`${what}: ${from} -> ${to} is not a legal move`);
  return to;
}

function illegal(message: string): void {
  if (STRICT) throw new Error(message);
  if (reported.has(message)) return;
  reported.add(message);
  process.emitWarning(message, 'PhaseWarning');
}
