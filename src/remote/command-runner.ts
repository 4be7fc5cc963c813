/**
 * A command runner: one long-lived shell on the server that runs our command lines one after
 * another over a single SSH channel. A new exec channel costs sshd a fork, a session set-up and
 * a login shell (15–30 ms, plus sudo's own start-up for a non-root login); a line sent to a
 * runner costs about a millisecond. Short commands go through runners; long or streaming ones
 * keep their own channel.
 *
 * Protocol (client → runner): first a random marker line, then per command a header
 * `<id> <command lines> <stdin lines | -> <stdin ends with a newline: 1 | 0>` followed by those
 * lines. The runner reads them with shell builtins only (no process per command but the command
 * itself), evals the command line in a subshell with stdin from the data (or /dev/null), so the
 * line is parsed exactly as sshd's `sh -c` would parse it and nothing the command does can read
 * the protocol: the data is read whole before the command starts. After it exits the
 * runner prints `<marker> <id> <status>` on stdout and `<marker> <id>` on stderr: the output
 * before them is the command's. The marker is 128 random bits sent on stdin (never on a command
 * line, so `ps` does not show it): nothing a command prints can forge the end of its output.
 */
import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';

// take N: the next N lines of the protocol into $got, with shell builtins only (no process).
const RUNNER_SCRIPT = `take() {
  got= _i=0
  while [ "$_i" -lt "$1" ]; do
    IFS= read -r _l || exit 0
    if [ "$_i" = 0 ]; then got=$_l; else got="$got
$_l"; fi
    _i=$((_i + 1))
  done
}
IFS= read -r marker || exit 0
while IFS=' ' read -r id n m nl; do
  take "$n"
  line=$got
  if [ "$m" = - ]; then
    (eval "$line") </dev/null
  else
    take "$m"
    if [ "$nl" = 1 ]; then printf '%s\\n' "$got"; else printf '%s' "$got"; fi | (eval "$line")
  fi
  printf '%s %s %s\\n' "$marker" "$id" "$?"
  printf '%s %s\\n' "$marker" "$id" >&2
done`;

/** argv that starts a runner (to be wrapped in sudo by the caller when it must run as root). */
export function runnerArgv(): string[] {
  return ['sh', '-c', RUNNER_SCRIPT];
}

/**
 * Larger stdin goes over a channel of its own: the shell reads the protocol a byte at a time,
 * which is nothing for a unit file or an env file but slow for megabytes.
 */
export const RUNNER_MAX_STDIN = 16 * 1024;

/** Whether a command can go through a runner: text the protocol carries as lines. */
export function runnerCarries(command: string, stdin: string | Buffer | undefined): boolean {
  if (command.includes('\0')) return false;
  if (stdin === undefined) return true;
  const text = typeof stdin === 'string' ? stdin : stdin.toString('utf8');
  // Bytes that are not UTF-8 would not survive as a string; NUL cannot sit in a shell variable.
  if (typeof stdin !== 'string' && !Buffer.from(text).equals(stdin)) return false;
  return Buffer.byteLength(text) <= RUNNER_MAX_STDIN && !text.includes('\0');
}

/** The protocol's request for one command: a header line, then the command's and stdin's lines. */
export function runnerRequest(id: number, command: string, stdin?: string): string {
  const commandLines = command.split('\n');
  if (stdin === undefined || stdin === '') {
    return `${id} ${commandLines.length} - 0\n${command}\n`;
  }
  const endsWithNewline = stdin.endsWith('\n');
  const body = endsWithNewline ? stdin.slice(0, -1) : stdin;
  const dataLines = body.split('\n').length;
  return `${id} ${commandLines.length} ${dataLines} ${endsWithNewline ? 1 : 0}\n${command}\n${body}\n`;
}

export interface RunnerResult {
  stdout: Buffer;
  stderr: Buffer;
  /** null when the runner itself ended before the command did (then `signal` may say why) */
  code: number | null;
  signal: string | null;
}

/** One stream of the pending command. */
interface Collected {
  /** the command's output so far */
  chunks: Buffer[];
  /** held back: the end of the output so far, which might be the start of the marker */
  carry: Buffer;
  /** what followed the marker, once it was seen */
  trailer?: Buffer;
  done: boolean;
  listener?: ((chunk: Buffer) => void) | undefined;
}

const NONE = Buffer.alloc(0);

const collected = (listener?: (chunk: Buffer) => void): Collected => ({
  chunks: [],
  carry: NONE,
  done: false,
  listener,
});

interface Pending {
  id: number;
  resolve: (result: RunnerResult) => void;
  stdout: Collected;
  stderr: Collected;
  code?: number;
}

/** Listeners for output as it arrives (the result still holds all of it). */
export interface RunnerListeners {
  onStdout?: ((chunk: Buffer) => void) | undefined;
  onStderr?: ((chunk: Buffer) => void) | undefined;
}

/** One runner channel. Runs one command at a time; a RunnerPool (runner-pool.ts) hands them out. */
export class CommandRunner {
  private readonly marker = randomBytes(16).toString('hex');
  private readonly markerBytes = Buffer.from(this.marker);
  private nextId = 1;
  private pending: Pending | undefined;
  private ended = false;
  private exitCode: number | null = null;
  private exitSignal: string | null = null;

