/**
 * Changing Caddy's configuration safely: under the server-wide registry lock (so two apps never
 * reload at once), the new file goes in, is validated as the caddy user (a site file on its own,
 * with the Caddyfile's global options; the Caddyfile with everything it imports), Caddy reloads
 * gracefully within a time limit (a reload that Caddy refuses changes nothing it serves), and on
 * any failure the previous file comes back, what Caddy refused is validated in full for its
 * message, and Caddy is left running the last good config (restarted with it if it hung or
 * stopped). Nothing validates every site before each change: that cost grew with the sites.
 *
 * Every run also makes sure Caddy's admin endpoint stays private (see caddy-admin.ts): the
 * systemd drop-in is (re)written when it differs, and a Caddy whose Caddyfile names the socket
 * but which has no socket yet (a server set up before, still listening on TCP) is restarted once
 * instead of reloaded. When all is in place this costs a file read and a stat, no round trip.
 */
import { CADDY_ADMIN_DROPIN, CADDY_ADMIN_SOCKET, caddyAdminDropIn } from './caddy-admin.js';
import { ON_DEMAND_MARKER } from './caddy-site.js';
import { FLOCK_TIMEOUT_EXIT } from './cas.js';
import { EXIT } from './exit-codes.js';
import { CADDY_SITES_DIR, CADDYFILE, REGISTRY_LOCK_FILE } from './paths.js';
import { TLS_ALLOW_DIR } from './tls-ask.js';

/** Caddy's own validation failed (or did not finish); the previous file was restored. */
export const CADDY_INVALID_EXIT = EXIT.caddyInvalid;
/** `systemctl reload caddy` failed; the previous file was restored and Caddy runs it. */
export const CADDY_RELOAD_EXIT = EXIT.caddyReload;
/** The reload did not finish in time; the previous file was restored and Caddy restarted on it. */
export const CADDY_RELOAD_TIMEOUT_EXIT = EXIT.caddyReloadTimeout;
/** Caddy is not running and did not start again on the previous config either. */
export const CADDY_DOWN_EXIT = EXIT.caddyDown;
/** The drop-in that keeps Caddy's admin socket private could not be installed; nothing changed. */
export const CADDY_ADMIN_EXIT = EXIT.caddyAdmin;

/**
 * Time limits, in seconds. A validation or reload takes 20–150 ms on a small server; these leave
 * two orders of magnitude for a large config while keeping the locks' holders (the app's state
 * flock is held around this step, and other clients give up on it after 60 s) bounded even on
 * the worst path: a hung reload (RELOAD) then a restart (RESTART, which includes Caddy's own
 * 5 s stop timeout).
 */
export const CADDY_VALIDATE_TIMEOUT_S = 20;
export const CADDY_RELOAD_TIMEOUT_S = 15;
export const CADDY_RESTART_TIMEOUT_S = 30;

/** Where Caddy 2.6 listens for its admin API unless its config says otherwise. */
const CADDY_DEFAULT_ADMIN = 'localhost:2019';

/** Caddy's error text is cut to this many characters before it leaves the server. */
export const CADDY_ERROR_MAX = 300;

