import { editDistance } from '../../lb/src/settings/edit-distance.js';

/** One line the user typed, understood. */
export type Command =
  | {
      readonly kind: 'request';
      readonly method: 'GET' | 'POST' | 'DELETE';
      readonly path: string;
      readonly body?: unknown;
      /** Sent with it: a routing key (--key, --header). */
      readonly headers?: Record<string, string>;
    }
  | {
      readonly kind: 'tunnel';
      readonly path: string;
      /** Sent one by one once the replica greeted, each waiting for its echo. */
      readonly messages: readonly string[];
      readonly headers?: Record<string, string>;
    }
  | {
      readonly kind: 'grpc';
      /** Asked of lb.v1.Echo/Who, and sent in the key header. */
      readonly key: string;
      readonly headers: Record<string, string>;
    }
  | { readonly kind: 'help' }
  | { readonly kind: 'exit' }
  | { readonly kind: 'empty' };

export class CommandError extends Error {}

export const HELP = `commands:
  rep                    list the replicas            (GET /rep)
  home [options]         ask a replica to say hello   (GET /home)
  add <n> [name ...] [--weight w]
                         add n replicas, named first  (POST /add; weight 1..16)
  del <n> [name ...]     remove n replicas (alias rm) (DELETE /rm)
  plan add|rm <n> [name ...] [--weight w]
                         what that add or rm would move, changing nothing (POST /membership/plan)
  owner <key>            the replica that owns a routing key now (GET /membership/owner)
  <path> [options]       GET any other path, written with a slash, e.g. /heartbeat or a/b
  ws <path> [message ...] [options]
                         open a WebSocket tunnel (e.g. ws /ws?room=42 hi), print what comes back
  grpc <key> [options]   gRPC call lb.v1.Echo/Who through the LB (replicas with REPLICA_PROTOCOL=h2c),
                         the key also in the X-Key header: which replica answers it
  help                   this text
  exit | quit            leave (Ctrl-D too)
options of home, ws, grpc and <path>:
  --key K                send routing key K in the X-Key header (LB_KEY_HEADER names another header);
                         the LB routes by it with HASH_KEY=header:x-key
  --header Name:value    send any header (repeat it), e.g. --header cookie:sid=abc`;

/** The header `--key` puts the key in. */
export const keyHeader = (): string => (process.env.LB_KEY_HEADER ?? 'x-key').toLowerCase();

function count(word: string | undefined, usage: string): number {
  if (word === undefined) throw new CommandError(`missing <n>: ${usage}`);
  if (!/^\d+$/.test(word)) throw new CommandError(`<n> must be a whole number, got '${word}': ${usage}`);
  return Number(word);
}

/** `--key K` and `--header Name:value` out of `words`; what is left, and the headers they give. */
function takeHeaders(words: readonly string[]): { rest: string[]; headers: Record<string, string> | undefined } {
  const rest: string[] = [];
  let headers: Record<string, string> | undefined;
  for (let k = 0; k < words.length; k++) {
    const word = words[k]!;
    if (word !== '--key' && word !== '--header') {
      rest.push(word);
      continue;
    }
    const value = words[++k];
    if (value === undefined)
      throw new CommandError(`${word} needs a value: ${word === '--key' ? '--key K' : '--header Name:value'}`);
    headers ??= {};
    if (word === '--key') {
      headers[keyHeader()] = value;
    } else {
      const colon = value.indexOf(':');
      if (colon < 1) throw new CommandError(`--header needs Name:value, got '${value}'`);
      headers[value.slice(0, colon).trim().toLowerCase()] = value.slice(colon + 1).trim();
    }
  }
  return { rest, headers };
}

/** `--weight w` out of `words` (the LB checks its range). */
function takeWeight(words: readonly string[]): { rest: string[]; weight: number | undefined } {
  const at = words.indexOf('--weight');
  if (at === -1) return { rest: [...words], weight: undefined };
  const value = words[at + 1];
  if (value === undefined || !/^\d+$/.test(value)) {
    throw new CommandError(`--weight needs a whole number, got '${value ?? ''}': add <n> [name ...] [--weight w]`);
  }
  return { rest: [...words.slice(0, at), ...words.slice(at + 2)], weight: Number(value) };
}

