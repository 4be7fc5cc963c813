/**
 * `toss deploy` logs in while it loads and checks. toss.json's `server` is read as written, and
 * the connection to it starts at once: TCP, the key exchange and the host key check go ahead while
 * this process loads the config schema and the pipeline and checks the input, but no key is
 * offered until every check passed (`proceed`). A refused config, environment name or origin
 * therefore never logs in: the server sees a connection that ends before authentication.
 *
 * The deploy's connect step then takes that connection, for the same login and app only (the
 * checked config could resolve to another); when the deploy fails before it gets there, the
 * connection is closed, and a handshake still under way is given up.
 */
import { resolve } from 'node:path';
import type { Login } from '../pipeline/request.js';
import type { OpenServer } from '../pipeline/server.js';
import { type Dialled, dial } from '../remote/dial.js';
import type { ConfigAsWritten } from './config-as-written.js';
import { loginFrom, resolveServer } from './login.js';

export interface EarlyConnection {
  /** The connect function for the deploy: this connection first (for the same login and app). */
  connect(): Promise<OpenServer>;
  /** Closes the connection unless the deploy took it. */
  close(): Promise<void>;
}

/** An early connection that says which login and app it was made for. */
interface OwnedConnection extends EarlyConnection {
  isFor(login: Login, app: string): boolean;
  /** resolves once the SSH code has loaded and the handshake is under way */
  loaded: Promise<void>;
}

/** An early connection whose authentication waits for `proceed`. */
export interface GatedConnection extends EarlyConnection {
  /**
   * Resolves once the connection is under way (or it is clear none starts): wait for it before
   * loading anything big, so the few reads it needs first are not queued behind that.
   */
  started: Promise<void>;
  /**
   * Every check passed and the checked config logs in as `login` for `app`: the connection may
   * authenticate now if it was made for those; one made for others is closed unused.
   */
  proceed(login: Login, app: string): void;
}

/**
 * Starts logging in as `login` for `app`; a failure is reported by whoever takes it, after one
 * more attempt (a handshake that waited long for its gate may have timed out meanwhile).
 * With `gate`, authentication waits for it. The TCP connection starts at once, while the SSH
 * code loads: `loaded` resolves once the handshake is under way.
 */
export function connectEarly(login: Login, app: string, gate?: Promise<void>): OwnedConnection {
  const abort = new AbortController();
  const dialled: Dialled = dial(login.host, login.port, abort.signal);
  const loading = import('../remote/login.js');
  const opening = loading.then(({ connectLogin }) =>
    connectLogin(login, { signal: abort.signal, authGate: gate, dialled }),
  );
  opening.catch(() => {});
  const same = JSON.stringify(login);
  const isFor = (to: Login, forApp: string) => forApp === app && JSON.stringify(to) === same;
  let taken = false;
  return {
    isFor,
    loaded: loading.then(
      () => {},
      () => {},
    ),
    async connect() {
      const { Session } = await import('../pipeline/session.js');
      return (to, forApp) => {
        if (taken || !isFor(to, forApp)) return Session.open(to, forApp);
        taken = true;
        return opening.then(
          (conn) => Session.adopt(conn, to, forApp),
          () => Session.open(to, forApp),
        );
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

/**
 * Takes `app` and `server` from toss.json as written (config-as-written.ts; nothing checked yet
 * but their being strings and the server's syntax) and starts the connection, authentication
 * held back until `proceed`. When the file cannot be read that way, nothing starts: the deploy's
 * connect step then logs in as usual once the checked config says where.
 */
export function connectBeforeChecks(
  written: ConfigAsWritten,
  identity: string | undefined,
): GatedConnection {
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const starting = written
    .then(async (json) => {
      const { app, server } = json ?? {};
      if (typeof app !== 'string' || typeof server !== 'string') return undefined;
      return connectEarly(loginFrom(await resolveServer(server, identity)), app, gate);
    })
    .catch(() => undefined);
  return {
    started: starting.then((early) => early?.loaded),
    proceed(login, app) {
      void starting.then((early) => {
        if (early?.isFor(login, app)) open();
        else void early?.close();
      });
    },
    async connect() {
      const early = await starting;
      if (early) return early.connect();
      const { Session } = await import('../pipeline/session.js');
      return Session.open;
    },
    async close() {
      await (await starting)?.close();
    },
  };
}

/** The login a day-two command began, for it to take once its config is checked. */
export interface CommandLogin {
  /** The checked config logs in as `login` for `app`: the connect function for the pipeline. */
  connectAs(login: Login, app: string): Promise<OpenServer>;
}

/**
 * Runs a day-two command (list, status, remove, rollback) with its login started the way
 * `toss deploy` starts its own: from toss.json at `options.config` as written, while the command
 * loads and checks the config, authenticated only once `connectAs` names the same login and app.
 * The connection is closed at the end unless the pipeline took it.
 */
export async function withLoginFromConfigFile<T>(
  options: { config?: string | undefined; identity?: string | undefined },
  run: (login: CommandLogin) => Promise<T>,
): Promise<T> {
  const { configAsWritten } = await import('./config-as-written.js');
  const early = connectBeforeChecks(
    configAsWritten(resolve(options.config ?? 'toss.json')),
    options.identity,
  );
  await early.started;
  try {
    return await run({
      connectAs(login, app) {
        early.proceed(login, app);
        return early.connect();
      },
    });
  } finally {
    await early.close();
  }
}
