const id=441,ids=[441],modules={9441:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{vv:()=>answersAsInstanceArgv,qP:()=>checkInstanceHealth,wn:()=>checkWorkerRunning,OW:()=>explainHealthFailure,aD:()=>serverAddress,X8:()=>withPortGuard});var promises_=__webpack_require__(1553),external_node_net_=__webpack_require__(7030),errors=__webpack_require__(3916),quote=__webpack_require__(4414),health=__webpack_require__(2557),server_paths=__webpack_require__(1819),port_owner=__webpack_require__(8706),systemctl=__webpack_require__(4453);const HOST="127.0.0.1",REACHABLE_HOSTS=new Set([HOST,"0.0.0.0","*","[::]","[::ffff:127.0.0.1]"]);function diagnoseHealthFailure(evidence){const messages=journalMessages(evidence.journal),{listeners,port}=evidence;return listeners.some(l=>l.port===port&&REACHABLE_HOSTS.has(hostOf(l.address)))?notWritable(messages,evidence.readOnly)??answeredBadly(listeners,port):listeners.length>0?listenedElsewhere(listeners,port):missingProgram(messages)??notExecutable(messages)??bindFailed(messages,port)??notWritable(messages,evidence.readOnly)??listenedNowhere(messages,port)}const JOURNAL_LINE=/^\d{4}-\d\d-\d\dT\S+ \S+ ([^\s[:]+)(?:\[\d+\])?: (.*)$/;function journalMessages(journal){return journal.split(`
`).map(line=>line.trimEnd()).filter(line=>line!==""&&!line.startsWith("-- ")).map(line=>{const m=JOURNAL_LINE.exec(line);return m?{source:m[1]??"",text:m[2]??""}:{source:"",text:line}})}function newest(messages,read){for(let i=messages.length-1;i>=0;i--){const message=messages[i];if(message===void 0||message.source==="systemd")continue;const found=read(message.text);if(found!==void 0)return found}}function firstMatch(text,patterns){for(const pattern of patterns){const m=pattern.exec(text);if(m)return m}}function portSentence(port){return`it was given PORT=${port} (with HOST=${HOST})`}const LISTEN_FIX=`make the app listen on the port in $PORT, on the address in $HOST (${HOST}), instead of one of its own`;function hostOf(address){return address.replace(/:[0-9]+$/,"").replace(/%[^\]]*$/,"")}function listenedElsewhere(listeners,port){const shown=listeners.slice(0,3).map(l=>l.address),more=listeners.length>shown.length?` and ${listeners.length-shown.length} more`:"";return{cause:`${portSentence(port)} but listened on ${shown.join(", ")}${more} instead`,fix:LISTEN_FIX}}function answeredBadly(listeners,port){return{cause:`it listens on ${listeners.find(l=>l.port===port)?.address??port}, but its answer did not pass the health check (the check's own words are below)`,fix:"make healthCheck.path answer with a 2xx or 3xx status within healthCheck.timeout (a slow start needs a longer timeout), or point healthCheck.path at a route that does"}}function listenedNowhere(messages,port){const exits=messages.filter(m=>m.source==="systemd"&&/Main process exited/.test(m.text)),status=/code=\w+, status=(\S+)/.exec(exits.at(-1)?.text??"")?.[1];if(status===void 0)return{cause:`${portSentence(port)} but listened on no port`,fix:`${LISTEN_FIX}, within healthCheck.timeout`};const times=exits.length>1?` ${exits.length} times`:"";return{cause:`${portSentence(port)} but listened on no port: it exited${times} (last status ${status.replace(/\.$/,"")})`,fix:`fix what makes it exit (its journal below says why), and ${LISTEN_FIX}`}}const NOT_FOUND=[/^(?:\S*\/)?(?:ba|da)?sh: (?:line )?(?:\d+: )?(?:exec: )?([^\s:]+): (?:command )?not found$/,/^(?:\S*\/)?(?:ba)?sh: (?:line )?(?:\d+: )?(?:exec: )?([^\s:]+): No such file or directory$/,/^(?:\S*\/)?env: ['‘"]?([^\s'’"]+)['’"]?: No such file or directory$/,/exec: "([^"]+)": executable file not found/,/\bspawn (\S+) ENOENT\b/,/^bundler: command not found: (\S+)/,/^([^\s:]+): not found$/],BUILD_OPTION='the "build" option (run where toss runs; what it leaves is uploaded) or "deployScript" (run on the server in the release)';function missingProgram(messages){const program=newest(messages,text=>firstMatch(text,NOT_FOUND)?.[1]);if(program===void 0)return;const dependency=`add it to toss.json's "dependencies", like {"${program.replace(/^.*\//,"")}": "<the command that installs it>"} (run as root on the server by toss init and production deploys)`;return program.includes("/")?{cause:`\`${program}\` is not in the release: the start command could not run it`,fix:`if your build makes it, make it with ${BUILD_OPTION}; if it is a program to install on the server, ${dependency}`}:{cause:`\`${program}\` is not installed on the server: the start command could not run it`,fix:`install it on the server: ${dependency}; if your build makes it instead, make it with ${BUILD_OPTION}`}}function notExecutable(messages){const shell=/^(?:\S*\/)?(?:ba|da)?sh: (?:line )?(?:\d+: )?(?:exec: )?([^\s:]+): Permission denied$/,file=newest(messages,text=>shell.exec(text)?.[1]);if(file!==void 0)return{cause:`\`${file}\` is not executable: the start command could not run it`,fix:`make it executable in git (\`git update-index --chmod=+x ${file}\`, then commit) or run it through its interpreter in startCommand, like \`sh ${file}\``}}const BIND_FAILURES=[/\blisten E[A-Z]+: [^0-9[:]*(?<address>\S+:[0-9]+)/,/\blisten tcp[46]? (?<address>\S*:[0-9]+): bind: /,/ - bind\(2\) for "(?<host>[^"]*)" port (?<port>[0-9]+)/,/(?:bind on address|Can't connect to|Connection in use:) \('(?<host>[^']*)', (?<port>[0-9]+)\)/,/\[Errno (?:98|13|1)\] (?:Address already in use|Permission denied|Operation not permitted)$/];function bindFailure(text){const m=firstMatch(text,BIND_FAILURES);if(m===void 0)return;const{address,host,port}=m.groups??{};return{address:address??(port===void 0?"":`${host??""}:${port}`),inUse:/in use|EADDRINUSE|Errno 98/i.test(text)}}function bindFailed(messages,port){const failure=newest(messages,bindFailure);if(failure===void 0)return;const where=failure.address===""?"a port of its own":failure.address,why=failure.inUse?"which another process holds":"which the server does not allow: an app may listen only on its own ports";return{cause:`${portSentence(port)} but tried to listen on ${where}, ${why}`,fix:LISTEN_FIX}}const WRITE_ERRORS_WITH_PATH=[/\b(?:EROFS|EACCES|EPERM): (?<said>[a-z -]+), \w+ '(?<path>[^']+)'/,/\[Errno (?:30|13|1)\] (?<said>[A-Za-z -]+): '(?<path>[^']+)'/,/\b(?<said>Read-only file system|Permission denied) @ \w+ - (?<path>\S+)/,/(?:^|[\s'‘"(])(?<path>\/[^\s'’"():]*)['’"]?(?:: | \()(?<said>read-only file system|permission denied)/i,/\bENOENT: (?<said>no such file or directory), mkdir '(?<path>[^']+)'/],WRITE_ERRORS=[[/\bEROFS\b|\[Errno 30\]|read-only file system|readonly database/i,"read-only file system"],[/\bEACCES\b|\[Errno 13\]/,"permission denied"]];function writeErrorWithPath(text){const groups=firstMatch(text,WRITE_ERRORS_WITH_PATH)?.groups;return groups&&{path:groups.path,reason:(groups.said??"").toLowerCase()}}function writeErrorWithoutPath(text){for(const[pattern,reason]of WRITE_ERRORS)if(pattern.test(text))return{path:void 0,reason}}function notWritable(messages,readOnly){const error=newest(messages,writeErrorWithPath)??newest(messages,writeErrorWithoutPath);if(error===void 0)return;const where=error.path===void 0?"":` instead of ${error.path}`,writable=readOnly?'toss.json sets "readOnly": true, so the release is read-only too and the app may write only there, in $TOSS_CACHE_DIR and in /tmp; remove "readOnly" to let it write in its release (what it writes there goes with the release)':"apart from those, the app may write only in its release directory (what it writes there goes with the release), in $TOSS_CACHE_DIR and in /tmp";return{cause:`it could not write ${error.path??"a file"}: ${error.reason}`,fix:`keep data that must outlive the release in a directory listed in toss.json's "persistentDirs" (like "persistentDirs": ["data"], then data/ in its working directory)${where}; ${writable}`}}const JOURNAL_TAIL=30,JOURNAL_READ=100;function answersAsInstanceArgv(unit,port,path,timeoutSec){const check=(0,health.XA)({port,path,timeoutSec});return["sh","-c",`${(0,quote.nZ)(check)} && ${(0,quote.nZ)((0,port_owner.fT)("owned",port,unit))}`]}async function checkInstanceHealth(session,params){const{app,environment,port,healthCheck}=params,paths=(0,server_paths.cD)(app,environment),unit=paths.instanceUnit(port),check=(0,health.XA)({port,path:healthCheck?.path,timeoutSec:healthCheck?.timeout??30}),listeners=(0,port_owner.W9)(unit),pointedAt=["stat","-c","pointed %Y","--",paths.slotLink(port)],owner=(0,port_owner.fT)("owned",port,unit),result=await session.root(["sh","-c",`${(0,quote.nZ)(check)} || { ${(0,quote.nZ)(listeners)} >&2; ${(0,quote.nZ)(pointedAt)} >&2 2>/dev/null; exit 1; }
${(0,quote.nZ)(owner)}`],{allowFailure:!0});if(result.code===0)return;if(result.code===port_owner.NL||result.code===port_owner.vq)throw portError(app,environment,port,result.code,result.stderr);const journal=await session.root((0,systemctl.A0)({paths,port,lines:JOURNAL_READ}),{allowFailure:!0}),pointed=/^pointed ([0-9]+)$/m.exec(result.stderr)?.[1],said=result.stderr.split(`
`).filter(line=>!/^(?:listener|pointed) /.test(line)).join(`
`);return{unit,port,check:said.trim(),journal:journalSince(journal.stdout,pointed===void 0?void 0:Number(pointed)),listeners:(0,port_owner.jk)(result.stderr)}}const JOURNAL_TIME=/^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:[.,]\d+)?(?:Z|([+-]\d\d):?(\d\d))\s/,WORKER_SETTLE_SECONDS=3;async function checkWorkerRunning(session,params){const{app,environment,port}=params,paths=(0,server_paths.cD)(app,environment),unit=paths.instanceUnit(port);await session.root(["sleep",String(WORKER_SETTLE_SECONDS)]);const shown=await session.root(["systemctl","show","--property=ActiveState,SubState,NRestarts","--",unit],{allowFailure:!0}),field=name=>new RegExp(`^${name}=(.*)$`,"m").exec(shown.stdout)?.[1],state=field("ActiveState"),restarts=field("NRestarts")??"0";if(state==="active"&&restarts==="0")return;const journal=await session.root((0,systemctl.A0)({paths,port,lines:JOURNAL_READ}),{allowFailure:!0});return{unit,port,check:`toss: the worker did not keep running for ${WORKER_SETTLE_SECONDS} s (${state??"unknown"}/${field("SubState")??"?"}, restarted ${restarts} times)`,journal:journalSince(journal.stdout,void 0),listeners:[]}}function journalSince(journal,since){const lines=journal.trim().split(`
`);if(since===void 0)return lines.join(`
`);let keep=!0;return lines.filter(line=>{const m=JOURNAL_TIME.exec(line);if(m){const offset=m[2]===void 0?"Z":`${m[2]}:${m[3]}`;keep=!(Date.parse(`${m[1]}${offset}`)<since*1e3)}return keep}).join(`
`)}function explainHealthFailure(failure,options){const{cause,fix}=diagnoseHealthFailure({journal:failure.journal,listeners:failure.listeners,port:failure.port,readOnly:options.readOnly});return{details:[`${cause}.`,failure.check,`--- last ${JOURNAL_TAIL} lines of ${failure.unit} ---`,failure.journal.split(`
`).slice(-JOURNAL_TAIL).join(`
`)].filter(line=>line!=="").join(`
`),fix}}async function withPortGuard(target,run){try{return await run()}catch(error){throw error instanceof errors.at&&error.exitCode===port_owner.NL?portError(target.app,target.environment,target.port,port_owner.NL,error.outputTail):error}}function portError(app,environment,port,code,stderr){const unit=(0,server_paths.cD)(app,environment).instanceUnit(port),squatters=(0,port_owner.zj)(stderr).map(port_owner.gx);return code===port_owner.vq||squatters.length===0?new errors.m(`port ${port} answered the health check, but ${unit} was not listening on it any more; the new release never received traffic`,{hint:`check \`journalctl -u ${unit}\` on the server, then deploy again`}):new errors.m(`port ${port}, which toss gave ${app}/${environment}, is taken by ${squatters.join("; ")}; the new release did not get it and never received traffic; what was live keeps serving`,{hint:`nothing but toss's ${unit} may listen on it: stop that process on the server (as root), find out how it got there, then deploy again`})}async function serverAddress(host){if((0,external_node_net_.isIP)(host))return host;try{return(await(0,promises_.lookup)(host)).address}catch{return}}}),8706:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{NL:()=>PORT_TAKEN_EXIT,W9:()=>unitListenersArgv,fT:()=>portGuardArgv,gx:()=>describeListener,jk:()=>parseUnitListeners,vq:()=>PORT_NOT_OURS_EXIT,zE:()=>parseForeignListenersByPort,zj:()=>parseForeignListeners});var _errors_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(3916),_exit_codes_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(7880),_paths_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(1819);const PORT_TAKEN_EXIT=_exit_codes_js__WEBPACK_IMPORTED_MODULE_1__.d.portTaken,PORT_NOT_OURS_EXIT=_exit_codes_js__WEBPACK_IMPORTED_MODULE_1__.d.portNotOurs,PROCESS_AWK=`
function pids_in(line, found,  n) {
  n = 0
  while (match(line, /pid=[0-9]+/)) {
    found[++n] = substr(line, RSTART + 4, RLENGTH - 4)
    line = substr(line, RSTART + RLENGTH)
  }
  return n
}
function in_unit(pid,  f, l, c, read, mine) {
  f = "/proc/" pid "/cgroup"
  read = 0; mine = 0; cgroup_path = ""
  while ((getline l < f) > 0) {
    read = 1
    c = l
    sub(/^[^:]*:[^:]*:/, "", c)
    if (substr(c, length(c) - length(unit)) == "/" unit || index(c, "/" unit "/")) mine = 1
    if (cgroup_path == "" && (l ~ /^0::/ || l ~ /^[0-9]+:name=systemd:/)) cgroup_path = c
  }
  close(f)
  return read ? mine : -1
}
function comm_of(pid,  f, c) {
  f = "/proc/" pid "/comm"
  c = ""
  getline c < f
  close(f)
  c = substr(c, 1, 32)
  gsub(/[^A-Za-z0-9._+-]/, "?", c)
  return c
}`,OWNERS=`${PROCESS_AWK}
function report(pid, path,  f, l, uid, name) {
  f = "/proc/" pid "/status"
  while ((getline l < f) > 0) if (l ~ /^Uid:/) { split(l, id, /[ \\t]+/); uid = id[3] }
  close(f)
  name = uid == "" ? "?" : uid
  while (uid != "" && (getline l < "/etc/passwd") > 0) {
    split(l, pw, ":")
    if (pw[3] == uid) { name = pw[1]; break }
  }
  close("/etc/passwd")
  sub(/.*\\//, "", path)
  printf "foreign %s\\t%s\\t%s\\t%s\\n", pid, name, path, comm_of(pid) > "/dev/stderr"
}
NF == 0 { next }
{
  sockets++
  if (index($0, "pid=")) owned++
  for (i = pids_in($0, found); i > 0; i--) {
    if (!(found[i] in seen)) { seen[found[i]] = 1; pids[++n] = found[i] }
  }
}
END {
  if (sockets > owned) { print "foreign -\\t-\\t-\\t-" > "/dev/stderr"; foreign++ }
  for (i = 1; i <= n; i++) {
    mine = in_unit(pids[i])
    if (mine < 0) continue
    if (mine) { ours++; continue }
    report(pids[i], cgroup_path)
    foreign++
  }
  if (foreign > 0) exit taken
  if (mode != "free" && ours == 0) exit notours
  exit 0
}`,GUARD=`set -uf
mode=$1 port=$2 unit=$3
listeners=$(ss -Htlnp "sport = :$port") || exit 1
printf '%s\\n' "$listeners" | awk -v mode="$mode" -v unit="$unit" \\
  -v taken=${PORT_TAKEN_EXIT} -v notours=${PORT_NOT_OURS_EXIT} '${OWNERS}'`;function portGuardArgv(mode,port,unit){if(!/^[A-Za-z0-9@._-]+\.service$/.test(unit))throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`invalid unit name ${JSON.stringify(unit)}`);return["sh","-c",GUARD,"sh",mode,String((0,_paths_js__WEBPACK_IMPORTED_MODULE_2__.CG)(port)),unit]}function parseForeignListeners(stdout){const found=[];for(const line of stdout.split(`
`)){const m=/^foreign (\S+)\t([^\t]*)\t([^\t]*)\t(.*)$/.exec(line);if(!m)continue;const[,pid="-",user="",unit="",command=""]=m;found.push({pid:/^[0-9]+$/.test(pid)?Number(pid):void 0,user:user==="-"?"":user,unit:unit==="-"?"":unit,command:command==="-"?"":command})}return found}function describeListener(listener){if(listener.pid===void 0)return"a socket whose process could not be found";const parts=[`pid ${listener.pid}`];return listener.command&&parts.push(`(${listener.command})`),listener.user&&parts.push(`of user ${listener.user}`),listener.unit&&parts.push(`in ${listener.unit}`),parts.join(" ")}const LISTENERS=null;function foreignListenersArgv(checks){const args=checks.flatMap(({port,unit})=>[String(port),unit]);for(const{port,unit}of checks)portGuardArgv("free",port,unit);return["sh","-c",LISTENERS,"sh",GUARD,...args]}function parseForeignListenersByPort(stdout){const byPort=new Map;for(const line of stdout.split(`
`)){const m=/^foreign ([0-9]+) (.*)$/.exec(line);if(!m)continue;const[listener]=parseForeignListeners(`foreign ${m[2]}`);if(listener===void 0)continue;const port=Number(m[1]);byPort.set(port,[...byPort.get(port)??[],listener])}return byPort}const UNIT_LISTENERS=`set -uf
unit=$1
ss -Htlnp | awk -v unit="$unit" '${PROCESS_AWK}
{
  split("", seen)
  for (i = pids_in($0, found); i > 0; i--) {
    pid = found[i]
    if (pid in seen) continue
    seen[pid] = 1
    if (in_unit(pid) == 1) printf "listener %s\\t%s\\t%s\\n", $4, pid, comm_of(pid)
  }
}'
exit 0`;function unitListenersArgv(unit){if(!/^[A-Za-z0-9@._-]+\.service$/.test(unit))throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`invalid unit name ${JSON.stringify(unit)}`);return["sh","-c",UNIT_LISTENERS,"sh",unit]}function parseUnitListeners(output){const found=new Map;for(const line of output.split(`
`)){const m=/^listener (\S*:([0-9]+))\t([0-9]+)\t(.*)$/.exec(line);if(!m)continue;const[,address="",port="",pid="",command=""]=m;found.has(address)||found.set(address,{address,port:Number(port),pid:Number(pid),command})}return[...found.values()]}})};export{id,ids,modules};
