/**
 * `toss deploy` logs in while the rest of it loads. Loading the pipeline and the config schema,
 * and checking toss.json, take a few hundred milliseconds of this process's time; the SSH
 * handshake and the server's first session are round trips that leave it idle. So the server
 * named in toss.json, as written, is resolved and connected to first, and the connection is used
 * only when the checked config names the same server, app and login; otherwise (or when the
 * deploy fails before it connects) it is closed unused. A login changes nothing on the server,
 * and the host key is checked as on any connection.
 */
import { readFile } from 'node:fs/promises';
import type { Login } from '../pipeline/request.js';
import type { OpenServer } from '../pipeline/server.js';
import type { SshConnection } from '../remote/connection.js';
import type { CliContext } from './context.js';

interface Started {
  server: string;
  app: string;
  login: Login;
  opening: Promise<SshConnection>;
}

export interface EarlyConnection {
  /** settles once the login is under way (or will not be tried): load the rest after it */
  started: Promise<unknown>;
  /** The connect function for this context: the early connection first, when it fits. */
  connectFor(context: CliContext): Promise<OpenServer | undefined>;
  /** Closes the early connection unless the deploy took it. */
  close(): Promise<void>;
}

/** Starts connecting to toss.json's server as written; never throws (the checked path reports). */
export function connectEarly(configPath: string, identity: string | undefined): EarlyConnection {
  const abort = new AbortController();
  const started = start(configPath, identity, abort.signal).catch(() => undefined);
  let taken = false;
  let closed = false;
  const close = async () => {
    closed = true;
    const early = await started;
    if (early === undefined || taken) return;
    // A login still under way (a server that does not answer) is given up, not waited for.
    abort.abort();
    const conn = await early.opening.catch(() => undefined);
    await conn?.dispose();
  };
  return {
    async connectFor(context) {
      const early = await started;
      if (early === undefined || closed) return undefined;
      const fits =
        early.server === context.config.server &&
        early.app === context.config.app &&
        JSON.stringify(early.login) === JSON.stringify(context.login);
      if (!fits) {
        await close();
        return undefined;
      }
      const { Session } = await import('../pipeline/session.js');
      return (login, app) => {
        if (taken || app !== early.app || JSON.stringify(login) !== JSON.stringify(early.login)) {
          return Session.open(login, app);
        }
        taken = true;
        return early.opening.then((conn) => Session.adopt(conn, login, app));
      };
    },
    started,
    close,
  };
}

async function start(
  configPath: string,
  identity: string | undefined,
  signal: AbortSignal,
): Promise<Started | undefined> {
  const text = await readFile(configPath, 'utf8');
  const json = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text) as unknown;
  if (typeof json !== 'object' || json === null) return undefined;
  const { server, app } = json as { server?: unknown; app?: unknown };
  if (typeof server !== 'string' || typeof app !== 'string') return undefined;
  // Only what logging in needs: not the pipeline, not the config schema.
  const [{ resolveServer, loginFrom }, { connectLogin }] = await Promise.all([
    import('./login.js'),
    import('../remote/login.js'),
  ]);
  const login = loginFrom(await resolveServer(server, identity));
  if (signal.aborted) return undefined;
  const opening = connectLogin(login, { signal });
  // Used or closed later; a failure here is reported by the connect step, if it is used at all.
  opening.catch(() => {});
  return { server, app, login, opening };
}
