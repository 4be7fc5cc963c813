/**
 * Who else listens on many environments' ports, in one pass: what `toss status` reports as a
 * taken port. port-owner.ts's guard answers for one port (one `ss -p` walk of every process's open
 * files per port); asked for every port of every environment that cost grew with the square of
 * the environments. Here one `ss -Htlnp` lists every listener, awk keeps the sockets on the ports
 * asked about, and each of their processes is matched to the port's unit by its cgroup, as the
 * guard does it. The output is the guard's (see parseForeignListenersByPort).
 */
import { TossError } from '../errors.js';
import { assertPort } from './paths.js';

// stdin: `<port> <unit>` lines, read before ss's listing. One `foreign <port> <pid>\t<user>\t<unit or cgroup>\t<command>`
// line per process listening on a port asked about that is not in the port's unit's cgroup, and
// one `foreign <port> -\t-\t-\t-` per port with a listening socket no process could be found for.
// /proc/<pid>/cgroup names the unit as the last component of its cgroup path (the v1
// name=systemd line and the unified one alike); a path that only passes through the unit
// (`…/<unit>/…`) is the unit's too. Only a foreign process costs a command (stat for its owner).
const LISTENERS = `set -uf
{ cat; echo --; ss -Htlnp; } | awk '
  !listed { if ($0 == "--") listed = 1; else unit[$1] = $2; next }
  {
    port = $4
    sub(/.*:/, "", port)
    if (!(port in unit)) next
    rest = $0
    found = 0
    while (match(rest, /pid=[0-9]+/)) {
      pid = substr(rest, RSTART + 4, RLENGTH - 4)
      rest = substr(rest, RSTART + RLENGTH)
      found = 1
      if (!((port, pid) in seen)) { seen[port, pid] = 1; order[++n] = port SUBSEP pid }
    }
    if (!found) orphan[port] = 1
  }
  END {
    for (port in orphan) printf "foreign %s -\\t-\\t-\\t-\\n", port
    for (i = 1; i <= n; i++) {
      split(order[i], key, SUBSEP)
      port = key[1]; pid = key[2]; want = unit[port]
      file = "/proc/" pid "/cgroup"
      mine = 0; named = ""; readable = 0
      while ((getline line < file) > 0) {
        readable = 1
        path = line
        sub(/^[^:]*:[^:]*:/, "", path)
        count = split(path, part, "/")
        for (k = 1; k <= count; k++) if (part[k] == want) mine = 1
        if (named == "" && (line ~ /^0::/ || line ~ /^[0-9]*:name=systemd:/)) named = part[count]
      }
      close(file)
      if (!readable || mine) continue
      user = "?"
      command = "stat -c %U /proc/" pid " 2>/dev/null"
      if ((command | getline owner) > 0) user = owner
      close(command)
      comm = ""
      file = "/proc/" pid "/comm"
      if ((getline comm < file) <= 0) comm = ""
      close(file)
      comm = substr(comm, 1, 32)
      gsub(/[^A-Za-z0-9._+-]/, "?", comm)
      printf "foreign %s %s\\t%s\\t%s\\t%s\\n", port, pid, user, named, comm
    }
  }'
exit 0`;

/**
 * Who else listens on these ports (each with the instance unit that alone may), for
 * `toss status`: one command and one listing of the server's sockets however many ports.
 */
export function foreignListenersOnceArgv(checks: ReadonlyArray<{ port: number; unit: string }>): {
  argv: string[];
  stdin: string;
} {
  const lines = checks.map(({ port, unit }) => {
    if (!/^[A-Za-z0-9@._-]+\.service$/.test(unit)) {
      throw new TossError(`invalid unit name ${JSON.stringify(unit)}`);
    }
    return `${assertPort(port)} ${unit}\n`;
  });
  return { argv: ['sh', '-c', LISTENERS], stdin: lines.join('') };
}
