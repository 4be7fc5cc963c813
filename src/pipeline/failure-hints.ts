/**
 * Why a new release failed its health check, read from what the server showed when the check gave
 * up: the instance's journal since it started and what its processes listened on. Pure: the same
 * evidence always gives the same cause and fix, so each cause is tested on real-looking logs of
 * the runtimes people deploy (node, python, ruby, sh, go).
 */

/** A socket one of the instance's processes listened on. */
export interface ListenerSeen {
  /** as ss prints it: `127.0.0.1:3000`, `0.0.0.0:8000`, `*:8000`, `[::1]:3000` */
  address: string;
  port: number;
}

export interface FailureEvidence {
  /** the instance's journal, as `journalctl --output=short-iso` prints it (plain lines work too) */
  journal: string;
  /** what the instance's processes listened on when the check gave up */
  listeners: readonly ListenerSeen[];
  /** the port it was given in $PORT */
  port: number;
  /** toss.json says "readOnly": true (the release directory is not writable) */
  readOnly?: boolean | undefined;
}

export interface Diagnosis {
  /** one sentence: what went wrong, with the program, path or address the evidence names */
  cause: string;
  /** what to do about it; the caller says what comes next (deploy again, roll back) */
  fix: string;
}

/** The instance's own address: $HOST. */
const HOST = '127.0.0.1';
/** Addresses a connection to 127.0.0.1 reaches. */
const REACHABLE_HOSTS = new Set([HOST, '0.0.0.0', '*', '[::]', '[::ffff:127.0.0.1]']);

/** The most likely cause first: what the processes listened on, then what the journal says. */
export function diagnoseHealthFailure(evidence: FailureEvidence): Diagnosis {
  const messages = journalMessages(evidence.journal);
  const { listeners, port } = evidence;
  if (listeners.some((l) => l.port === port && REACHABLE_HOSTS.has(hostOf(l.address)))) {
    return notWritable(messages, evidence.readOnly) ?? answeredBadly(listeners, port);
  }
  if (listeners.length > 0) return listenedElsewhere(listeners, port);
  return (
    missingProgram(messages) ??
    notExecutable(messages) ??
    bindFailed(messages, port) ??
    notWritable(messages, evidence.readOnly) ??
    listenedNowhere(messages, port)
  );
}

interface JournalMessage {
  /** the journal's identifier: `systemd`, `env`, `node`… (empty for a line without one) */
  source: string;
  text: string;
}

// short-iso: `2025-03-01T10:00:00+0000 host identifier[pid]: message`.
const JOURNAL_LINE = /^\d{4}-\d\d-\d\dT\S+ \S+ ([^\s[:]+)(?:\[\d+\])?: (.*)$/;

/** The journal's lines without their time, host and process, newest last. */
function journalMessages(journal: string): JournalMessage[] {
  return journal
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line !== '' && !line.startsWith('-- '))
    .map((line) => {
      const m = JOURNAL_LINE.exec(line);
      return m ? { source: m[1] ?? '', text: m[2] ?? '' } : { source: '', text: line };
    });
}

/** The newest message some pattern recognises, and what it found. */
function newest<T>(
  messages: readonly JournalMessage[],
  read: (text: string) => T | undefined,
): T | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    // systemd's own lines report on the unit; what the app said is in the others.
    if (message === undefined || message.source === 'systemd') continue;
    const found = read(message.text);
    if (found !== undefined) return found;
  }
  return undefined;
}

function firstMatch(text: string, patterns: readonly RegExp[]): RegExpExecArray | undefined {
  for (const pattern of patterns) {
    const m = pattern.exec(text);
    if (m) return m;
  }
  return undefined;
}

function portSentence(port: number): string {
  return `it was given PORT=${port} (with HOST=${HOST})`;
}

const LISTEN_FIX = `make the app listen on the port in $PORT, on the address in $HOST (${HOST}), instead of one of its own`;

function hostOf(address: string): string {
  return address.replace(/:[0-9]+$/, '').replace(/%[^\]]*$/, '');
}

function listenedElsewhere(listeners: readonly ListenerSeen[], port: number): Diagnosis {
  const shown = listeners.slice(0, 3).map((l) => l.address);
  const more =
    listeners.length > shown.length ? ` and ${listeners.length - shown.length} more` : '';
  return {
    cause: `${portSentence(port)} but listened on ${shown.join(', ')}${more} instead`,
    fix: LISTEN_FIX,
  };
}

