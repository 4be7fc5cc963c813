/**
 * The two system users of an app: one for production, one for its previews, so a preview cannot
 * read production's secrets or data.
 */
import { createHash } from 'node:crypto';
import { assertAppName, type EnvironmentClass, environmentClass } from './paths.js';

// Linux user names are at most 32 characters (useradd refuses longer ones).
const USER_NAME_MAX = 32;
const PREFIX = 'toss-';
// `_` never occurs in app names, so `toss-<app>_pv` cannot be another app's production user
// (with `-pv`, app "shop"'s previews and app "shop-pv"'s production would share one user).
const PREVIEW_SUFFIX = '_pv';
const HASH_LENGTH = 6;

export interface AppUsers {
  production: string;
  preview: string;
}

/** `toss-<app>` and `toss-<app>_pv`; a long app name is cut and gets `_<6 hex of sha256(app)>`. */
export function appUsers(app: string): AppUsers {
  const name = assertAppName(app);
  const room = USER_NAME_MAX - PREFIX.length - PREVIEW_SUFFIX.length;
  let stem = name;
  if (name.length > room) {
    const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, HASH_LENGTH);
    stem = `${name.slice(0, room - HASH_LENGTH - 1)}_${hash}`;
  }
  return { production: `${PREFIX}${stem}`, preview: `${PREFIX}${stem}${PREVIEW_SUFFIX}` };
}

/** The user an environment's processes and deployScript run as. */
export function envUser(app: string, environment: string): string {
  const cls: EnvironmentClass = environmentClass(environment);
  return appUsers(app)[cls];
}
