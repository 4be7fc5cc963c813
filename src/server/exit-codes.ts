/**
 * Every exit status toss's own server-side scripts use to say what happened, in one table. The
 * pipeline turns each into an error that names the cause (caddy-errors.ts, health.ts, session.ts).
 *
 * A number means one thing within one remote command: the same number appears twice below only
 * for scripts that never run in the same command (a Caddy change and a port guard are separate
 * round trips, and a file read runs alone). The guarded wrapper (cas.ts) may run around any of
 * them, so its numbers (73–76) are used by nothing else.
 */
export const EXIT = {
  /** caddy-apply.ts: Caddy's own validation failed (or did not finish); the file was restored */
  caddyInvalid: 65,
  /** caddy-apply.ts: `systemctl reload caddy` failed; the previous file was restored */
  caddyReload: 66,
  /** command-line.ts: the file to read does not exist (EX_NOINPUT; cat never uses it) */
  missingFile: 66,
  /** caddy-apply.ts: the reload did not finish in time; restored and Caddy restarted on it */
  caddyReloadTimeout: 67,
  /** port-owner.ts: something other than the expected unit listens on the port */
  portTaken: 67,
  /** caddy-apply.ts: Caddy is not running and did not start on the previous config either */
  caddyDown: 68,
  /** port-owner.ts: after a healthy check, nothing of the expected unit listens on the port */
  portNotOurs: 68,
  /** caddy-apply.ts: the drop-in keeping Caddy's admin socket private could not be installed */
  caddyAdmin: 69,
  /** cas.ts: the flock stayed taken for too long */
  flockTimeout: 73,
  /** cas.ts: stdin did not arrive whole (the client died mid-write); nothing was written */
  casIncomplete: 74,
  /** cas.ts: the file changed since it was read: read again, recompute, retry */
  casConflict: 75,
  /** cas.ts: the app's lock is no longer held by this token; the step changed nothing */
  tokenMismatch: 76,
  /** systemd-run.ts: a deployScript command was stopped at its time limit (as timeout(1)) */
  buildTimeout: 124,
} as const;
