/**
 * `toss deploy` logs in while the pipeline loads. Once toss.json and the source directory have
 * passed their checks (a refused config never logs in), the login starts; loading the pipeline
 * takes this process's time while the SSH handshake and the server's first sessions are round
 * trips that leave it idle. The deploy's connect step then takes that connection; when the deploy
 * fails before it gets there, the connection is closed, and a login still under way is given up.
 */
import type { Login } from '../pipeline/request.js';
import type { OpenServer } from '../pipeline/server.js';
import { connectLogin } from '../remote/login.js';

export interface EarlyConnection {
  /** The connect function for the deploy: this connection first (for the same login and app). */
  connect(): Promise<OpenServer>;
  /** Closes the connection unless the deploy took it. */
  close(): Promise<void>;
}

/** Starts logging in as `login` for `app`; a failure is reported by whoever takes it. */
export function connectEarly(login: Login, app: string): EarlyConnection {
  const abort = new AbortController();
  const opening = connectLogin(login, { signal: abort.signal });
  opening.catch(() => {});
  const same = JSON.stringify(login);
  let taken = false;
  return {
    async connect() {
      const { Session } = await import('../pipeline/session.js');
      return (to, forApp) => {
        if (taken || forApp !== app || JSON.stringify(to) !== same) return Session.open(to, forApp);
        taken = true;
        return opening.then((conn) => Session.adopt(conn, to, forApp));
      };
    },
    async close() {
      if (taken) return;
      taken = true;
      abort.abort();
      const conn = await opening.catch(() => undefined);
      await conn?.dispose();
    },
  };
}
