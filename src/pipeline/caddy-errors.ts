import { RemoteCommandError, TossError } from '../errors.js';
import { CADDY_INVALID_EXIT, CADDY_RELOAD_EXIT } from '../server/caddy-apply.js';
import { CADDYFILE } from '../server/paths.js';

/**
 * Runs a Caddy change (installCaddyFileArgv / removeCaddyFileArgv) and turns its documented exit
 * codes into errors that name the cause instead of quoting the whole script.
 */
export async function applyCaddyChange<T>(change: () => Promise<T>): Promise<T> {
  try {
    return await change();
  } catch (error) {
    if (!(error instanceof RemoteCommandError)) throw error;
    const output = error.outputTail.trim();
    if (error.exitCode === CADDY_INVALID_EXIT) {
      throw new TossError(
        `Caddy rejected the configuration (\`caddy validate --config ${CADDYFILE}\` failed${output ? '' : ' without saying why; is the caddy binary working?'}); the previous site file was restored and Caddy keeps serving the old config${output ? `:\n${output}` : ''}`,
        {
          hint: `run \`caddy validate --config ${CADDYFILE} --adapter caddyfile\` on the server and fix what it reports (toss only adds one import line to the Caddyfile), then deploy again`,
        },
      );
    }
    if (error.exitCode === CADDY_RELOAD_EXIT) {
      throw new TossError(
        `\`systemctl reload caddy\` failed; the previous site file was restored${output ? `:\n${output}` : ''}`,
        { hint: 'check `systemctl status caddy` and `journalctl -u caddy` on the server' },
      );
    }
    throw error;
  }
}
