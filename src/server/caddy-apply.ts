/**
 * Changing Caddy's configuration safely: under the server-wide registry lock (so two apps never
 * reload at once), the new file goes in, the whole config is validated, Caddy reloads
 * gracefully, and on any failure the previous file comes back.
 */
import { FLOCK_TIMEOUT_EXIT } from './cas.js';
import { CADDYFILE, REGISTRY_LOCK_FILE } from './paths.js';

/** Caddy's own validation failed; the previous file was restored. */
export const CADDY_INVALID_EXIT = 65;
/** `systemctl reload caddy` failed; the previous file was restored. */
export const CADDY_RELOAD_EXIT = 66;

// Temp and backup names end in .toss-new/.toss-old so the `*.caddy` import never picks them up.
const APPLY = `set -u
mode=$1 file=$2 lock=$3 caddyfile=$4 validate=$5
umask 022
[ -d "\${lock%/*}" ] || mkdir -p -- "\${lock%/*}" || exit 1
exec 9>>"$lock" || exit 1
flock -w 120 9 || { echo "toss: $lock is still locked after 120 s" >&2; exit ${FLOCK_TIMEOUT_EXIT}; }
new=$file.toss-new old=$file.toss-old
if [ -e "$file" ]; then cp -p -- "$file" "$old" || exit 1; else rm -f -- "$old"; fi
if [ "$mode" = install ]; then
  [ -d "\${file%/*}" ] || mkdir -p -- "\${file%/*}" || exit 1
  cat > "$new" && chmod 0644 -- "$new" && mv -f -- "$new" "$file" || exit 1
else
  rm -f -- "$file"
fi
restore() {
  if [ -e "$old" ]; then mv -f -- "$old" "$file"; else rm -f -- "$file"; fi
}
check_config() {
  out=$(caddy validate --config "$caddyfile" --adapter caddyfile 2>&1)
}
invalid() {
  printf '%s\\n' "$out" | grep -v '"level":"info"' | tail -n 20 >&2
  exit ${CADDY_INVALID_EXIT}
}
if [ "$validate" = yes ] && ! check_config; then
  restore
  invalid
fi
if ! reloaded=$(systemctl reload caddy 2>&1); then
  # Not validated before (a port-only change): what has Caddy against the new config?
  rejected=no
  if [ "$validate" = no ] && ! check_config; then
    rejected=yes
  fi
  restore
  systemctl reload caddy 2>/dev/null
  [ "$rejected" = no ] || invalid
  printf '%s\\n' "$reloaded" >&2
  exit ${CADDY_RELOAD_EXIT}
fi
rm -f -- "$old"`;

/**
 * Write stdin to `file` (a site file or the Caddyfile itself), validate, reload; roll back on
 * failure. `validate: false` skips the separate validation, for a change that cannot make a valid
 * config invalid (the reload still refuses a bad one, atomically).
 */
export function installCaddyFileArgv(file: string, options: { validate?: boolean } = {}): string[] {
  const validate = options.validate ?? true;
  return [
    'sh',
    '-c',
    APPLY,
    'sh',
    'install',
    file,
    REGISTRY_LOCK_FILE,
    CADDYFILE,
    validate ? 'yes' : 'no',
  ];
}

/** Delete a site file, validate, reload; roll back on failure. */
export function removeCaddyFileArgv(file: string): string[] {
  return ['sh', '-c', APPLY, 'sh', 'remove', file, REGISTRY_LOCK_FILE, CADDYFILE, 'yes'];
}
