/**
 * Checks that run ON the server: a new release answers on its port before it gets traffic, and
 * the site answers through Caddy once it is routed there. Scripts are constants; values arrive
 * as positional parameters.
 */
import { TossError } from '../errors.js';
import { assertPort } from './paths.js';

// Both checks look again every 20 ms: an app is usually up 100–300 ms after its start, and each
// look after it was up is time the deploy waits for nothing. They run in bash (Debian always has
// it) so a look costs no process but its curl, or none for a TCP connect: the clock is
// $EPOCHREALTIME in microseconds (the decimal point taken out), the pause a `read -t` on a pipe
// nothing writes to. A check that forked `date`, `sleep` and a shell per look took CPU from the
// very app it waited for, and on a small server that is the deploy's time. BASH_NAP opens that
// pipe as $nap (its writer is a subshell that exits at once; the read-write open keeps the pipe
// from ever reaching end of file); the drain (instances.ts) pauses the same way.
export const BASH_NAP = 'exec {nap}<> <(:)';
const DEADLINE = `deadline=$(( \${EPOCHREALTIME/[.,]/} + timeout * 1000000 ))`;
const BEFORE_DEADLINE = `[ "\${EPOCHREALTIME/[.,]/}" -lt "$deadline" ]`;

// --globoff: a path with [ ] or { } is a URL, not a curl glob. 2xx and 3xx pass (-f fails ≥ 400).
const HTTP_CHECK = `set -u
url="http://127.0.0.1:$1$2" timeout=$3
${DEADLINE}
${BASH_NAP}
while :; do
  if err=$(curl --globoff -fsS -o /dev/null --max-time 2 "$url" 2>&1); then exit 0; fi
  ${BEFORE_DEADLINE} || break
  read -r -t 0.02 -u "$nap" _
done
echo "toss: $url did not answer with 2xx or 3xx within $timeout s: $err" >&2
exit 1`;

// The connect is bash's own (/dev/tcp, no process). Only a port whose accept queue is full makes
// a connect wait (the kernel drops the SYN and retries), and an instance that listens accepts the
// first look into its queue: `timeout` around the whole check is the bound for that case, and
// its TERM still says why.
const TCP_CHECK = `set -u
port=$1 timeout=$2
fail() { echo "toss: nothing accepted a connection on 127.0.0.1:$port within $timeout s" >&2; exit 1; }
trap fail TERM
${DEADLINE}
${BASH_NAP}
while :; do
  if { : <"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then exit 0; fi
  ${BEFORE_DEADLINE} || break
  read -r -t 0.02 -u "$nap" _
done
fail`;

export interface HealthCheckParams {
  port: number;
  /** URL path starting with `/`; a TCP connect when absent */
  path?: string | undefined;
  timeoutSec: number;
}

/** Exit 0 once healthy; 1 with the last error on stderr after `timeoutSec`. */
export function healthCheckArgv(params: HealthCheckParams): string[] {
  const port = String(assertPort(params.port));
  const timeout = String(assertTimeout(params.timeoutSec));
  if (params.path === undefined) {
    const bound = String(params.timeoutSec + 2);
    return ['timeout', bound, 'bash', '-c', TCP_CHECK, 'bash', port, timeout];
  }
  if (!/^\/[^\s\p{Cc}]*$/u.test(params.path)) {
    throw new TossError(`invalid health check path ${JSON.stringify(params.path)}`);
  }
  return ['bash', '-c', HTTP_CHECK, 'bash', port, params.path, timeout];
}

// Any answer but a 5xx counts: a 401 from previewAuth or the app's own 404 still proves the path.
const SITE_CHECK = `set -u
scheme=$1 host=$2 timeout=$3 insecure=$4
port=443
[ "$scheme" = http ] && port=80
if [ "$insecure" = yes ]; then set -- --insecure; else set --; fi
errors=$(mktemp) || exit 1
trap 'rm -f -- "$errors"' EXIT
deadline=$(( $(date +%s) + timeout ))
while :; do
  code=$(curl --globoff -sS -o /dev/null -w '%{http_code}' --max-time 5 \\
    --resolve "$host:$port:127.0.0.1" "$@" "$scheme://$host/" 2>"$errors")
  case $code in
    [1-4][0-9][0-9]) echo "$code"; exit 0 ;;
  esac
  [ "$(date +%s)" -lt "$deadline" ] || break
  sleep 1
done
echo "toss: $scheme://$host/ did not answer through Caddy within $timeout s (last status $code)" >&2
cat -- "$errors" >&2
exit 1`;

export interface SiteCheckParams {
  hostName: string;
  tls: 'auto' | 'internal' | 'off';
  timeoutSec: number;
}

/**
 * Asks Caddy on the server itself for `https://<host>/` (http with tls off), prints the status.
 * `tls internal` skips certificate verification: the local CA is Caddy's own.
 */
export function siteCheckArgv(params: SiteCheckParams): string[] {
  if (!/^[a-z0-9.-]+$/.test(params.hostName)) {
    throw new TossError(`invalid host name ${JSON.stringify(params.hostName)}`);
  }
  return [
    'sh',
    '-c',
    SITE_CHECK,
    'sh',
    params.tls === 'off' ? 'http' : 'https',
    params.hostName,
    String(assertTimeout(params.timeoutSec)),
    params.tls === 'internal' ? 'yes' : 'no',
  ];
}

function assertTimeout(seconds: number): number {
  if (Number.isInteger(seconds) && seconds >= 1 && seconds <= 3600) return seconds;
  throw new TossError(`invalid timeout ${JSON.stringify(seconds)}`);
}
