/** How to log in: resolved by the door (CLI: ~/.ssh; action: inputs), used by the pipeline as is. */
export interface Login {
  host: string;
  port: number;
  user: string;
  /** private key contents */
  privateKey?: string;
  /** a file holding the same key, for the system ssh of `toss ssh` (a temp file when absent) */
  identityFile?: string;
  /** ssh-agent socket */
  agent?: string;
  /** known_hosts text the host key must be found in */
  knownHosts: string;
}
