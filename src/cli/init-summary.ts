/** The closing screen of `toss init`: DNS records, the host key line, GitHub secrets, what next. */
import { isIPv6 } from 'node:net';

export interface SummaryInput {
  app: string;
  domain?: string | undefined;
  previewDomain?: string | undefined;
  /** the server's address for the DNS records; undefined when it could not be resolved */
  serverIp?: string | undefined;
  /** the known_hosts line of the verified host key */
  knownHostsLine: string;
  knownHostsFile: string;
  /** whether this run added the line to knownHostsFile */
  recordedKey: boolean;
  /** the key file the CLI logged in with, when it was a file */
  identityFile?: string | undefined;
  loginTarget: string;
  serverChanges: string[];
  files: Array<{ path: string; outcome: 'created' | 'overwritten' | 'unchanged' | 'kept' }>;
}

export function renderSummary(input: SummaryInput): string {
  return [
    '',
    ...whatChanged(input),
    '',
    ...dnsRecords(input),
    '',
    ...hostKey(input),
    '',
    ...githubSecrets(input),
    '',
    'Next:',
    '  toss deploy production',
    '  then commit and push toss.json and .github/workflows/toss.yml: pushes deploy production, pull requests get previews.',
    '',
  ].join('\n');
}

const OUTCOMES: Record<SummaryInput['files'][number]['outcome'], string> = {
  created: 'created',
  overwritten: 'overwritten',
  unchanged: 'unchanged',
  kept: 'kept as it was (not overwritten)',
};

/** What the run did to the server and to each file. */
function whatChanged(input: SummaryInput): string[] {
  const out = [
    input.serverChanges.length === 0
      ? `Server ${input.loginTarget}: nothing to change, already provisioned for ${input.app}.`
      : `Server ${input.loginTarget}: ${input.serverChanges.join('; ')}.`,
    ...input.files.map((file) => `${file.path}: ${OUTCOMES[file.outcome]}`),
  ];
  const allSame =
    input.serverChanges.length === 0 &&
    !input.recordedKey &&
    input.files.every((f) => f.outcome === 'unchanged');
  if (allSame) {
    out.push('Nothing to change: the server and the files are as toss init leaves them.');
  }
  return out;
}

/** The records the domain needs, production's and the previews' wildcard. */
function dnsRecords(input: SummaryInput): string[] {
  if (!input.domain) {
    return [
      'DNS records to add:',
      '  none: without a domain, toss serves on sslip.io names (<env>.<app>.<ip>.sslip.io).',
      '  Add "domain" to toss.json (or run toss init --domain myapp.com) for your own names.',
    ];
  }
  const type = input.serverIp && isIPv6(input.serverIp) ? 'AAAA' : 'A';
  const ip = input.serverIp ?? '<the server IP>';
  const previews = input.previewDomain ?? `preview.${input.domain}`;
  const rows = [
    [`${input.domain}.`, type, ip, 'production'],
    [`*.${previews}.`, type, ip, `previews (pr-42.${previews})`],
  ];
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return [
    'DNS records to add:',
    ...rows.map(
      ([name, t, value, what]) => `  ${name!.padEnd(width)}  ${t!.padEnd(4)}  ${value}   ; ${what}`,
    ),
  ];
}

function hostKey(input: SummaryInput): string[] {
  return [
    `The server's host key (${input.recordedKey ? 'added to' : 'already in'} ${input.knownHostsFile}):`,
    `  ${input.knownHostsLine}`,
  ];
}

/** The repository secrets the workflow logs in with, and how to set them. */
function githubSecrets(input: SummaryInput): string[] {
  return [
    'GitHub secrets to create (Settings → Secrets and variables → Actions, or the gh CLI):',
    `  TOSS_SSH_KEY       a private key that logs in as ${input.loginTarget} (a dedicated deploy key is best)`,
    '  TOSS_KNOWN_HOSTS   the host key line above',
    `  gh secret set TOSS_SSH_KEY < ${input.identityFile ?? '~/.ssh/toss_deploy_key'}`,
    `  gh secret set TOSS_KNOWN_HOSTS --body '${input.knownHostsLine}'`,
  ];
}
