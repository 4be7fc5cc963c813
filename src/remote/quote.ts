/**
 * THE quoting function. Every remote command line in toss is built from an argv array with
 * `shellJoin`; no other code may put a value into a command string.
 *
 * The remote side is the login user's shell (`sh -c` semantics): POSIX single quotes keep every
 * byte literal except `'` itself, which is written as `'\''`.
 */
import { TossError } from '../errors.js';

// Words made only of these characters mean the same unquoted in sh, bash, dash and zsh.
const SAFE_WORD = /^[A-Za-z0-9_@+:,./-][A-Za-z0-9_@+=:,./-]*$/;

/** Quote one argument so the remote shell passes it to the program byte for byte. */
export function shellQuote(arg: string): string {
  if (typeof arg !== 'string') {
    throw new TypeError(`shellQuote: expected a string, got ${typeof arg}`);
  }
  // A C string cannot hold NUL: the argument would be cut short on the server.
  if (arg.includes('\0')) {
    throw new TossError('a command argument contains a NUL byte, which no program can receive', {
      hint: 'remove the NUL character from the value',
    });
  }
  if (SAFE_WORD.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Join an argv array into one command line for the remote shell. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** What besideArgv puts between the background and the chain, and after the chain. */
export const BESIDE_START = ' </dev/null & b=$!\n';
export const BESIDE_END = '\nr=$?\nwait "$b"\ns=$?\n[ "$r" -eq 0 ] || exit "$r"\nexit "$s"';

/**
 * One command line that runs `background` beside `chain` (its commands one after another, each
 * only if the one before succeeded), both to the end: the chain's exit when it failed, otherwise
 * the background's. The background reads nothing (its stdin is /dev/null); the chain gets stdin.
 */
export function besideArgv(background: readonly string[], chain: readonly string[][]): string[] {
  const rest = chain.length === 0 ? ':' : chain.map((argv) => shellJoin(argv)).join(' && ');
  return ['sh', '-c', `${shellJoin(background)}${BESIDE_START}${rest}${BESIDE_END}`];
}