function answeredBadly(listeners: readonly ListenerSeen[], port: number): Diagnosis {
  const own = listeners.find((l) => l.port === port);
  return {
    cause: `it listens on ${own?.address ?? port}, but its answer did not pass the health check (the check's own words are below)`,
    fix: 'make healthCheck.path answer with a 2xx or 3xx status within healthCheck.timeout (a slow start needs a longer timeout), or point healthCheck.path at a route that does',
  };
}

function listenedNowhere(messages: readonly JournalMessage[], port: number): Diagnosis {
  const exits = messages.filter(
    (m) => m.source === 'systemd' && /Main process exited/.test(m.text),
  );
  const status = /code=\w+, status=(\S+)/.exec(exits.at(-1)?.text ?? '')?.[1];
  if (status === undefined) {
    return {
      cause: `${portSentence(port)} but listened on no port`,
      fix: `${LISTEN_FIX}, within healthCheck.timeout`,
    };
  }
  const times = exits.length > 1 ? ` ${exits.length} times` : '';
  return {
    cause: `${portSentence(port)} but listened on no port: it exited${times} (last status ${status.replace(/\.$/, '')})`,
    fix: `fix what makes it exit (its journal below says why), and ${LISTEN_FIX}`,
  };
}

// A command the shell could not find (dash, bash, env, exec), a program a runtime could not spawn.
const NOT_FOUND = [
  /^(?:\S*\/)?(?:ba|da)?sh: (?:line )?(?:\d+: )?(?:exec: )?([^\s:]+): (?:command )?not found$/,
  /^(?:\S*\/)?(?:ba)?sh: (?:line )?(?:\d+: )?(?:exec: )?([^\s:]+): No such file or directory$/,
  /^(?:\S*\/)?env: ['‘"]?([^\s'’"]+)['’"]?: No such file or directory$/,
  /exec: "([^"]+)": executable file not found/,
  /\bspawn (\S+) ENOENT\b/,
  /^bundler: command not found: (\S+)/,
  /^([^\s:]+): not found$/,
];

const BUILD_OPTION =
  'the "build" option (run where toss runs; what it leaves is uploaded) or "deployScript" (run on the server in the release)';

function missingProgram(messages: readonly JournalMessage[]): Diagnosis | undefined {
  const program = newest(messages, (text) => firstMatch(text, NOT_FOUND)?.[1]);
  if (program === undefined) return undefined;
  const dependency = `add it to toss.json's "dependencies", like {"${program.replace(/^.*\//, '')}": "<the command that installs it>"} (run as root on the server by toss init and production deploys)`;
  if (program.includes('/')) {
    return {
      cause: `\`${program}\` is not in the release: the start command could not run it`,
      fix: `if your build makes it, make it with ${BUILD_OPTION}; if it is a program to install on the server, ${dependency}`,
    };
  }
  return {
    cause: `\`${program}\` is not installed on the server: the start command could not run it`,
    fix: `install it on the server: ${dependency}; if your build makes it instead, make it with ${BUILD_OPTION}`,
  };
}

function notExecutable(messages: readonly JournalMessage[]): Diagnosis | undefined {
  const shell =
    /^(?:\S*\/)?(?:ba|da)?sh: (?:line )?(?:\d+: )?(?:exec: )?([^\s:]+): Permission denied$/;
  const file = newest(messages, (text) => shell.exec(text)?.[1]);
  if (file === undefined) return undefined;
  return {
    cause: `\`${file}\` is not executable: the start command could not run it`,
    fix: `make it executable in git (\`git update-index --chmod=+x ${file}\`, then commit) or run it through its interpreter in startCommand, like \`sh ${file}\``,
  };
}

