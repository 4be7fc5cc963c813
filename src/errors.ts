/**
 * Errors a user can act on. Each kind is a class; doors (CLI, action) render them once.
 * `hint` says what to do next.
 */
export class TossError extends Error {
  override name = 'TossError';
  readonly hint: string | undefined;
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options?.hint;
  }
}

/** toss.json or an input is invalid; `problems` holds one line per problem. */
export class ConfigError extends TossError {
  override name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[], options?: { hint?: string }) {
    super(problems.join('\n'), options);
    this.problems = problems;
  }
}

/** A usage error at a door (bad argument, unknown flag): exit status 2. */
export class UsageError extends TossError {
  override name = 'UsageError';
}

/** The SSH connection could not be made or was lost. */
export class ConnectionError extends TossError {
  override name = 'ConnectionError';
}

/** The server's host key is unknown or changed. Never bypassed. */
export class HostKeyError extends TossError {
  override name = 'HostKeyError';
}

/** A remote command exited non-zero. */
export class RemoteCommandError extends TossError {
  override name = 'RemoteCommandError';
  readonly command: string;
  readonly exitCode: number | null;
  readonly outputTail: string;
  constructor(
    command: string,
    exitCode: number | null,
    outputTail: string,
    options?: { hint?: string; message?: string },
  ) {
    super(
      options?.message ??
        `remote command failed (exit ${exitCode ?? 'signal'}): ${command}${outputTail ? `\n${outputTail}` : ''}`,
      options,
    );
    this.command = command;
    this.exitCode = exitCode;
    this.outputTail = outputTail;
  }
}

/** Another deploy holds the app's lock. */
export class LockError extends TossError {
  override name = 'LockError';
}
