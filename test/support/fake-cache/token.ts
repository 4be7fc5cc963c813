/**
 * The runtime token a job gets in `ACTIONS_RUNTIME_TOKEN`, as far as the cache
 * service reads it: a JWT whose `ac` claim is a JSON string listing the cache
 * scopes of the run, in the order reads search them. The fake service checks no
 * signature, so the token carries a placeholder one.
 */

/** Bits of a scope's `Permission`: 1 lets the run read the scope, 2 write it. */
export const READ_PERMISSION = 1;
export const WRITE_PERMISSION = 2;

export interface CacheScope {
  /** A git ref such as `refs/heads/main` or `refs/pull/2/merge`. */
  scope: string;
  /** `READ_PERMISSION`, `WRITE_PERMISSION` or both (3). */
  permission: number;
}

export interface TokenOptions {
  /**
   * Give the run's own ref read permission only, as GitHub does for runs it
   * does not trust with the cache: every save is then denied.
   */
  readOnly?: boolean;
}

const TOKEN_LIFETIME_SECONDS = 6 * 60 * 60;

/**
 * The scopes a run on `ref` gets: its own ref (read and write) first, then the
 * default branch (read only), which is how a branch restores what the default
 * branch saved but cannot change it.
 */
export function scopesFor(
  ref: string,
  defaultRef = 'refs/heads/main',
  options: TokenOptions = {},
): CacheScope[] {
  const own = options.readOnly ? READ_PERMISSION : READ_PERMISSION | WRITE_PERMISSION;
  const scopes: CacheScope[] = [{ scope: ref, permission: own }];
  if (ref !== defaultRef) scopes.push({ scope: defaultRef, permission: READ_PERMISSION });
  return scopes;
}

/** A runtime token for a run on `ref` in a repository whose default branch is `defaultRef`. */
export function tokenFor(
  ref: string,
  defaultRef = 'refs/heads/main',
  options: TokenOptions = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { typ: 'JWT', alg: 'RS256', x5t: 'fake-cache-key' };
  const claims = {
    ac: JSON.stringify(
      scopesFor(ref, defaultRef, options).map((s) => ({
        Scope: s.scope,
        Permission: s.permission,
      })),
    ),
    iss: 'vstoken.actions.githubusercontent.com',
    aud: 'vso:fake-cache',
    nbf: now - 60,
    iat: now - 60,
    exp: now + TOKEN_LIFETIME_SECONDS,
  };
  return [base64url(header), base64url(claims), 'ZmFrZS1zaWduYXR1cmU'].join('.');
}

/**
 * The scopes a token grants, in order. Throws an Error saying what is wrong
 * with a token that is not a JWT, has expired, or has no readable `ac` claim.
 */
export function scopesFromToken(token: string): CacheScope[] {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`the token has ${parts.length} parts, not 3`);
  const claims = decodePart(parts[1] ?? '', 'payload');
  if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) {
    throw new Error('the token has expired');
  }
  if (typeof claims.ac !== 'string') throw new Error('the token has no "ac" claim');
  let listed: unknown;
  try {
    listed = JSON.parse(claims.ac);
  } catch {
    throw new Error('the token\'s "ac" claim is not JSON');
  }
  if (!Array.isArray(listed)) throw new Error('the token\'s "ac" claim is not a list');
  return listed.map(toScope);
}

function toScope(entry: unknown): CacheScope {
  const { Scope, Permission } = (entry ?? {}) as { Scope?: unknown; Permission?: unknown };
  if (typeof Scope !== 'string' || typeof Permission !== 'number') {
    throw new Error(`the token's "ac" claim lists ${JSON.stringify(entry)}, not a scope`);
  }
  return { scope: Scope, permission: Permission };
}

function decodePart(part: string, name: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (value && typeof value === 'object') return value as Record<string, unknown>;
  } catch {
    // Reported below with the part's name.
  }
  throw new Error(`the token's ${name} is not base64url-encoded JSON`);
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
