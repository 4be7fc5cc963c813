/**
 * How many certificates Caddy obtained this week, per registered domain: Let's Encrypt allows
 * 50 new certificates per registered domain per week, and previews on one domain can reach that.
 * Read from Caddy's own storage (Debian's Caddy runs as user caddy, storage under
 * /var/lib/caddy/.local/share/caddy): each certificate's notBefore, parsed here, on toss's side.
 * Only this server's certificates are counted; the CA counts every server's.
 */
import { X509Certificate } from 'node:crypto';

export const CADDY_CERTIFICATES_DIR = '/var/lib/caddy/.local/share/caddy/certificates';
/** Let's Encrypt's weekly limit per registered domain, and where `toss status` starts warning. */
export const WEEKLY_CERTIFICATE_LIMIT = 50;
export const WEEKLY_CERTIFICATE_WARNING = 40;
const WEEK_MS = 7 * 24 * 3600 * 1000;

// Files written in the last 8 days only (notBefore decides; Let's Encrypt backdates it an hour).
// `local` is Caddy's own CA (tls internal): no public CA counts those. Each file is printed
// after a line naming it, so one unreadable file cannot shift the others.
const LIST = `set -u
dir=$1
[ -d "$dir" ] || exit 0
find "$dir" -mindepth 3 -maxdepth 3 -type f -name '*.crt' -mtime -8 ! -path "$dir/local/*" |
while IFS= read -r f; do
  printf '=== %s\\n' "$f"
  cat -- "$f"
done`;

/** Prints Caddy's certificate files of the last days, each after a `=== <path>` line. */
export function recentCertificatesArgv(): string[] {
  return ['sh', '-c', LIST, 'sh', CADDY_CERTIFICATES_DIR];
}

export interface DomainCertificates {
  /** the registered domain (see registeredDomain) */
  domain: string;
  /** certificates whose notBefore is within the last 7 days */
  thisWeek: number;
  /** host names they were obtained for */
  names: string[];
}

/** This week's certificates from `recentCertificatesArgv`'s output, per registered domain. */
export function countCertificates(listing: string, now: Date): DomainCertificates[] {
  const byDomain = new Map<string, DomainCertificates>();
  for (const pem of listing.split(/^=== .*$/m)) {
    const leaf = firstCertificate(pem);
    if (leaf === undefined) continue;
    const issued = Date.parse(leaf.validFrom);
    if (!(now.getTime() - issued < WEEK_MS)) continue;
    const name = subjectName(leaf);
    if (name === undefined) continue;
    const domain = registeredDomain(name);
    const entry = byDomain.get(domain) ?? { domain, thisWeek: 0, names: [] };
    entry.thisWeek++;
    entry.names.push(name);
    byDomain.set(domain, entry);
  }
  return [...byDomain.values()].sort((a, b) => b.thisWeek - a.thisWeek);
}

function firstCertificate(text: string): X509Certificate | undefined {
  const match = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text);
  if (match === null) return undefined;
  try {
    return new X509Certificate(match[0]);
  } catch {
    return undefined;
  }
}

/** The certificate's first DNS name (Caddy obtains one name per certificate), or its CN. */
function subjectName(cert: X509Certificate): string | undefined {
  const san = /DNS:([^,\s]+)/.exec(cert.subjectAltName ?? '')?.[1];
  const cn = /CN=([^\n,]+)/.exec(cert.subject)?.[1];
  return (san ?? cn)?.toLowerCase().replace(/^\*\./, '');
}

/**
 * Second-level labels under which registries sell names (co.uk, com.au, …): a hand-written
 * list of the common cases, not the whole Public Suffix List. A domain under a suffix missing
 * here is counted under one label too few, which only merges counts (a warning comes earlier).
 */
const TWO_LABEL_SUFFIXES = new Set([
  'co.uk',
  'org.uk',
  'ac.uk',
  'gov.uk',
  'me.uk',
  'com.au',
  'net.au',
  'org.au',
  'co.nz',
  'org.nz',
  'co.jp',
  'ne.jp',
  'or.jp',
  'com.br',
  'com.cn',
  'co.in',
  'co.za',
  'com.mx',
  'com.tr',
  'com.sg',
  'co.kr',
  'com.ar',
  'co.il',
]);

/** The public suffix and one label more: `pr-1.preview.example.co.uk` → `example.co.uk`. */
export function registeredDomain(hostName: string): string {
  const labels = hostName.toLowerCase().replace(/\.$/, '').split('.');
  const two = labels.slice(-2).join('.');
  const take = TWO_LABEL_SUFFIXES.has(two) ? 3 : 2;
  return labels.slice(-take).join('.');
}

/** The warning `toss status` gives for a domain near the weekly limit, or undefined. */
export function certificateWarning(entry: DomainCertificates): string | undefined {
  if (entry.thisWeek < WEEKLY_CERTIFICATE_WARNING) return undefined;
  return `${entry.thisWeek} certificates for ${entry.domain} this week on this server: Let's Encrypt issues at most ${WEEKLY_CERTIFICATE_LIMIT} per registered domain per week, counting every server`;
}