const COMMANDS = ['rep', 'home', 'add', 'del', 'rm', 'plan', 'owner', 'ws', 'grpc', 'help', 'exit', 'quit'];
const NOT_GET = ['add', 'del', 'rm', 'plan', 'owner', 'rep', 'help', '?', 'exit', 'quit'];

/** `add <n> [name ...] [--weight w]`'s body. */
function addBody(words: readonly string[], usage: string) {
  const { rest: names, weight } = takeWeight(words);
  const n = count(names[0], usage);
  return { n, hostnames: names.slice(1), ...(weight === undefined ? {} : { weight }) };
}

/** `plan add ...` / `plan rm ...`: the change's body with its op. */
function planCommand(words: readonly string[]): Command {
  const [op, ...rest] = words;
  const usage = 'plan add|rm <n> [name ...] [--weight w]';
  if (op !== 'add' && op !== 'rm' && op !== 'del') throw new CommandError(`plan what? ${usage}`);
  const body =
    op === 'add' ? { op, ...addBody(rest, usage) } : { op: 'rm', n: count(rest[0], usage), hostnames: rest.slice(1) };
  return { kind: 'request', method: 'POST', path: '/membership/plan', body };
}

/** What an unknown bare word gets: the command it is likely a typo of, and how to GET it as a path. */
function unknownWord(word: string): string {
  const near = COMMANDS.find((command) => editDistance(word.toLowerCase(), command) <= 2);
  const guess = near ? `did you mean '${near}'? ` : '';
  return `unknown command '${word}': ${guess}a path to GET starts with /, e.g. /${word} (type help)`;
}

/** Parses one line; throws CommandError with a usage hint for malformed input. */
export function parseCommand(line: string): Command {
  const all = line.trim().split(/\s+/).filter(Boolean);
  const [head] = all;
  const isGet = head !== undefined && !NOT_GET.includes(head.toLowerCase());
  const { rest: words, headers } = isGet ? takeHeaders(all) : { rest: all, headers: undefined };
  const rest = words.slice(1);
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
      if (rest.length > 0)
        throw new CommandError(`home takes no words but its options, got '${rest.join(' ')}' (type help)`);
      return { kind: 'request', method: 'GET', path: '/home', ...(headers ? { headers } : {}) };
    case 'add':
      return { kind: 'request', method: 'POST', path: '/add', body: addBody(rest, 'add <n> [name ...] [--weight w]') };
    case 'plan':
      return planCommand(rest);
    case 'owner': {
      if (rest.length !== 1) throw new CommandError('owner takes one key: owner <key> (e.g. owner user-42)');
      return { kind: 'request', method: 'GET', path: `/membership/owner?key=${encodeURIComponent(rest[0]!)}` };
    }
    case 'ws': {
      const path = rest[0];
      if (path === undefined) throw new CommandError('missing <path>: ws <path> [message ...] (e.g. ws /ws?room=42)');
      const target = `/${path.replace(/^\/+/, '')}`;
      return { kind: 'tunnel', path: target, messages: rest.slice(1), ...(headers ? { headers } : {}) };
    }
    case 'grpc': {
      const key = rest[0];
      if (key === undefined || rest.length > 1)
        throw new CommandError('grpc takes one key: grpc <key> [options] (e.g. grpc alice)');
      return { kind: 'grpc', key, headers: { [keyHeader()]: key, ...headers } };
    }
    case 'del':
    case 'rm': {
      const n = count(rest[0], `${head} <n> [name ...]`);
      return { kind: 'request', method: 'DELETE', path: '/rm', body: { n, hostnames: rest.slice(1) } };
    }
    default:
      if (words.length > 1) throw new CommandError(`unknown command '${head}' (type help)`);
      // A path is written with a slash: a bare word is a command, so a typo is not sent as a GET.
      if (!head.includes('/')) throw new CommandError(unknownWord(head));
      return { kind: 'request', method: 'GET', path: `/${head.replace(/^\/+/, '')}`, ...(headers ? { headers } : {}) };
  }
}
