const id=615,ids=[615],modules={4695:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{Vw:()=>serverProblem,ld:()=>parseServer,n8:()=>SERVER_EXPECTED});var node_net__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(7030),node_net__WEBPACK_IMPORTED_MODULE_0___default=__webpack_require__.n(node_net__WEBPACK_IMPORTED_MODULE_0__),_errors_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(3916),_errors_format_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(4379);const SERVER_EXPECTED='an SSH target like "203.0.113.10", "deploy@myapp.com:2222", "root@[2001:db8::1]:22" or a ~/.ssh/config alias',MAX_LENGTH=300,USER_NAME=/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/,HOST_LABEL=/^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/,PORT=/^[0-9]{1,5}$/;function parseServer(server,field="server"){const result=parse(server);if(typeof result=="string")throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__.xL([`${field}: ${result}, got ${(0,_errors_format_js__WEBPACK_IMPORTED_MODULE_2__.Fl)(server)}`]);return result}function serverProblem(server){const result=parse(server);return typeof result=="string"?result:void 0}function parse(server){const problem=textProblem(server);if(problem)return problem;const login=splitUser(server);if(typeof login=="string")return login;if(login.rest.length===0)return'expected a host after "@"';const address=splitHostPort(login.rest);if(typeof address=="string")return address;const{host,portText}=address,port=parsePort(portText);if(typeof port=="string")return port;const isIp=(0,node_net__WEBPACK_IMPORTED_MODULE_0__.isIPv4)(host)||(0,node_net__WEBPACK_IMPORTED_MODULE_0__.isIPv6)(host);return{host,user:login.user,port,isAlias:!isIp&&!host.includes("."),userGiven:login.userGiven,portGiven:portText!==void 0}}function textProblem(server){if(server.length===0||server.length>MAX_LENGTH)return`expected ${SERVER_EXPECTED}`;if(/[\s\p{Cc}\p{Cf}]/u.test(server))return"expected an SSH target without spaces or control characters";if(server.startsWith("-"))return'expected an SSH target that does not start with "-"'}function splitUser(server){const at=server.indexOf("@");if(at===-1)return{user:"root",rest:server,userGiven:!1};const user=server.slice(0,at),rest=server.slice(at+1);return rest.includes("@")?'expected at most one "@", as in user@host':USER_NAME.test(user)?{user,rest,userGiven:!0}:'expected a user name before "@" of letters, digits, "_", "." and "-", starting with a letter or "_", at most 32 characters'}function splitHostPort(rest){if(rest.startsWith("[")){const match=/^\[([^\]]*)\](?::(.*))?$/.exec(rest);if(!match)return'expected "[IPv6 address]" optionally followed by ":port"';const host2=match[1]??"";return(0,node_net__WEBPACK_IMPORTED_MODULE_0__.isIPv6)(host2)?{host:host2,portText:match[2]}:'expected an IPv6 address inside "[ ]"'}if(rest.split(":").length>2)return(0,node_net__WEBPACK_IMPORTED_MODULE_0__.isIPv6)(rest)?{host:rest,portText:void 0}:'expected an IPv6 address (write "[address]:port" to give a port)';const colon=rest.indexOf(":"),host=colon===-1?rest:rest.slice(0,colon),portText=colon===-1?void 0:rest.slice(colon+1),problem=hostProblem(host);return problem||{host,portText}}function parsePort(portText){if(portText===void 0)return 22;const port=PORT.test(portText)?Number(portText):0;return port<1||port>65535?'expected a port from 1 to 65535 after ":"':port}function hostProblem(host){if(host.length===0)return'expected a host name or IP address before ":"';if((0,node_net__WEBPACK_IMPORTED_MODULE_0__.isIPv4)(host))return;if(/^[0-9.]+$/.test(host))return'expected a valid IPv4 address like "203.0.113.10"';const labels=host.split(".");if(host.length>253||!labels.every(label=>HOST_LABEL.test(label)))return'expected a host name (letters, digits, "-" and "." between labels), an IP address or a ~/.ssh/config alias'}}),2557:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{XA:()=>healthCheckArgv,_g:()=>siteCheckArgv,tz:()=>BASH_NAP});var _errors_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(3916),_paths_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(1819);const BASH_NAP="exec {nap}<> <(:)",DEADLINE="deadline=$(( ${EPOCHREALTIME/[.,]/} + timeout * 1000000 ))",BEFORE_DEADLINE='[ "${EPOCHREALTIME/[.,]/}" -lt "$deadline" ]',HTTP_CHECK=`set -u
url="http://127.0.0.1:$1$2" timeout=$3
${DEADLINE}
${BASH_NAP}
while :; do
  if err=$(curl --globoff -fsS -o /dev/null --max-time 2 "$url" 2>&1); then exit 0; fi
  ${BEFORE_DEADLINE} || break
  read -r -t 0.02 -u "$nap" _
done
echo "toss: $url did not answer with 2xx or 3xx within $timeout s: $err" >&2
exit 1`,TCP_CHECK=`set -u
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
fail`;function healthCheckArgv(params){const port=String((0,_paths_js__WEBPACK_IMPORTED_MODULE_1__.CG)(params.port)),timeout=String(assertTimeout(params.timeoutSec));if(params.path===void 0)return["timeout",String(params.timeoutSec+2),"bash","-c",TCP_CHECK,"bash",port,timeout];if(!/^\/[^\s\p{Cc}]*$/u.test(params.path))throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`invalid health check path ${JSON.stringify(params.path)}`);return["bash","-c",HTTP_CHECK,"bash",port,params.path,timeout]}const SITE_CHECK=`set -u
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
exit 1`;function siteCheckArgv(params){if(!/^[a-z0-9.-]+$/.test(params.hostName))throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`invalid host name ${JSON.stringify(params.hostName)}`);return["sh","-c",SITE_CHECK,"sh",params.tls==="off"?"http":"https",params.hostName,String(assertTimeout(params.timeoutSec)),params.tls==="internal"?"yes":"no"]}function assertTimeout(seconds){if(Number.isInteger(seconds)&&seconds>=1&&seconds<=3600)return seconds;throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`invalid timeout ${JSON.stringify(seconds)}`)}}),9735:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{LX:()=>routedPort,dX:()=>drainUnit,mk:()=>installUnitArgv,v8:()=>retireInstanceArgv,yX:()=>startInstanceArgv});var _health_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(2557),_paths_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(1819),_systemd_quote_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(2513),_write_file_js__WEBPACK_IMPORTED_MODULE_3__=__webpack_require__(5091);const BOOT_WANTS_DIR=`${_paths_js__WEBPACK_IMPORTED_MODULE_1__.wj}/multi-user.target.wants`,SOCKETS_WANTS_DIR=`${_paths_js__WEBPACK_IMPORTED_MODULE_1__.wj}/sockets.target.wants`,DRAIN_QUIET_MS=600,DRAIN_POLL_MS=100,DRAIN=`set -u
old=$1 port=$2 limit=$3 quiet=$4 poll=$5
ms() { now=\${EPOCHREALTIME/[.,]/}; now=$(( now / 1000 )); }
printf -v pause '%d.%03d' $(( poll / 1000 )) $(( poll % 1000 ))
${_health_js__WEBPACK_IMPORTED_MODULE_0__.tz}
ms
start=$now
end=$(( start + limit * 1000 ))
idle_since=$start
while :; do
  ms
  if [ -n "$(ss -Htn state established "( sport = :$port )" 2>/dev/null)" ]; then
    idle_since=$now
  elif [ $(( now - idle_since )) -ge "$quiet" ]; then
    echo "toss: no request left on port $port after $(( now - start )) ms; stopping $old"
    break
  fi
  if [ "$now" -ge "$end" ]; then
    echo "toss: port $port still had requests after $limit s (drainTimeout); stopping $old"
    break
  fi
  read -r -t "$pause" -u "$nap" _
done
shift 5
# A sleeping environment's proxy and socket for the old port go too (its proxy's own stop would
# stop the instance without waiting).
[ "$#" -eq 0 ] || systemctl stop -- "$@" 2>/dev/null
exec systemctl stop -- "$old"`,START=`set -u
unit=$1 drain=$2
t=/run/systemd/transient/$drain
if [ -e "$t.timer" ] || [ -e "$t.service" ]; then
  systemctl stop -- "$drain.timer" "$drain.service" 2>/dev/null
fi
err=$(systemctl restart -- "$unit" 2>&1) && exit 0
case $(systemctl show -P Result -- "$unit") in exit-code | signal | core-dump) exit 0 ;; esac
printf '%s
' "$err" >&2
exit 1`;function drainUnit(p,port){return`toss-drain-${p.app}-${p.environment}-${port}`}function startInstanceArgv(p,port){return["sh","-c",START,"sh",p.instanceUnit(port),drainUnit(p,port)]}const RETIRE=`set -u
link=$1 target=$2 old=$3 drain=$4
shift 4
{ [ -d "\${link%/*}" ] || mkdir -p -- "\${link%/*}"; } && ln -sfn -- "$target" "$link" || exit 1
while [ "$1" != -- ]; do rm -f -- "$1"; shift; done
shift
[ -n "$old" ] || exit 0
start_drain() {
  systemd-run --quiet --collect --unit="$drain" --service-type=exec \\
    --description="toss: drain $old" -- "$@"
}
start_drain "$@" 2>/dev/null || {
  systemctl stop -- "$drain.timer" "$drain.service" 2>/dev/null
  systemctl reset-failed -- "$drain.timer" "$drain.service" 2>/dev/null
  start_drain "$@"
}`;function bootLinks(p,port){return{instance:`${BOOT_WANTS_DIR}/${p.instanceUnit(port)}`,socket:`${SOCKETS_WANTS_DIR}/${p.wakeSocketUnit(port)}`}}function retireInstanceArgv(p,target,oldPort,drainSeconds){if(!Number.isInteger(drainSeconds)||drainSeconds<0||drainSeconds>3600)throw new TypeError(`invalid drain time ${drainSeconds}`);const fresh=bootLinks(p,target.port),[link,linkTarget]=target.sleeps?[fresh.socket,p.wakeSocketTemplateFile]:[fresh.instance,p.unitTemplateFile],unlink=[target.sleeps?fresh.instance:fresh.socket];if(oldPort!==void 0&&oldPort!==target.port){const stale=bootLinks(p,oldPort);unlink.push(stale.instance,stale.socket)}const retiring=oldPort!==void 0&&oldPort!==target.port?oldPort:void 0;return["sh","-c",RETIRE,"sh",link,linkTarget,retiring===void 0?"":p.instanceUnit(retiring),retiring===void 0?"":drainUnit(p,retiring),...unlink,"--",...retiring===void 0?[]:drainArgv(p,retiring,drainSeconds)]}function drainArgv(p,port,drainSeconds){return["bash","-c",DRAIN,"bash",p.instanceUnit(port),String(port),String(drainSeconds),String(DRAIN_QUIET_MS),String(DRAIN_POLL_MS),p.wakeServiceUnit(port),p.wakeSocketUnit(port)].map(_systemd_quote_js__WEBPACK_IMPORTED_MODULE_2__.rv)}function routedPort(siteFile){const match=siteFile===null?null:/reverse_proxy\s+(?:127\.0\.0\.1:|unix\/\/run\/toss-wake\/)(\d+)\b/.exec(siteFile);return match?Number(match[1]):void 0}const INSTALL_UNITS=`set -uf
template=$1 patterns=$2
shift 2
reload=no fresh=no
while [ "$1" != -- ]; do
  file=$1 text=$2
  shift 2
  if [ "$(cat -- "$file" 2>/dev/null; echo .)" != "$text." ]; then
    if [ -e "$file" ]; then reload=yes; else fresh=yes; fi
    printf '%s' "$text" > "$file.toss-new" && chmod 644 -- "$file.toss-new" &&
      mv -f -- "$file.toss-new" "$file" || exit 1
  fi
done
shift
existed=no
[ ! -e "$template" ] || existed=yes
out=$("$@") || exit $?
[ "$out" != changed ] || [ "$existed" = no ] || reload=yes
[ "$out" != changed ] || [ "$existed" = yes ] || fresh=yes
if [ "$reload" = no ] && [ "$fresh" = yes ]; then
  loaded=$(systemctl list-units --all --plain --no-legend --full -- $patterns) || loaded=unknown
  [ -z "$loaded" ] || reload=yes
fi
[ "$reload" = no ] || systemctl daemon-reload`;function installUnitArgv(p,wake){const pairs=wake===void 0?[]:[p.wakeSocketTemplateFile,wake.socket,p.wakeServiceTemplateFile,wake.service],name=file=>file.slice(file.lastIndexOf("/")+1),pattern=file=>`${name(file).slice(0,name(file).indexOf("@"))}@*`;return["sh","-c",INSTALL_UNITS,"sh",p.unitTemplateFile,`${pattern(p.unitTemplateFile)} ${pattern(p.wakeSocketTemplateFile)}`,...pairs,"--",...(0,_write_file_js__WEBPACK_IMPORTED_MODULE_3__.jP)({path:p.unitTemplateFile,mode:420})]}}),4453:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{A0:()=>journalArgv,Go:()=>stopInstanceArgv,IA:()=>stopRunUnitArgv,Qe:()=>teardownUnitsArgv});var _instances_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(9735),_paths_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(1819);function stopInstanceArgv(p,port){return["systemctl","stop","--",p.instanceUnit(port)]}function isActiveArgv(p,port){return["systemctl","is-active","--quiet","--",p.instanceUnit(port)]}const STOP_RUN=`set -u
unit=$1 dir=$2
wd=$(systemctl show -p WorkingDirectory --value -- "$unit" 2>/dev/null)
case $wd in
  '' | / | "$dir"/*) ;;
  *) echo "toss: $unit runs in $wd, not in $dir: not this environment's, left alone" >&2; exit 0 ;;
esac
set -- "$unit"
for unit in "$@"; do
  systemctl disable --now --quiet -- "$unit" 2>/dev/null || systemctl stop -- "$unit" 2>/dev/null || true
  systemctl reset-failed -- "$unit" 2>/dev/null || true
done`;function stopRunUnitArgv(p){return["sh","-c",STOP_RUN,"sh",p.runUnit,p.envDir]}const TEARDOWN=`set -uf
slice=$1; shift
templates= patterns=
while [ "$1" != -- ]; do
  templates="$templates $1" name=\${1##*/}
  patterns="$patterns \${name%%@*}@*"
  shift
done
shift
unlink_boot() {
  set +f
  for link in ${_paths_js__WEBPACK_IMPORTED_MODULE_1__.wj}/*/"$1"; do
    [ ! -L "$link" ] || rm -f -- "$link"
  done
  set -f
}
# The units stopped first, up to "--", then the others. Unit names are toss's own (letters,
# digits, - @ . and \\x2d): no spaces to split on, and -f keeps them from being globs.
first=
while [ "$1" != -- ]; do first="$first $1"; shift; done
shift
later="$*"
for unit in $first $later; do unlink_boot "$unit"; done
[ -z "$first" ] || systemctl stop -- $first 2>/dev/null
[ -z "$later" ] || systemctl stop -- $later 2>/dev/null
systemctl reset-failed -- $first $later 2>/dev/null
# Template paths are toss's own (/etc/systemd/system/toss-\u2026@.service): no spaces to split on.
rm -f -- $templates || exit 1
loaded=$(systemctl list-units --all --plain --no-legend --full -- $first $later $patterns) || loaded=unknown
[ -z "$loaded" ] || systemctl daemon-reload || exit 1
systemctl stop -- "$slice" 2>/dev/null
systemctl reset-failed -- "$slice" 2>/dev/null
exit 0`;function instanceSlice(p){return`system-${p.unitTemplate.slice(0,-9).replaceAll("-","\\x2d")}.slice`}function wakeSlice(p){return`system-${p.wakeServiceTemplate.slice(0,-9).replaceAll("-","\\x2d")}.slice`}function teardownUnitsArgv(p,ports){return["sh","-c",TEARDOWN,"sh",instanceSlice(p),p.unitTemplateFile,p.wakeSocketTemplateFile,p.wakeServiceTemplateFile,"--",...ports.flatMap(port=>[`${(0,_instances_js__WEBPACK_IMPORTED_MODULE_0__.dX)(p,port)}.timer`,`${(0,_instances_js__WEBPACK_IMPORTED_MODULE_0__.dX)(p,port)}.service`]),...ports.flatMap(port=>[p.wakeSocketUnit(port),p.wakeServiceUnit(port)]),"--",...ports.map(port=>p.instanceUnit(port)),p.runUnit,wakeSlice(p)]}function journalArgv(params){const p=params.paths,unit=params.port===void 0?p.unitTemplate.replace("@.service","@*"):p.instanceUnit(params.port),lines=params.lines??100;if(!Number.isInteger(lines)||lines<0)throw new TypeError(`invalid line count ${lines}`);return["journalctl","--no-pager","--output=short-iso",`--unit=${unit}`,`--lines=${lines}`,...params.follow?["--follow"]:[]]}})};export{id,ids,modules};