// Temp and backup names end in .toss-new/.toss-old so the `*.caddy` import never picks them up.
// fd 9 (the registry flock) is closed for every child so none can outlive the script holding it.
const APPLY = `set -u
mode=$1 file=$2 lock=$3 caddyfile=$4 validate=$5 dropin=$6 socket=$7 sites=$8 dropin_text=$9
allow=\${10} marker=\${11}
umask 022
[ -d "\${lock%/*}" ] || mkdir -p -- "\${lock%/*}" || exit 1
exec 9>>"$lock" || exit 1
flock -w 120 9 || { echo "toss: $lock is still locked after 120 s" >&2; exit ${FLOCK_TIMEOUT_EXIT}; }
if [ "$(cat -- "$dropin" 2>/dev/null)" != "$dropin_text" ]; then
  { mkdir -p -- "\${dropin%/*}" && printf '%s\\n' "$dropin_text" > "$dropin.toss-new" &&
    mv -f -- "$dropin.toss-new" "$dropin" && systemctl daemon-reload 9>&-; } ||
    { echo "toss: could not install $dropin" >&2; exit ${CADDY_ADMIN_EXIT}; }
fi
# Caddy's last "Error:" line, only where it cannot quote a file toss does not write: an adapter
# error located in another file (one a site imported, say) is named but not quoted.
caddy_said() {
  awk -v caddyfile="$caddyfile:" -v sites="$sites/" -v max=${CADDY_ERROR_MAX} '
    /^(Reloading|Starting) / { last = "" }
    /^Error: / { last = $0 }
    END {
      if (last == "") exit
      lead = "Error: adapting config using caddyfile: "
      if (index(last, lead) == 1) {
        rest = substr(last, length(lead) + 1)
        ok = index(rest, caddyfile) == 1
        # Two sites for one address: only the address is quoted (two fronts on one port, say).
        if (!ok && rest ~ /^ambiguous site definition: [A-Za-z0-9:\\/._*-]+$/) ok = 1
        if (!ok && index(rest, sites) == 1) ok = substr(rest, length(sites) + 1) ~ /^[a-z0-9-]+[.]caddy:[0-9]/
        if (!ok) { print "Error: in a file toss does not write (not quoted here; run caddy validate on the server)"; exit }
      }
      print substr(last, 1, max)
    }'
}
journal_said() {
  journalctl -u caddy -n 40 -o cat --no-pager 2>/dev/null 9>&- | caddy_said
}
if [ "$mode" != check ]; then
  new=$file.toss-new old=$file.toss-old
  if [ -e "$file" ]; then cp -p -- "$file" "$old" || exit 1; else rm -f -- "$old"; fi
  if [ "$mode" = install ]; then
    [ -d "\${file%/*}" ] || mkdir -p -- "\${file%/*}" || exit 1
    cat > "$new" && chmod 0644 -- "$new" && mv -f -- "$new" "$file" || exit 1
  else
    rm -f -- "$file"
  fi
fi
# The names that may get an on-demand certificate follow the site files: a site file's marker
# line allows its name (a file named so, holding the site file's name) for as long as the file
# is there. Written before Caddy reloads, so the first handshake after it finds its name.
# Caddy (user caddy) looks the names up itself: the directory above the list, made 0700 when a
# lock created it first, gets search permission (never read) for others, or every name is refused.
sync_allow() {
  [ "$mode" != check ] && [ "$file" != "$caddyfile" ] || return 0
  owner=\${file##*/}
  # The names this site file allowed before go: one awk over every name's file (a process per
  # name grew with the previews). A name's file holds its owner and a newline.
  if [ -d "$allow" ]; then
    find "$allow" -mindepth 1 -maxdepth 1 -type f ! -name '.*' -exec awk -v owner="$owner" '
      function check() { sub(/\\n+$/, "", text); if (name != "" && text == owner) print name }
      FNR == 1 { check(); name = FILENAME; text = $0; next }
      { text = text "\\n" $0 }
      END { check() }' {} + | while IFS= read -r f; do rm -f -- "$f"; done
  fi
  [ -f "$file" ] || return 0
  name=$(awk -v m="$marker" '$1 == "#" && $2 == m && NF == 3 && $3 ~ /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/ && $3 !~ /[.][.]/ { print $3; exit }' "$file")
  [ -n "$name" ] || return 0
  [ -d "$allow" ] || install -d -m 0755 -o root -g root -- "$allow" || return 1
  chmod go+x -- "\${allow%/*}" || return 1
  printf '%s\\n' "$owner" > "$allow/.new-$name" && mv -f -- "$allow/.new-$name" "$allow/$name"
}
sync_allow 9>&- || echo "toss: could not update $allow (previews' certificates may be refused)" >&2
# The Caddyfile names the socket but Caddy has not opened it (its admin is still where an older
# config put it): only a restart moves it, as caddy reload would look for the socket already.
restart=no
if [ ! -S "$socket" ] && awk -v want="unix/$socket" '$1 == "admin" && $2 == want { found = 1 } END { exit !found }' "$caddyfile" 2>/dev/null; then
  restart=yes
fi
[ "$mode" != check ] || [ "$restart" = yes ] || exit 0
restore() {
  [ "$mode" != check ] || return 0
  if [ -e "$old" ]; then mv -f -- "$old" "$file"; else rm -f -- "$file"; fi
  sync_allow 9>&- || :
}
# As the caddy user, with its own environment: a site file can make Caddy read or create only
# what Caddy itself could, never what only root can. $1: the config, the Caddyfile by default.
check_config() {
  out=$(timeout -k 5 ${CADDY_VALIDATE_TIMEOUT_S} setpriv --reuid=caddy --regid=caddy --init-groups --reset-env \\
    caddy validate --config "\${1:-$caddyfile}" --adapter caddyfile 2>&1 9>&-)
  checked=$?
  [ "$checked" -ne 137 ] || checked=124
  [ "$checked" -eq 0 ]
}
# Before the reload, a new site file is checked on its own: in a copy of the Caddyfile (beside it,
# so its own imports resolve alike) whose import of toss's sites names this file alone. Checking
# every site costs as much as every site (seconds with a few hundred), and the reload checks the
# whole config anyway and refuses it as a whole: what it refuses is then checked in full below.
# The Caddyfile itself, and a change without a file of its own, are checked in full first.
whole=yes
precheck() {
  if [ "$mode" != install ] || [ "$file" = "$caddyfile" ]; then check_config; return; fi
  whole=no
  copy=\${caddyfile%/*}/.Caddyfile.toss-check
  awk -v sites="$sites/*.caddy" -v one="$file" '
    $1 == "import" && $2 == sites && NF == 2 { print "import " one; next }
    { print }' "$caddyfile" > "$copy" && chmod 0644 -- "$copy" || { rm -f -- "$copy"; return 1; }
  check_config "$copy"
  status=$?
  rm -f -- "$copy"
  return $status
}
invalid() {
  if [ "$checked" -eq 124 ]; then
    echo "toss: caddy validate did not finish within ${CADDY_VALIDATE_TIMEOUT_S} s" >&2
  else
    printf '%s\\n' "$out" | caddy_said >&2
  fi
  exit ${CADDY_INVALID_EXIT}
}
if [ "$mode" = check ]; then
  :
elif [ "$validate" = yes ] && ! precheck 9>&-; then
  restore
  invalid
fi
# Moving the admin endpoint: the running Caddy still listens where the old config put it, which
# can only be its default (a Caddyfile with an admin address of its own is refused before this).
# Loading the new config through that endpoint moves it without dropping a connection (the
# directory comes from the drop-in at the next start; made by hand this once). A restart, a brief
# gap for every site, is the fallback.
move_admin() {
  install -d -m 0700 -o caddy -g caddy -- "\${socket%/*}" 9>&- || return 1
  timeout -k 5 ${CADDY_RELOAD_TIMEOUT_S} setpriv --reuid=caddy --regid=caddy --init-groups --reset-env \
    caddy reload --config "$caddyfile" --adapter caddyfile --address ${CADDY_DEFAULT_ADMIN} --force \
    >/dev/null 2>&1 9>&- || return 1
  for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    [ ! -S "$socket" ] || return 0
    sleep 0.1
  done
  return 1
}
# The reload Debian's ExecReload makes (caddy reload --force), without the caddy process and the
# systemd job around it (about 70 of 100 ms here): the Caddyfile posted to the private admin
# socket, which Caddy adapts itself, in its own environment (the same {$VARS} as a reload). Only
# when every import of the Caddyfile is an absolute path: posted, it has no directory for a
# relative one. curl's 28 is a timeout; any other failure (Caddy down, a config it refuses, no
# curl) leaves everything as it was and goes the systemctl way, whose messages the rest reads.
post_load() {
  [ -S "$socket" ] || return 1
  awk '$1 == "import" && $2 !~ /^[/]/ { relative = 1 } END { exit relative }' "$caddyfile" || return 1
  curl -sS --fail --max-time ${CADDY_RELOAD_TIMEOUT_S} --unix-socket "$socket" -H 'Host;' \
    -H 'Content-Type: text/caddyfile' -H 'Cache-Control: must-revalidate' \
    --data-binary @"$caddyfile" http://localhost/load >/dev/null 2>&1
}
# Caddy 2.6 on Linux binds a new SO_REUSEPORT listener for each config it loads and closes the
# old one; the kernel resets every connection still queued on the closed listener (a visitor sees
# ECONNRESET) unless it may hand them to the new one. Best effort: kernels before 5.14 lack the
# setting, and a container may not own it.
[ "$(cat /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null)" = 1 ] ||
  { echo 1 > /proc/sys/net/ipv4/tcp_migrate_req; } 2>/dev/null 9>&- || :
if [ "$restart" = yes ]; then
  if move_admin; then
    restart=moved applied=0
  else
    timeout -k 5 ${CADDY_RESTART_TIMEOUT_S} systemctl restart caddy >/dev/null 2>&1 9>&-
    applied=$?
  fi
else
  post_load 9>&-
  applied=$?
  case $applied in
    0) ;;
    28) applied=124 ;;
    *)
      timeout -k 5 ${CADDY_RELOAD_TIMEOUT_S} systemctl reload-or-restart caddy >/dev/null 2>&1 9>&-
      applied=$? ;;
  esac
fi
[ "$applied" -ne 137 ] || applied=124
if [ "$applied" -eq 0 ]; then
  [ "$mode" = check ] || rm -f -- "$old"
  case $restart in yes) echo "restarted" ;; moved) echo "moved" ;; esac
  exit 0
fi
said=$(journal_said)
# Not validated in full before (a port-only change, a site checked on its own, a removal): what
# has Caddy against the new config?
rejected=no
if [ "$mode" != check ] && { [ "$validate" = no ] || [ "$whole" = no ]; } && [ "$applied" -ne 124 ] && ! check_config; then
  rejected=yes
fi
restore
# Caddy keeps the old config after a failed reload; reloading the restored file only makes
# what runs and what is on disk agree. A hung Caddy, or one that stopped, is restarted instead.
if [ "$applied" -ne 124 ] && [ "$restart" = no ]; then
  timeout -k 5 ${CADDY_RELOAD_TIMEOUT_S} systemctl reload caddy >/dev/null 2>&1 9>&-
fi
[ "$applied" -ne 124 ] || echo "toss: the reload did not finish within ${CADDY_RELOAD_TIMEOUT_S} s" >&2
if [ "$applied" -eq 124 ] || ! systemctl is-active --quiet caddy 9>&-; then
  if ! timeout -k 5 ${CADDY_RESTART_TIMEOUT_S} systemctl restart caddy >/dev/null 2>&1 9>&-; then
    [ -z "$said" ] || printf '%s\\n' "$said" >&2
    echo "toss: Caddy is not running and did not start with the previous configuration either" >&2
    journal_said >&2
    exit ${CADDY_DOWN_EXIT}
  fi
  echo "toss: Caddy was restarted with the previous configuration" >&2
fi
[ "$rejected" = no ] || invalid
[ "$applied" -ne 124 ] || exit ${CADDY_RELOAD_TIMEOUT_EXIT}
[ -z "$said" ] || printf '%s\\n' "$said" >&2
exit ${CADDY_RELOAD_EXIT}`;

