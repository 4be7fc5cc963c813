/**
 * Checks that run ON the server: a new release answers on its port before it gets traffic, and
 * the site answers through Caddy once it is routed there. Scripts are constants; values arrive
 * as positional parameters.
 */
import { TossError } from '../errors.js';
import { assertPort } from './paths.js';

// --globoff: a path with [ ] or { } is a URL, not a curl glob. 2xx and 3xx pass (-f fails ≥ 400).
// Both checks look again every 20 ms: an app is usually up 100–300 ms after its start, and each
// look after it was up is time the deploy waits for nothing (a look costs a curl or bash spawn).
const HTTP_CHECK = `set -u
url="http://127.0.0.1:$1$2" timeout=$3
deadline=$(( $(date +%s) + timeout ))
while :; do
  if err=$(curl --globoff -fsS -o /dev/null --max-time 2 "$url" 2>&1); then exit 0; fi
  [ "$(date +%s)" -lt "$deadline" ] || break
  sleep 0.02
done
echo "toss: $url did not answer with 2xx or 3xx within $timeout s: $err" >&2
exit 1`;

// sh has no /dev/tcp; Debian always has bash.
const TCP_CHECK = `set -u
port=$1 timeout=$2
deadline=$(( $(date +%s) + timeout ))
while :; do
  if timeout 1 bash -c ': < "/dev/tcp/127.0.0.1/$1"' bash "$port" 2>/dev/null; then exit 0; fi
  [ "$(date +%s)" -lt "$deadline" ] || break
  sleep 0.02
done
echo "toss: nothing accepted a connection on 127.0.0.1:$port within $timeout s" >&2
exit 1`;

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
  if (params.path === undefined) return ['sh', '-c', TCP_CHECK, 'sh', port, timeout];
  if (!/^\/[^\s\p{Cc}]*$/u.test(params.path)) {
    throw new TossError(`invalid health check path ${JSON.stringify(params.path)}`);
  }
  return ['sh', '-c', HTTP_CHECK, 'sh', port, params.path, timeout];
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
