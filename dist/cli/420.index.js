const id=420,ids=[420],modules={9420:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.r(__webpack_exports__),__webpack_require__.d(__webpack_exports__,{openShell:()=>openShell,requireEnvironment:()=>requireEnvironment,runInteractive:()=>runInteractive,streamFleetLogs:()=>streamFleetLogs,streamLogs:()=>streamLogs});var node_child_process__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(1421),node_child_process__WEBPACK_IMPORTED_MODULE_0___default=__webpack_require__.n(node_child_process__WEBPACK_IMPORTED_MODULE_0__),_config_env_name_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(1613),_errors_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(3916),_server_paths_js__WEBPACK_IMPORTED_MODULE_3__=__webpack_require__(1819),_server_shell_js__WEBPACK_IMPORTED_MODULE_4__=__webpack_require__(6849),_server_systemctl_js__WEBPACK_IMPORTED_MODULE_5__=__webpack_require__(4453),_server_users_js__WEBPACK_IMPORTED_MODULE_6__=__webpack_require__(5407),_session_js__WEBPACK_IMPORTED_MODULE_7__=__webpack_require__(7055),_ssh_files_js__WEBPACK_IMPORTED_MODULE_8__=__webpack_require__(1222);async function requireEnvironment(server,environment){const state=await server.readState();if(state?.environments[environment]===void 0){const known=Object.keys(state?.environments??{}).sort();throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__.m(`${server.app} has no environment ${environment} on this server`,{hint:known.length?`environments: ${known.join(", ")}`:`deploy it first (toss deploy ${environment})`})}}async function openShell(login,app,environment,options={}){const env=(0,_config_env_name_js__WEBPACK_IMPORTED_MODULE_1__.validateEnvName)(environment,"environment"),session=await _session_js__WEBPACK_IMPORTED_MODULE_7__.Session.open(login,app);let closed=!1;const close=async()=>{closed||(closed=!0,await session.close())};try{return await requireEnvironment(session,env),await(0,_ssh_files_js__WEBPACK_IMPORTED_MODULE_8__.u)(session,async files=>{const argv=(0,_server_shell_js__WEBPACK_IMPORTED_MODULE_4__.zT)({user:login.user,host:login.host,port:login.port,identityFile:files.identityFile,knownHostsFile:files.knownHostsFile,hostKeyAlias:_ssh_files_js__WEBPACK_IMPORTED_MODULE_8__.G,command:options.root?(0,_server_shell_js__WEBPACK_IMPORTED_MODULE_4__.Yy)((0,_server_paths_js__WEBPACK_IMPORTED_MODULE_3__.cD)(app,env).currentLink,!session.conn.isRoot):(0,_server_shell_js__WEBPACK_IMPORTED_MODULE_4__.zb)((0,_server_paths_js__WEBPACK_IMPORTED_MODULE_3__.cD)(app,env).currentLink,(0,_server_users_js__WEBPACK_IMPORTED_MODULE_6__.f)(app,env),!session.conn.isRoot)});return await close(),runInteractive(argv)})}finally{await close()}}function runInteractive(argv){const[command,...args]=argv,ignore=()=>{};return process.on("SIGINT",ignore),new Promise((resolve,reject)=>{const child=(0,node_child_process__WEBPACK_IMPORTED_MODULE_0__.spawn)(command,args,{stdio:"inherit"});child.on("error",error=>{reject(new _errors_js__WEBPACK_IMPORTED_MODULE_2__.m(error.code==="ENOENT"?"ssh is not installed on this machine":`ssh: ${error.message}`,{hint:"install the OpenSSH client (apt-get install openssh-client)"}))}),child.on("close",(code,signal)=>resolve(code??(signal?128:1)))}).finally(()=>process.off("SIGINT",ignore))}async function streamLogs(login,app,environment,options){const env=(0,_config_env_name_js__WEBPACK_IMPORTED_MODULE_1__.validateEnvName)(environment,"environment"),session=await _session_js__WEBPACK_IMPORTED_MODULE_7__.Session.open(login,app),stop=()=>{session.close()};options.signal?.addEventListener("abort",stop,{once:!0});try{if(await requireEnvironment(session,env),options.signal?.aborted)return;await session.root((0,_server_systemctl_js__WEBPACK_IMPORTED_MODULE_5__.A0)({paths:(0,_server_paths_js__WEBPACK_IMPORTED_MODULE_3__.cD)(app,env),lines:options.lines,follow:options.follow}),{onStdout:options.write,onStderr:options.writeErr})}catch(error){if(!options.signal?.aborted)throw error}finally{options.signal?.removeEventListener("abort",stop),await session.close()}}async function streamFleetLogs(servers,app,environment,options){const tagged=[];let order=0;const runs=servers.map(({name,login})=>{let pending="",last=0;const take=chunk=>{const lines=(pending+chunk.toString("utf8")).split(`
`);pending=lines.pop()??"";for(const line of lines){const prefixed=`[${name}] ${line}
`;if(options.follow){options.write(Buffer.from(prefixed));continue}last=journalTime(line)??last,tagged.push({at:last,order:order++,line:prefixed})}};return streamLogs(login,app,environment,{...options,write:take,writeErr:chunk=>options.writeErr(Buffer.from(`[${name}] ${chunk.toString("utf8")}`))}).finally(()=>{pending!==""&&take(Buffer.from(`
`))})}),settled=await Promise.allSettled(runs);if(!options.follow){tagged.sort((a,b)=>a.at-b.at||a.order-b.order);for(const{line}of tagged)options.write(Buffer.from(line))}const failed=settled.flatMap((s,i)=>s.status==="rejected"?[`${servers[i].name}: ${s.reason.message}`]:[]);if(failed.length>0)throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__.m(`could not read the journal of ${failed.join(`
`)}`,{hint:"the other servers\u2019 lines are above; try again once it is reachable"})}function journalTime(line){const m=/^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)(\d\d)\s/.exec(line);if(m===null)return;const at=Date.parse(`${m[1]}${m[2]}:${m[3]}`);return Number.isNaN(at)?void 0:at}}),1222:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{G:()=>HOST_KEY_ALIAS,u:()=>withSshFiles});var node_fs_promises__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(1455),node_fs_promises__WEBPACK_IMPORTED_MODULE_0___default=__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_0__),node_os__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(8161),node_os__WEBPACK_IMPORTED_MODULE_1___default=__webpack_require__.n(node_os__WEBPACK_IMPORTED_MODULE_1__),node_path__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(6760),node_path__WEBPACK_IMPORTED_MODULE_2___default=__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_2__);const HOST_KEY_ALIAS="toss-server";async function withSshFiles(session,body){const{login,conn}=session,dir=await(0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.mkdtemp)((0,node_path__WEBPACK_IMPORTED_MODULE_2__.join)((0,node_os__WEBPACK_IMPORTED_MODULE_1__.tmpdir)(),"toss-ssh-"));try{const knownHostsFile=(0,node_path__WEBPACK_IMPORTED_MODULE_2__.join)(dir,"known_hosts"),key=conn.hostKey;await(0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.writeFile)(knownHostsFile,`${HOST_KEY_ALIAS} ${key.keyType} ${key.blob.toString("base64")}
`,{mode:384});let identityFile=login.identityFile;if(identityFile===void 0&&login.privateKey!==void 0){identityFile=(0,node_path__WEBPACK_IMPORTED_MODULE_2__.join)(dir,"id");const text=login.privateKey.endsWith(`
`)?login.privateKey:`${login.privateKey}
`;await(0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.writeFile)(identityFile,text,{mode:384})}return await body({knownHostsFile,identityFile})}finally{await(0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.rm)(dir,{recursive:!0,force:!0})}}}),9735:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{LX:()=>routedPort,dX:()=>drainUnit,mk:()=>installUnitArgv,v8:()=>retireInstanceArgv,yX:()=>startInstanceArgv});var _paths_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(1819),_systemd_quote_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(2513),_write_file_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(5091);const BOOT_WANTS_DIR=`${_paths_js__WEBPACK_IMPORTED_MODULE_0__.wj}/multi-user.target.wants`,SOCKETS_WANTS_DIR=`${_paths_js__WEBPACK_IMPORTED_MODULE_0__.wj}/sockets.target.wants`,DRAIN_QUIET_MS=600,DRAIN_POLL_MS=100,DRAIN=`set -u
old=$1 port=$2 limit=$3 quiet=$4 poll=$5
ms() { now=\${EPOCHREALTIME/[.,]/}; now=$(( now / 1000 )); }
printf -v pause '%d.%03d' $(( poll / 1000 )) $(( poll % 1000 ))
exec {nap}<> <(:)
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
}`;function bootLinks(p,port){return{instance:`${BOOT_WANTS_DIR}/${p.instanceUnit(port)}`,socket:`${SOCKETS_WANTS_DIR}/${p.wakeSocketUnit(port)}`}}function retireInstanceArgv(p,target,oldPort,drainSeconds){if(!Number.isInteger(drainSeconds)||drainSeconds<0||drainSeconds>3600)throw new TypeError(`invalid drain time ${drainSeconds}`);const fresh=bootLinks(p,target.port),[link,linkTarget]=target.sleeps?[fresh.socket,p.wakeSocketTemplateFile]:[fresh.instance,p.unitTemplateFile],unlink=[target.sleeps?fresh.instance:fresh.socket];if(oldPort!==void 0&&oldPort!==target.port){const stale=bootLinks(p,oldPort);unlink.push(stale.instance,stale.socket)}const retiring=oldPort!==void 0&&oldPort!==target.port?oldPort:void 0;return["sh","-c",RETIRE,"sh",link,linkTarget,retiring===void 0?"":p.instanceUnit(retiring),retiring===void 0?"":drainUnit(p,retiring),...unlink,"--",...retiring===void 0?[]:drainArgv(p,retiring,drainSeconds)]}function drainArgv(p,port,drainSeconds){return["bash","-c",DRAIN,"bash",p.instanceUnit(port),String(port),String(drainSeconds),String(DRAIN_QUIET_MS),String(DRAIN_POLL_MS),p.wakeServiceUnit(port),p.wakeSocketUnit(port)].map(_systemd_quote_js__WEBPACK_IMPORTED_MODULE_1__.rv)}function routedPort(siteFile){const match=siteFile===null?null:/reverse_proxy\s+(?:127\.0\.0\.1:|unix\/\/run\/toss-wake\/)(\d+)\b/.exec(siteFile);return match?Number(match[1]):void 0}const INSTALL_UNITS=`set -uf
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
[ "$reload" = no ] || systemctl daemon-reload`;function installUnitArgv(p,wake){const pairs=wake===void 0?[]:[p.wakeSocketTemplateFile,wake.socket,p.wakeServiceTemplateFile,wake.service],name=file=>file.slice(file.lastIndexOf("/")+1),pattern=file=>`${name(file).slice(0,name(file).indexOf("@"))}@*`;return["sh","-c",INSTALL_UNITS,"sh",p.unitTemplateFile,`${pattern(p.unitTemplateFile)} ${pattern(p.wakeSocketTemplateFile)}`,...pairs,"--",...(0,_write_file_js__WEBPACK_IMPORTED_MODULE_2__.jP)({path:p.unitTemplateFile,mode:420})]}}),6849:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{Yy:()=>enterShellCommand,zT:()=>interactiveSshArgv,zb:()=>enterUserShellCommand});var _errors_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(3916),_remote_quote_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(4414);const ENTER='cd -P -- "$1" && exec "${SHELL:-/bin/sh}" -l';function enterShellCommand(dir,sudo){const argv=["sh","-c",ENTER,"sh",dir];return(0,_remote_quote_js__WEBPACK_IMPORTED_MODULE_1__.n)(sudo?["sudo","-n","--",...argv]:argv)}const ENTER_AS_USER=`exec setpriv --reuid="$2" --regid="$2" --init-groups --reset-env -- /bin/sh -c '
cd -P -- "$1" || exit 1
if [ -x /bin/bash ]; then exec /bin/bash -i; fi
exec /bin/sh -i' sh "$1"`;function enterUserShellCommand(dir,user,sudo){if(!/^[a-z_][a-z0-9_-]*$/.test(user))throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`invalid user name ${JSON.stringify(user)}`);const argv=["sh","-c",ENTER_AS_USER,"sh",dir,user];return(0,_remote_quote_js__WEBPACK_IMPORTED_MODULE_1__.n)(sudo?["sudo","-n","--",...argv]:argv)}function interactiveSshArgv(params){return[...systemSshArgv({port:params.port,identityFile:params.identityFile,knownHostsFile:params.knownHostsFile,hostKeyAlias:params.hostKeyAlias}),"-t","-l",params.user,"--",params.host,params.command]}function systemSshArgv(params){const argv=["ssh","-F","/dev/null","-p",String(params.port)];return params.identityFile!==void 0&&argv.push("-i",params.identityFile,"-o","IdentitiesOnly=yes"),argv.push("-o","BatchMode=yes","-o","StrictHostKeyChecking=yes","-o",`UserKnownHostsFile=${sshConfigPath(params.knownHostsFile)}`,"-o","GlobalKnownHostsFile=/dev/null","-o","ConnectTimeout=30","-o","ServerAliveInterval=15","-o","ServerAliveCountMax=4"),params.hostKeyAlias!==void 0&&argv.push("-o",`HostKeyAlias=${params.hostKeyAlias}`),argv}function sshConfigPath(path){if(/["\n\r]/.test(path))throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`unusable known_hosts path ${JSON.stringify(path)}`);return/\s/.test(path)?`"${path}"`:path}}),4453:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{A0:()=>journalArgv,Go:()=>stopInstanceArgv,IA:()=>stopRunUnitArgv,Qe:()=>teardownUnitsArgv});var _instances_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(9735),_paths_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(1819);function stopInstanceArgv(p,port){return["systemctl","stop","--",p.instanceUnit(port)]}function isActiveArgv(p,port){return["systemctl","is-active","--quiet","--",p.instanceUnit(port)]}const STOP_RUN=`set -u
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
