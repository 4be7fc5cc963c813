/**
 * How the CLI logs in to toss.json's server, with nothing of the config schema loaded (the deploy
 * starts its login before that, see early-connect.ts).
 */
import { parseServer } from '../config/server.js';
import type { Login } from '../remote/login.js';
import { resolveSshTarget, type SshTarget } from '../remote/ssh-target.js';

/** toss.json's `server` resolved the way ssh would: ~/.ssh/config, the key to use, known_hosts. */
export function resolveServer(server: string, identity: string | undefined): Promise<SshTarget> {
  const target = parseServer(server);
  return resolveSshTarget({
    host: target.host,
    ...(target.userGiven ? { user: target.user } : {}),
    ...(target.portGiven ? { port: target.port } : {}),
    ...(identity ? { identity } : {}),
  });
}

/** The login the pipeline uses: the target's own fields, without those only the CLI needs. */
export function loginFrom(target: SshTarget): Login {
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    knownHosts: target.knownHosts,
    ...(target.privateKey ? { privateKey: target.privateKey } : {}),
    ...(target.identityFile ? { identityFile: target.identityFile } : {}),
    ...(target.agent ? { agent: target.agent } : {}),
  };
}
