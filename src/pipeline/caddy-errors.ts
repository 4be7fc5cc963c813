import { RemoteCommandError, TossError } from '../errors.js';
import { CADDY_ADMIN_DROPIN } from '../server/caddy-admin.js';
import {
  CADDY_ADMIN_EXIT,
  CADDY_DOWN_EXIT,
  CADDY_INVALID_EXIT,
  CADDY_RELOAD_EXIT,
  CADDY_RELOAD_TIMEOUT_EXIT,
} from '../server/caddy-apply.js';
import { CADDYFILE } from '../server/paths.js';
import { FIRST_PORT } from '../server/ports.js';

const JOURNAL_HINT = 'check `systemctl status caddy` and `journalctl -u caddy` on the server';

/**
 * Runs a Caddy change (installCaddyFileArgv / removeCaddyFileArgv / secureCaddyAdminArgv) and
 * turns its documented exit codes into errors that name the cause instead of quoting the whole
 * script. The script already cut Caddy's words down to its last error line.
 */
export async function applyCaddyChange<T>(change: () => Promise<T>): Promise<T> {
  try {
    return await change();
  } catch (error) {
    if (!(error instanceof RemoteCommandError)) throw error;
    const output = error.outputTail.trim();
    const detail = output ? `:\n${output}` : '';
    const ambiguous = /ambiguous site definition: (\S+)/.exec(output)?.[1];
    if (ambiguous !== undefined && error.exitCode === CADDY_INVALID_EXIT) {
      // Two site blocks for one address: with toss's registry keeping names apart, that is two
      // apps' fronts on one port (front.port), or a site of the server's own Caddyfile.
      throw new TossError(
        `another site on this server already answers ${ambiguous}, so Caddy refused this one; the previous site file was restored and Caddy keeps serving the old config`,
        {
          hint: `two apps with a front on the same servers need different front.port values in toss.json (1024–${FIRST_PORT - 1}); otherwise find the other ${ambiguous} site in ${CADDYFILE} or what it imports`,
        },
      );
    }
    switch (error.exitCode) {
      case CADDY_INVALID_EXIT:
        throw new TossError(
          `Caddy rejected the configuration (\`caddy validate --config ${CADDYFILE}\` failed${output ? '' : ' without saying why; is the caddy binary working?'}); it ran as the caddy user, the previous site file was restored and Caddy keeps serving the old config${detail}`,
          {
            hint: `run \`sudo -u caddy caddy validate --config ${CADDYFILE} --adapter caddyfile\` on the server and fix what it reports (toss adds only an import line and the admin socket to the Caddyfile; every file Caddy reads must be readable by the caddy user), then deploy again`,
          },
        );
      case CADDY_RELOAD_TIMEOUT_EXIT:
        throw new TossError(
          `Caddy did not finish reloading in time; the previous site file was restored and Caddy was restarted with it (open connections to every site were cut)${detail}`,
          { hint: `${JOURNAL_HINT}; then deploy again` },
        );
      case CADDY_RELOAD_EXIT:
        throw new TossError(
          `\`systemctl reload caddy\` failed; the previous site file was restored and Caddy serves the previous configuration${detail}`,
          { hint: JOURNAL_HINT },
        );
      case CADDY_DOWN_EXIT:
        throw new TossError(
          `Caddy is not running: the change was rolled back, but Caddy did not start with the previous configuration either, so no site is served${detail}`,
          {
            hint: `${JOURNAL_HINT}, fix what stops it (\`sudo -u caddy caddy validate --config ${CADDYFILE} --adapter caddyfile\`), then \`systemctl restart caddy\``,
          },
        );
      case CADDY_ADMIN_EXIT:
        throw new TossError(
          `could not install ${CADDY_ADMIN_DROPIN}, which keeps Caddy's admin endpoint private; nothing was changed${detail}`,
          { hint: 'check that /etc/systemd/system is writable (disk space, read-only root)' },
        );
      default:
        throw error;
    }
  }
}
