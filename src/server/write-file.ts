/** Writing a file on the server only when its content changes (units: daemon-reload only then). */

export const CHANGED = 'changed';
export const UNCHANGED = 'unchanged';

// The temp file is made beside the target by mktemp (0600 from the start) and renamed over it.
const WRITE_IF_CHANGED = `set -eu
file=$1 mode=$2 owner=$3
dir=\${file%/*}
mkdir -p -- "\${dir:-/}"
tmp=$(mktemp "\${dir:-/}/.toss-write.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
if [ -f "$file" ] && cmp -s -- "$tmp" "$file" &&
   [ "$(stat -c '%a %U:%G' -- "$file")" = "$mode $owner" ]; then
  echo ${UNCHANGED}
  exit 0
fi
chmod -- "$mode" "$tmp"
chown -- "$owner" "$tmp"
mv -fT -- "$tmp" "$file"
trap - EXIT
echo ${CHANGED}`;

export interface WriteFileParams {
  path: string;
  /** e.g. 0o644 for units and site files, 0o600 for env files */
  mode: number;
  /** `user:group`, default root:root */
  owner?: string | undefined;
}

/** Writes stdin to `path` atomically if content, mode or owner differ; prints changed/unchanged. */
export function writeFileIfChangedArgv(params: WriteFileParams): string[] {
  if (!params.path.startsWith('/')) throw new TypeError(`path must be absolute: ${params.path}`);
  if (!Number.isInteger(params.mode) || params.mode < 0 || params.mode > 0o777) {
    throw new TypeError(`bad mode ${params.mode}`);
  }
  const owner = params.owner ?? 'root:root';
  if (!/^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$/.test(owner)) {
    throw new TypeError(`bad owner ${owner}`);
  }
  return ['sh', '-c', WRITE_IF_CHANGED, 'sh', params.path, params.mode.toString(8), owner];
}
