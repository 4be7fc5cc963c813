/** The repository an app is deployed from, so another repository with the same app name is refused. */
import { TossError } from '../errors.js';

/**
 * `host/path` in lowercase, whatever the URL's form: `git@github.com:o/r.git`,
 * `https://github.com/o/r`, `ssh://git@github.com:22/o/r.git/` all give `github.com/o/r`.
 * Credentials and ports are dropped (a token must never be stored on the server).
 */
export function normalizeOrigin(url: string): string {
  let rest = url.trim();
  if (rest === '') throw new TossError('the repository has no origin URL');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(rest);
  if (scheme) {
    rest = rest.slice(scheme[0].length);
    if (scheme[1]?.toLowerCase() === 'file') return stripSuffixes(rest).toLowerCase();
    const slash = rest.indexOf('/');
    let authority = slash === -1 ? rest : rest.slice(0, slash);
    const path = slash === -1 ? '' : rest.slice(slash + 1);
    authority = authority.slice(authority.lastIndexOf('@') + 1).replace(/:\d*$/, '');
    return `${authority}/${stripSuffixes(path)}`.toLowerCase();
  }
  // scp-like `user@host:path`; a local path has a `/` before any `:`.
  const scp = /^(?:[^@/:]+@)?([^/:]+):(.*)$/.exec(rest);
  if (scp) return `${scp[1]}/${stripSuffixes(scp[2] ?? '')}`.toLowerCase();
  return stripSuffixes(rest).toLowerCase();
}

function stripSuffixes(path: string): string {
  return path
    .replace(/\/+$/, '')
    .replace(/\.git$/i, '')
    .replace(/\/+$/, '')
    .replace(/^\/+/, '');
}

/** Refuses a deploy whose repository is not the one recorded for the app on this server. */
export function checkOrigin(app: string, recorded: string | undefined, current: string): void {
  if (recorded === undefined) return;
  if (normalizeOrigin(recorded) === normalizeOrigin(current)) return;
  throw new TossError(
    `app "${app}" on this server is deployed from ${recorded}, not from ${current}`,
    {
      hint: 'pick another "app" name in toss.json, or remove the other app from the server first',
    },
  );
}