// Each gives the address it tried: Node (`listen EPERM: operation not permitted 0.0.0.0:8000`),
// Go (`listen tcp :8000: bind: …`), Ruby (`… - bind(2) for "0.0.0.0" port 8000`), uvicorn
// (`… bind on address ('0.0.0.0', 8000): …`), gunicorn (`Can't connect to ('0.0.0.0', 8000)`).
const BIND_FAILURES = [
  /\blisten E[A-Z]+: [^0-9[:]*(?<address>\S+:[0-9]+)/,
  /\blisten tcp[46]? (?<address>\S*:[0-9]+): bind: /,
  / - bind\(2\) for "(?<host>[^"]*)" port (?<port>[0-9]+)/,
  /(?:bind on address|Can't connect to|Connection in use:) \('(?<host>[^']*)', (?<port>[0-9]+)\)/,
  // Python's own socket error names no address; a file error would end with its path.
  /\[Errno (?:98|13|1)\] (?:Address already in use|Permission denied|Operation not permitted)$/,
];

function bindFailure(text: string): { address: string; inUse: boolean } | undefined {
  const m = firstMatch(text, BIND_FAILURES);
  if (m === undefined) return undefined;
  const { address, host, port } = m.groups ?? {};
  return {
    address: address ?? (port === undefined ? '' : `${host ?? ''}:${port}`),
    inUse: /in use|EADDRINUSE|Errno 98/i.test(text),
  };
}

function bindFailed(messages: readonly JournalMessage[], port: number): Diagnosis | undefined {
  const failure = newest(messages, bindFailure);
  if (failure === undefined) return undefined;
  const where = failure.address === '' ? 'a port of its own' : failure.address;
  const why = failure.inUse
    ? 'which another process holds'
    : 'which the server does not allow: an app may listen only on its own ports';
  return {
    cause: `${portSentence(port)} but tried to listen on ${where}, ${why}`,
    fix: LISTEN_FIX,
  };
}

interface WriteError {
  path: string | undefined;
  /** `read-only file system`, `permission denied`, `operation not permitted` */
  reason: string;
}

// Each names the path: Node (`EROFS: read-only file system, open '/var/lib/x'`), Python
// (`[Errno 30] Read-only file system: '/var/lib/x'`), Ruby (`Read-only file system @ rb_sysopen -
// /var/lib/x`), coreutils and sh (`cannot create /var/lib/x: Read-only file system`), Go
// (`open /var/lib/x: read-only file system`), Java (`/var/lib/x (Read-only file system)`).
const WRITE_ERRORS_WITH_PATH = [
  /\b(?:EROFS|EACCES|EPERM): (?<said>[a-z -]+), \w+ '(?<path>[^']+)'/,
  /\[Errno (?:30|13|1)\] (?<said>[A-Za-z -]+): '(?<path>[^']+)'/,
  /\b(?<said>Read-only file system|Permission denied) @ \w+ - (?<path>\S+)/,
  /(?:^|[\s'‘"(])(?<path>\/[^\s'’"():]*)['’"]?(?:: | \()(?<said>read-only file system|permission denied)/i,
  // Node's mkdirSync(path, { recursive: true }) reports a read-only file system as ENOENT, for a
  // path in the working directory (a read-only release) as for any other.
  /\bENOENT: (?<said>no such file or directory), mkdir '(?<path>[^']+)'/,
];

// No path, but no doubt either: the error's code, or SQLite's words for it. A bare "permission
// denied" is not enough: a database or an API says that too.
const WRITE_ERRORS: ReadonlyArray<[RegExp, string]> = [
  [/\bEROFS\b|\[Errno 30\]|read-only file system|readonly database/i, 'read-only file system'],
  [/\bEACCES\b|\[Errno 13\]/, 'permission denied'],
];

function writeErrorWithPath(text: string): WriteError | undefined {
  const groups = firstMatch(text, WRITE_ERRORS_WITH_PATH)?.groups;
  return groups && { path: groups.path, reason: (groups.said ?? '').toLowerCase() };
}

function writeErrorWithoutPath(text: string): WriteError | undefined {
  for (const [pattern, reason] of WRITE_ERRORS) {
    if (pattern.test(text)) return { path: undefined, reason };
  }
  return undefined;
}

function notWritable(
  messages: readonly JournalMessage[],
  readOnly: boolean | undefined,
): Diagnosis | undefined {
  // A stack trace says the path once and the code again (Node's `code: 'EROFS'`): the path wins.
  const error = newest(messages, writeErrorWithPath) ?? newest(messages, writeErrorWithoutPath);
  if (error === undefined) return undefined;
  const where = error.path === undefined ? '' : ` instead of ${error.path}`;
  const writable = readOnly
    ? 'toss.json sets "readOnly": true, so the release is read-only too and the app may write only there, in $TOSS_CACHE_DIR and in /tmp; remove "readOnly" to let it write in its release (what it writes there goes with the release)'
    : 'apart from those, the app may write only in its release directory (what it writes there goes with the release), in $TOSS_CACHE_DIR and in /tmp';
  return {
    cause: `it could not write ${error.path ?? 'a file'}: ${error.reason}`,
    fix: `keep data that must outlive the release in a directory listed in toss.json's "persistentDirs" (like "persistentDirs": ["data"], then data/ in its working directory)${where}; ${writable}`,
  };
}