  constructor(private readonly channel: ClientChannel) {
    channel.write(`${this.marker}\n`);
    channel.on('data', (chunk: Buffer) => this.onOutput('stdout', chunk));
    channel.stderr.on('data', (chunk: Buffer) => this.onOutput('stderr', chunk));
    channel.on('exit', (code: number | null, signal?: string) => {
      this.exitCode = code;
      this.exitSignal = signal ?? null;
    });
    channel.on('close', () => this.onEnd());
    // A channel error is followed by close; without a listener it would be thrown.
    channel.on('error', () => {});
  }

  /** Still usable for another command. */
  get usable(): boolean {
    return !this.ended;
  }

  /** Runs one command line (as the login shell would parse it) and collects its output. */
  run(
    command: string,
    stdin?: string | Buffer,
    listeners: RunnerListeners = {},
  ): Promise<RunnerResult> {
    if (this.ended) throw new Error('internal: command runner already ended');
    if (this.pending) throw new Error('internal: command runner is busy');
    const id = this.nextId++;
    const text = stdin === undefined || typeof stdin === 'string' ? stdin : stdin.toString('utf8');
    return new Promise<RunnerResult>((resolve) => {
      this.pending = {
        id,
        resolve,
        stdout: collected(listeners.onStdout),
        stderr: collected(listeners.onStderr),
      };
      this.channel.write(runnerRequest(id, command, text));
    });
  }

  /** Ends the runner: it exits once it reads end-of-file. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.channel.end();
  }

  /** Stops the runner and whatever it runs now (used when a command overran its time). */
  destroy(): void {
    this.ended = true;
    this.channel.close();
  }

  private onOutput(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const p = this.pending;
    // Only a runner that failed to start (sudo refusing, say) speaks without a command; its exit
    // status and close tell the caller.
    if (!p) return;
    const s = p[stream];
    if (s.done) {
      this.destroy();
      return;
    }
    const trailer = feed(s, chunk, this.markerBytes);
    if (trailer === undefined) return;
    const end = readTrailer(stream, trailer, p.id);
    if (end === 'partial') return;
    if (end === 'broken') {
      // Cannot happen with our runner; never guess which output belongs to which command.
      this.destroy();
      return;
    }
    s.done = true;
    if (end.code !== undefined) p.code = end.code;
    if (p.stdout.done && p.stderr.done) {
      this.pending = undefined;
      p.resolve({
        stdout: Buffer.concat(p.stdout.chunks),
        stderr: Buffer.concat(p.stderr.chunks),
        code: p.code ?? null,
        signal: null,
      });
    }
  }

  private onEnd(): void {
    this.ended = true;
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    // What was held back as a possible marker start was output after all.
    for (const s of [p.stdout, p.stderr]) {
      if (s.trailer === undefined) pass(s, s.carry);
    }
    // The runner ended mid-command (it could not start, or was killed): report it as the
    // command's own end, with what the runner's exit said, like an exec channel would.
    p.resolve({
      stdout: Buffer.concat(p.stdout.chunks),
      stderr: Buffer.concat(p.stderr.chunks),
      code: this.exitCode,
      signal: this.exitSignal,
    });
  }
}

/**
 * Takes in one chunk of a stream: the command's output up to the marker goes to `s.chunks`, what
 * follows the marker to `s.trailer`. Returns the trailer so far once the marker was seen.
 */
function feed(s: Collected, chunk: Buffer, marker: Buffer): Buffer | undefined {
  if (s.trailer !== undefined) {
    s.trailer = Buffer.concat([s.trailer, chunk]);
    return s.trailer;
  }
  const window = s.carry.length ? Buffer.concat([s.carry, chunk]) : chunk;
  const at = window.indexOf(marker);
  if (at === -1) {
    // The output is the command's up to where the marker might begin.
    const keep = markerPrefixAtEnd(window, marker);
    pass(s, window.subarray(0, window.length - keep));
    s.carry = window.subarray(window.length - keep);
    return undefined;
  }
  pass(s, window.subarray(0, at));
  s.carry = NONE;
  s.trailer = window.subarray(at + marker.length);
  return s.trailer;
}

/**
 * Reads the line after the marker: ` <id> <status>` on stdout, ` <id>` on stderr. `partial` while
 * the line is not complete yet, `broken` when it is not the pending command's end or more follows
 * it, else the exit status (on stdout only).
 */
function readTrailer(
  stream: 'stdout' | 'stderr',
  trailer: Buffer,
  id: number,
): 'partial' | 'broken' | { code: number | undefined } {
  const newline = trailer.indexOf(0x0a);
  if (newline === -1) return trailer.length > 64 ? 'broken' : 'partial';
  const text = trailer.subarray(0, newline).toString('latin1');
  const match = stream === 'stdout' ? /^ (\d+) (\d+)$/.exec(text) : /^ (\d+)$/.exec(text);
  if (!match || Number(match[1]) !== id || newline !== trailer.length - 1) return 'broken';
  return { code: stream === 'stdout' ? Number(match[2]) : undefined };
}

function pass(s: Collected, bytes: Buffer): void {
  if (bytes.length === 0) return;
  s.chunks.push(bytes);
  s.listener?.(bytes);
}

/** How many bytes at the end of `bytes` are the start of `marker` (and may continue in the next chunk). */
function markerPrefixAtEnd(bytes: Buffer, marker: Buffer): number {
  // Compared in place, and only where the marker's first byte is: a copy of each candidate per
  // chunk cost tens of milliseconds of garbage for a state.json of 200 environments.
  const first = marker[0];
  for (let k = Math.min(bytes.length, marker.length - 1); k > 0; k--) {
    if (bytes[bytes.length - k] !== first) continue;
    if (marker.compare(bytes, bytes.length - k, bytes.length, 0, k) === 0) return k;
  }
  return 0;
}
