/** One line the user typed, understood. */
export type Command =
  | {
      readonly kind: 'request';
      readonly method: 'GET' | 'POST' | 'DELETE';
      readonly path: string;
      readonly body?: unknown;
    }
  | { readonly kind: 'help' }
  | { readonly kind: 'exit' }
  | { readonly kind: 'empty' };

export class CommandError extends Error {}

export const HELP = `commands:
  rep                    list the replicas            (GET /rep)
  home                   ask a replica to say hello   (GET /home)
  add <n> [name ...]     add n replicas, named first  (POST /add)
  del <n> [name ...]     remove n replicas (alias rm) (DELETE /rm)
  <path>                 GET any other path, e.g. heartbeat or a/b
  help                   this text
  exit | quit            leave (Ctrl-D too)`;

function count(word: string | undefined, usage: string): number {
  if (word === undefined) throw new CommandError(`missing <n>: ${usage}`);
  if (!/^\d+$/.test(word)) throw new CommandError(`<n> must be a whole number, got '${word}': ${usage}`);
  return Number(word);
}

/** Parses one line; throws CommandError with a usage hint for malformed input. */
export function parseCommand(line: string): Command {
  const words = line.trim().split(/\s+/).filter(Boolean);
  const [head, ...rest] = words;
  if (head === undefined) return { kind: 'empty' };
  switch (head.toLowerCase()) {
    case 'help':
    case '?':
      return { kind: 'help' };
    case 'exit':
    case 'quit':
      return { kind: 'exit' };
    case 'rep':
      return { kind: 'request', method: 'GET', path: '/rep' };
    case 'home':
      return { kind: 'request', method: 'GET', path: '/home' };
    case 'add': {
      const n = count(rest[0], 'add <n> [name ...]');
      return { kind: 'request', method: 'POST', path: '/add', body: { n, hostnames: rest.slice(1) } };
    }
    case 'del':
    case 'rm': {
      const n = count(rest[0], `${head} <n> [name ...]`);
      return { kind: 'request', method: 'DELETE', path: '/rm', body: { n, hostnames: rest.slice(1) } };
    }
    default:
      if (words.length > 1) throw new CommandError(`unknown command '${head}' (type help)`);
      return { kind: 'request', method: 'GET', path: `/${head.replace(/^\/+/, '')}` };
  }
}