function applyArgv(mode: 'install' | 'remove' | 'check', file: string, validate: boolean) {
  return [
    'sh',
    '-c',
    APPLY,
    'sh',
    mode,
    file,
    REGISTRY_LOCK_FILE,
    CADDYFILE,
    validate ? 'yes' : 'no',
    CADDY_ADMIN_DROPIN,
    CADDY_ADMIN_SOCKET,
    CADDY_SITES_DIR,
    caddyAdminDropIn(),
    TLS_ALLOW_DIR,
    ON_DEMAND_MARKER.replace(/^# /, ''), // the marker's word after `#`
  ];
}

/**
 * Write stdin to `file` (a site file or the Caddyfile itself), validate (a site file on its own),
 * reload; roll back on failure. `validate: false` skips the separate validation, for a change that cannot make a valid
 * config invalid (the reload still refuses a bad one, atomically). A new Caddyfile that moves
 * the admin endpoint is loaded through the old one (`systemctl reload` would look for the new
 * socket before Caddy has opened it), or, failing that, applied with a restart.
 */
export function installCaddyFileArgv(file: string, options: { validate?: boolean } = {}): string[] {
  return applyArgv('install', file, options.validate ?? true);
}

/**
 * Delete a site file and reload; roll back on failure. Taking a site away cannot make the others
 * invalid; the reload still refuses a config Caddy rejects, which is then validated for its message.
 */
export function removeCaddyFileArgv(file: string): string[] {
  return applyArgv('remove', file, false);
}

/**
 * Only the admin endpoint: the drop-in in place, and Caddy moved to the socket if its Caddyfile
 * names it while Caddy still listens elsewhere (then it prints `moved`, or `restarted` when only a
 * restart did it). For `toss init` on a server whose Caddyfile is already right.
 */
export function secureCaddyAdminArgv(): string[] {
  return applyArgv('check', '', false);
}
