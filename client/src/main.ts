import { createInterface } from 'node:readline';
import { callLb, UnreachableError } from './api.js';
import { CommandError, HELP, parseCommand } from './commands.js';
import { formatError, formatReply } from './format.js';
import { GrpcCallError, whoOverGrpc } from './grpc.js';
import { openTunnel } from './tunnel.js';

const baseUrl = (process.env.LB_URL ?? 'http://127.0.0.1:5000').replace(/\/+$/, '');
const tty = Boolean(process.stdout.isTTY);

/** Runs one line; returns false when the line failed (malformed, unreachable or non-2xx). */
async function runLine(line: string): Promise<boolean | 'exit'> {
  try {
    const command = parseCommand(line);
    if (command.kind === 'exit') return 'exit';
    if (command.kind === 'empty') return true;
    if (command.kind === 'help') {
      console.log(HELP);
      return true;
    }
    if (command.kind === 'tunnel') {
      const { received, servedBy } = await openTunnel(baseUrl, command.path, command.messages, command.headers);
      if (tty) console.log(`tunnel to ${servedBy ?? 'the replica'}:`);
      for (const message of received) console.log(message);
      return true;
    }
    if (command.kind === 'grpc') {
      console.log(JSON.stringify(await whoOverGrpc(baseUrl, command.key, command.headers)));
      return true;
    }
    const reply = await callLb(baseUrl, command.method, command.path, command.body, command.headers);
    console.log(formatReply(reply, tty));
    return reply.status >= 200 && reply.status < 300;
  } catch (error) {
    if (error instanceof CommandError || error instanceof UnreachableError || error instanceof GrpcCallError) {
      console.error(formatError(error.message, tty));
      return false;
    }
    throw error;
  }
}

async function interactive(): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: 'lb> ', historySize: 500 });
  console.log(`connected to ${baseUrl}; type help for commands`);
  rl.prompt();
  rl.on('SIGINT', () => rl.close());
  for await (const line of rl) {
    if ((await runLine(line)) === 'exit') break;
    rl.prompt();
  }
  rl.close();
}

/** Piped stdin: each line is a command; exits 1 if any failed. */
async function scripted(): Promise<number> {
  let failed = false;
  for await (const line of createInterface({ input: process.stdin })) {
    const result = await runLine(line);
    if (result === 'exit') break;
    if (result === false) failed = true;
  }
  return failed ? 1 : 0;
}

const args = process.argv.slice(2);
if (args.length > 0) {
  const result = await runLine(args.join(' '));
  process.exit(result === false ? 1 : 0);
} else if (process.stdin.isTTY) {
  await interactive();
  process.exit(0);
} else {
  process.exit(await scripted());
}
