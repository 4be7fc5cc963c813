const id=310,ids=[310],modules={799:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{IZ:()=>acquireLock,Z:()=>withLockedSession,uV:()=>isPidAlive});var node_os__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(8161),node_os__WEBPACK_IMPORTED_MODULE_0___default=__webpack_require__.n(node_os__WEBPACK_IMPORTED_MODULE_0__),node_timers_promises__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(8500),node_timers_promises__WEBPACK_IMPORTED_MODULE_1___default=__webpack_require__.n(node_timers_promises__WEBPACK_IMPORTED_MODULE_1__),_config_env_name_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(1613),_server_lock_js__WEBPACK_IMPORTED_MODULE_3__=__webpack_require__(5040),_server_paths_js__WEBPACK_IMPORTED_MODULE_4__=__webpack_require__(1819),_server_policy_js__WEBPACK_IMPORTED_MODULE_5__=__webpack_require__(2145),_server_state_js__WEBPACK_IMPORTED_MODULE_6__=__webpack_require__(8058),_server_systemctl_js__WEBPACK_IMPORTED_MODULE_7__=__webpack_require__(4453),_machine_id_js__WEBPACK_IMPORTED_MODULE_8__=__webpack_require__(1609),_session_js__WEBPACK_IMPORTED_MODULE_9__=__webpack_require__(7055),_step_js__WEBPACK_IMPORTED_MODULE_10__=__webpack_require__(5818);const POLL_MS=2e3,PREVIEW_HOLD_SECONDS=_server_policy_js__WEBPACK_IMPORTED_MODULE_5__.M_+30;function isPidAlive(pid){try{return process.kill(pid,0),!0}catch(error){return error.code==="EPERM"}}async function acquireLock(session,request,sink){const token=request.token??(0,_server_lock_js__WEBPACK_IMPORTED_MODULE_3__.$I)(),started=Date.now();let announced=!1;for(;;){const{outcome,state}=await tryTake(session,request,token);if(outcome.kind==="wait"){await waitTurn(request,outcome.lock,started,!announced,sink),announced=!0;continue}return outcome.kind==="broke"&&(sink({type:"warning",message:outcome.reason}),await session.root((0,_server_systemctl_js__WEBPACK_IMPORTED_MODULE_7__.IA)((0,_server_paths_js__WEBPACK_IMPORTED_MODULE_4__.cD)(session.app,outcome.lock.environment)),{allowFailure:!0})),holdLock(session,request,token,state,sink)}}async function waitTurn(request,holder,started,announce,sink){const limit=waitLimit(request,holder),waited=(Date.now()-started)/1e3;if(waited>=limit)throw(0,_server_lock_js__WEBPACK_IMPORTED_MODULE_3__.S4)(holder,new Date,limit>0?Math.floor(waited):0);announce&&sink({type:"notice",message:`waiting up to ${limit} s for the lock: ${describe(holder)}`}),await(0,node_timers_promises__WEBPACK_IMPORTED_MODULE_1__.setTimeout)(Math.min(POLL_MS,(limit-waited)*1e3+50))}async function tryTake(session,request,token){let outcome={kind:"held"};const state=await session.updateState(current=>{const existing=current??(0,_server_state_js__WEBPACK_IMPORTED_MODULE_6__.p$)(session.app,request.origin);request.verify?.(existing);const known=existing.origin===void 0&&request.origin!==void 0?{...existing,origin:request.origin}:existing,now=new Date,machine=(0,_machine_id_js__WEBPACK_IMPORTED_MODULE_8__.x)(),decision=(0,_server_lock_js__WEBPACK_IMPORTED_MODULE_3__.JR)(known.lock,{token,environment:request.environment,machine,now,isPidAlive});return decision==="re-enter"?(outcome={kind:"held"},(0,_server_state_js__WEBPACK_IMPORTED_MODULE_6__._q)(known,(0,_server_lock_js__WEBPACK_IMPORTED_MODULE_3__.jQ)(known.lock,now))):typeof decision=="object"&&"wait"in decision?(outcome={kind:"wait",lock:known.lock},known):(outcome=decision==="take"?{kind:"held"}:{kind:"broke",lock:known.lock,reason:decision.break},(0,_server_state_js__WEBPACK_IMPORTED_MODULE_6__._q)(known,newLock(request,token,machine,now)))});return{outcome,state}}function newLock(request,token,machine,now){return(0,_server_lock_js__WEBPACK_IMPORTED_MODULE_3__.cs)({environment:request.environment,token,host:(0,node_os__WEBPACK_IMPORTED_MODULE_0__.hostname)(),machine,pid:process.pid,by:request.actor.by,runUrl:request.actor.runUrl,preemptible:request.preemptible,now})}function waitLimit(request,holder){return(0,_config_env_name_js__WEBPACK_IMPORTED_MODULE_2__.isProduction)(request.environment)&&!(0,_config_env_name_js__WEBPACK_IMPORTED_MODULE_2__.isProduction)(holder.environment)?Math.max(request.lockWaitSeconds,PREVIEW_HOLD_SECONDS):request.lockWaitSeconds}function holdLock(session,request,token,held,sink){session.holdLock(token),request.onLockAcquired?.(token);const beat=startHeartbeat(session,sink);let released=!1;const done=()=>{released=!0,session.dropLock(),request.onLockReleased?.(token)};return{token,state:held,async finish(last){beat.stop();const final=await session.updateStateAsHolder(state=>(0,_server_state_js__WEBPACK_IMPORTED_MODULE_6__.Nq)(last(state)));return done(),final},async release(last){if(!released){beat.stop();try{await session.updateState(state=>state!==void 0&&(0,_server_lock_js__WEBPACK_IMPORTED_MODULE_3__.ew)(state.lock,token)?(0,_server_state_js__WEBPACK_IMPORTED_MODULE_6__.Nq)(last?last(state):state):state),released=!0,request.onLockReleased?.(token)}catch(error){sink({type:"warning",message:`could not release the lock: ${error.message} (run \`toss lock release\`)`})}session.dropLock()}}}}function describe(lock){return`${lock.by} on ${lock.host}, deploying ${lock.environment}${lock.runUrl?`, run ${lock.runUrl}`:""}`}function startHeartbeat(session,sink){let stopped=!1;const timer=setInterval(()=>{stopped||session.updateStateAsHolder(state=>(0,_server_state_js__WEBPACK_IMPORTED_MODULE_6__._q)(state,(0,_server_lock_js__WEBPACK_IMPORTED_MODULE_3__.jQ)(state.lock,new Date))).catch(error=>{stopped||(stopped=!0,clearInterval(timer),sink({type:"warning",message:`lock heartbeat failed: ${error.message}`}))})},_server_lock_js__WEBPACK_IMPORTED_MODULE_3__.sU);return timer.unref(),{stop(){stopped=!0,clearInterval(timer)}}}function lockForRequest(session,request,sink,checks={}){return(0,_step_js__WEBPACK_IMPORTED_MODULE_10__.PM)(sink,"lock",()=>acquireLock(session,{environment:request.environment,actor:request.actor,lockWaitSeconds:request.lockWaitSeconds,token:request.lockToken,onLockAcquired:request.onLockAcquired,...checks},sink),()=>checks.verify?"origin verified":void 0)}async function withLockedSession(request,sink,run,work){const{login,config}=request,server=await(0,_step_js__WEBPACK_IMPORTED_MODULE_10__.PM)(sink,"connect",()=>(0,_session_js__WEBPACK_IMPORTED_MODULE_9__.C)(request,config.app),()=>`${login.user}@${login.host}`);try{const early=await run.before?.(server);if(early!==void 0)return early;const alongside=run.alongside?.start(server),lock=await(async()=>{if(run.order){const prefetched=server.readState().catch(()=>{});await run.order.beforeLock(),await prefetched}const held=await lockForRequest(server,request,sink,run.checks);return run.order?.locked(),held})().catch(async error=>{throw run.alongside&&await run.alongside.abandon(server,alongside),error});try{return await work(server,lock,alongside)}catch(error){throw run.alongside&&await run.alongside.abandon(server,alongside),run.explain?await run.explain(server,lock,error):error}finally{await run.order?.releaseAfter().catch(()=>{}),await lock.release()}}finally{await server.close()}}}),7309:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{TN:()=>streamAsRoot,Xc:()=>unitFailure,aR:()=>applyDependencies,iY:()=>runUnit});var _errors_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(3916),_server_state_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(8058),_server_systemd_run_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(9128),_step_js__WEBPACK_IMPORTED_MODULE_3__=__webpack_require__(5818);const TAIL_LINES=40,STDERR_CHARS=4e3;async function streamAsRoot(session,stepName,argv,sink,options){const tail=[],out=(0,_step_js__WEBPACK_IMPORTED_MODULE_3__.s1)(line=>{sink({type:"output",step:stepName,line}),tail.push(line),tail.length>TAIL_LINES&&tail.shift()});let stderr="";const onStdout=chunk=>out.push(chunk),onStderr=chunk=>{stderr=(stderr+chunk.toString()).slice(-STDERR_CHARS),out.push(chunk)},result=options.guarded?await session.guardedStart(argv,{onStdout,onStderr}):await session.root(argv,{onStdout,onStderr,allowFailure:!0});return out.flush(),{code:result.code,tail,stderr}}async function unitFailure(session,label,run,timeoutSec){const failure=(0,_server_systemd_run_js__WEBPACK_IMPORTED_MODULE_2__.jl)(label,run.code,run.stderr,timeoutSec);failure.timedOut||await assertSystemdUsable(session);const{tail}=run;return new _errors_js__WEBPACK_IMPORTED_MODULE_0__.at(label,run.code,tail.join(`
`),{message:`${failure.message}; nothing live was touched${tail.length?`:
${tail.join(`
`)}`:""}`,hint:failure.timedOut?"make the build faster, or raise resources.buildTimeout (resources.previews.buildTimeout for previews) in toss.json and deploy production":"fix the command in toss.json deployScript (or the code it builds), then deploy again"})}async function runUnit(session,stepName,argv,sink,label,timeoutSec){const run=await streamAsRoot(session,stepName,argv,sink,{guarded:!0});if(run.code!==0)throw await unitFailure(session,label,run,timeoutSec)}const SYSTEMD_STATES=new Set(["running","degraded","starting","initializing","maintenance"]);async function assertSystemdUsable(session){const check=await session.root(["systemctl","is-system-running"],{allowFailure:!0}),state=check.stdout.trim();if(SYSTEMD_STATES.has(state))return;const said=state||check.stderr.trim().split(`
`)[0]||`exit ${check.code??"signal"}`;throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`systemd is not usable on the server (\`systemctl is-system-running\`: ${said}); toss runs deployScript and the app as systemd units; nothing live was touched`,{hint:"deploy to a server that boots with systemd (Debian and Ubuntu do), or repair it"})}async function applyDependencies(session,pending,dependencies,sink,failure){let state;for(const name of pending){const command=dependencies[name],argv=(0,_server_systemd_run_js__WEBPACK_IMPORTED_MODULE_2__.b6)({app:session.app,command}),run=await streamAsRoot(session,"dependencies",argv,sink,{guarded:!0});if(run.code!==0)throw await failure({name,command},run);state=await session.updateStateAsHolder(s=>(0,_server_state_js__WEBPACK_IMPORTED_MODULE_1__.J6)(s,name,command,new Date().toISOString()))}return state}}),1609:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{x:()=>machineId});var node_crypto__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(7598),node_crypto__WEBPACK_IMPORTED_MODULE_0___default=__webpack_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_0__),node_fs__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(3024),node_fs__WEBPACK_IMPORTED_MODULE_1___default=__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_1__),node_os__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(8161),node_os__WEBPACK_IMPORTED_MODULE_2___default=__webpack_require__.n(node_os__WEBPACK_IMPORTED_MODULE_2__),node_path__WEBPACK_IMPORTED_MODULE_3__=__webpack_require__(6760),node_path__WEBPACK_IMPORTED_MODULE_3___default=__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_3__),_server_lock_js__WEBPACK_IMPORTED_MODULE_4__=__webpack_require__(5040);const MACHINE_ID_FILES=["/etc/machine-id","/var/lib/dbus/machine-id"],ID=/^[0-9a-f]{32}$/;let cached;function machineId(){return cached??=(0,_server_lock_js__WEBPACK_IMPORTED_MODULE_4__.aE)({machineId:systemMachineId()??configMachineId(),bootId:readTrimmed("/proc/sys/kernel/random/boot_id"),pidNamespace:readLink("/proc/self/ns/pid")}),cached}function systemMachineId(){for(const file of MACHINE_ID_FILES){const id2=readTrimmed(file);if(id2!==void 0&&ID.test(id2))return id2}}function configMachineId(){const base=process.env.XDG_CONFIG_HOME||(0,node_path__WEBPACK_IMPORTED_MODULE_3__.join)((0,node_os__WEBPACK_IMPORTED_MODULE_2__.homedir)(),".config"),file=(0,node_path__WEBPACK_IMPORTED_MODULE_3__.join)(base,"toss","machine-id"),kept=readTrimmed(file);if(kept!==void 0&&ID.test(kept))return kept;const fresh=(0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.randomBytes)(16).toString("hex");try{return(0,node_fs__WEBPACK_IMPORTED_MODULE_1__.mkdirSync)((0,node_path__WEBPACK_IMPORTED_MODULE_3__.join)(base,"toss"),{recursive:!0,mode:448}),(0,node_fs__WEBPACK_IMPORTED_MODULE_1__.writeFileSync)(file,`${fresh}
`,{mode:384,flag:"wx"}),fresh}catch{const other=readTrimmed(file);return other!==void 0&&ID.test(other)?other:fresh}}function readTrimmed(file){try{return(0,node_fs__WEBPACK_IMPORTED_MODULE_1__.readFileSync)(file,"utf8").trim()}catch{return}}function readLink(file){try{return(0,node_fs__WEBPACK_IMPORTED_MODULE_1__.readlinkSync)(file)}catch{return}}}),5818:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{B3:()=>stepSince,PM:()=>step,s1:()=>lineSplitter,zg:()=>StepError});class StepError extends Error{step;cause;name="StepError";constructor(step2,cause){super(cause instanceof Error?cause.message:String(cause)),this.step=step2,this.cause=cause}}function step(sink,name,body,detail){return stepSince(performance.now(),sink,name,body,detail)}async function stepSince(started,sink,name,body,detail){sink({type:"step-start",step:name});try{const result=await body(),text=detail?.(result);return sink({type:"step-done",step:name,ms:performance.now()-started,...text?{detail:text}:{}}),result}catch(error){throw sink({type:"step-fail",step:name,ms:performance.now()-started,error}),error instanceof StepError?error:new StepError(name,error)}}function lineSplitter(emit){let buffer="";const decoder=new TextDecoder;return{push(chunk){buffer+=decoder.decode(chunk,{stream:!0});let newline=buffer.indexOf(`
`);for(;newline!==-1;)emit(buffer.slice(0,newline).replace(/\r$/,"")),buffer=buffer.slice(newline+1),newline=buffer.indexOf(`
`)},flush(){buffer+=decoder.decode(),buffer&&emit(buffer),buffer=""}}}}),8026:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.r(__webpack_exports__),__webpack_require__.d(__webpack_exports__,{EMPTY_TEMPLATE:()=>EMPTY_TEMPLATE,PG_SOCKET_DIR:()=>PG_SOCKET_DIR,SEALED_PREFIX:()=>SEALED_PREFIX,TEMPLATES_KEPT:()=>TEMPLATES_KEPT,appDatabasePrefix:()=>appDatabasePrefix,cloneDatabaseRun:()=>cloneDatabaseRun,databaseName:()=>databaseName,databaseRole:()=>databaseRole,databaseVariables:()=>databaseVariables,dropDatabaseByNameRun:()=>dropDatabaseByNameRun,dropDatabaseRun:()=>dropDatabaseRun,ensureDatabaseRun:()=>ensureDatabaseRun,isTemplateName:()=>isTemplateName,listDatabasesRun:()=>listDatabasesRun,parseDatabaseList:()=>parseDatabaseList,prepareTemplateRun:()=>prepareTemplateRun,sealTemplateRun:()=>sealTemplateRun,sealedComment:()=>sealedComment,seedCommand:()=>seedCommand,seedHash:()=>seedHash,templateName:()=>templateName});var node_crypto__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(7598),node_crypto__WEBPACK_IMPORTED_MODULE_0___default=__webpack_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_0__),_errors_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(3916),_remote_quote_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(4414),_paths_js__WEBPACK_IMPORTED_MODULE_3__=__webpack_require__(1819),_users_js__WEBPACK_IMPORTED_MODULE_4__=__webpack_require__(5407);const PG_SOCKET_DIR="/var/run/postgresql",PG_NAME_MAX=63,HASH_LENGTH=8,TEMPLATES_KEPT=3;function databaseName(app,environment){const p=(0,_paths_js__WEBPACK_IMPORTED_MODULE_3__.cD)((0,_paths_js__WEBPACK_IMPORTED_MODULE_3__.HH)(app),environment),name=`toss_${p.app}_${p.environment}`;if(name.length<=PG_NAME_MAX)return name;const hash=(0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createHash)("sha256").update(name,"utf8").digest("hex").slice(0,HASH_LENGTH);return`${name.slice(0,PG_NAME_MAX-HASH_LENGTH-1)}_${hash}`}function appDatabasePrefix(app){return`toss_${(0,_paths_js__WEBPACK_IMPORTED_MODULE_3__.HH)(app)}_`}function templateName(app,seedHash2){if(!/^[0-9a-f]{64}$/.test(seedHash2))throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__.m("invalid seed hash");const stem=`toss_${(0,_paths_js__WEBPACK_IMPORTED_MODULE_3__.HH)(app)}__seed_`;return`${stem}${seedHash2.slice(0,PG_NAME_MAX-stem.length)}`}const EMPTY_TEMPLATE="template0";function databaseRole(app,environment){return(0,_users_js__WEBPACK_IMPORTED_MODULE_4__.f)(app,environment)}function databaseVariables(app,environment){const db=databaseName(app,environment),role=databaseRole(app,environment);return new Map([["DATABASE_URL",`postgresql://${role}@localhost/${db}?host=${PG_SOCKET_DIR}`],["PGHOST",PG_SOCKET_DIR],["PGDATABASE",db],["PGUSER",role]])}function psqlArgv(variables){const argv=["runuser","-u","postgres","--","psql","-X","-q","-At"];argv.push("-v","ON_ERROR_STOP=1","-d","postgres");for(const[key,value]of Object.entries(variables)){if(!/^[a-z_]+$/.test(key)||/[\0\n]/.test(value))throw new TypeError("bad psql variable");argv.push("-v",`${key}=${value}`)}return[...argv,"-f","-"]}const ENSURE_ROLE=`SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \\gexec
`,CLOSE_TO_OTHERS=`SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \\gexec
`;function listDatabasesRun(app){return{argv:psqlArgv({prefix:appDatabasePrefix(app)}),stdin:`SELECT datname || '	' || coalesce(shobj_description(oid, 'pg_database'), '')
FROM pg_database WHERE starts_with(datname, :'prefix') ORDER BY oid;
`}}function parseDatabaseList(stdout){return stdout.split(`
`).filter(line=>line!=="").map(line=>{const tab=line.indexOf("	");return tab===-1?{name:line,comment:""}:{name:line.slice(0,tab),comment:line.slice(tab+1)}})}function ensureDatabaseRun(app,environment){const db=databaseName(app,environment),role=databaseRole(app,environment);return{argv:psqlArgv({role,db}),stdin:`${ENSURE_ROLE}SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0', :'db', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \\gexec
${CLOSE_TO_OTHERS}`}}function prepareTemplateRun(app,template){const role=databaseRole(app,"pr-1");return{argv:psqlArgv({role,tpl:template}),stdin:`${ENSURE_ROLE}SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'tpl') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0', :'tpl', :'role') \\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'tpl') \\gexec
`}}function sealTemplateRun(app,template,seedHash2){const older=`FROM pg_database WHERE starts_with(datname, :'prefix') AND oid NOT IN
  (SELECT oid FROM pg_database WHERE starts_with(datname, :'prefix') ORDER BY oid DESC LIMIT ${TEMPLATES_KEPT})`;return{argv:psqlArgv({tpl:template,note:sealedComment(seedHash2),prefix:templatePrefix(app)}),stdin:`SELECT format('ALTER DATABASE %I OWNER TO postgres', :'tpl') \\gexec
SELECT format('ALTER DATABASE %I WITH IS_TEMPLATE true ALLOW_CONNECTIONS false', :'tpl') \\gexec
SELECT format('COMMENT ON DATABASE %I IS %L', :'tpl', :'note') \\gexec
SELECT format('ALTER DATABASE %I IS_TEMPLATE false', datname) ${older} \\gexec
SELECT format('DROP DATABASE %I WITH (FORCE)', datname) ${older} \\gexec
`}}function sealedComment(seedHash2){return`${SEALED_PREFIX}${seedHash2}`}const SEALED_PREFIX="toss seed sha256:";function templatePrefix(app){return`toss_${(0,_paths_js__WEBPACK_IMPORTED_MODULE_3__.HH)(app)}__seed_`}function isTemplateName(app,name){return name.startsWith(templatePrefix(app))}function cloneDatabaseRun(app,environment,template,options={}){const db=databaseName(app,environment),role=databaseRole(app,environment),drop=options.replace?`SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \\gexec
`:"";return{argv:psqlArgv({role,db,tpl:template,note:`toss copy of ${template}`}),stdin:`${ENSURE_ROLE}${drop}SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE %I STRATEGY FILE_COPY', :'db', :'role', :'tpl')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \\gexec
SELECT format('COMMENT ON DATABASE %I IS %L', :'db', :'note') \\gexec
${CLOSE_TO_OTHERS}`}}function dropDatabaseRun(app,environment){return dropDatabaseByNameRun(databaseName(app,environment))}function dropDatabaseByNameRun(name){if(!/^toss_[a-z0-9_-]+$/.test(name))throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__.m(`not a toss database: ${name}`);return{argv:psqlArgv({db:name}),stdin:`SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \\gexec
`}}function seedHash(content){return(0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createHash)("sha256").update(content).digest("hex")}function seedCommand(template,seedPath){return(0,_remote_quote_js__WEBPACK_IMPORTED_MODULE_2__.n)(["psql","-X","-q","-v","ON_ERROR_STOP=1","-d",template,"-f",seedPath])}}),9735:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{LX:()=>routedPort,dX:()=>drainUnit,mk:()=>installUnitArgv,v8:()=>retireInstanceArgv,yX:()=>startInstanceArgv});var _paths_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(1819),_systemd_quote_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(2513),_write_file_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(5091);const BOOT_WANTS_DIR=`${_paths_js__WEBPACK_IMPORTED_MODULE_0__.wj}/multi-user.target.wants`,SOCKETS_WANTS_DIR=`${_paths_js__WEBPACK_IMPORTED_MODULE_0__.wj}/sockets.target.wants`,DRAIN_QUIET_MS=600,DRAIN_POLL_MS=100,DRAIN=`set -u
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
[ "$reload" = no ] || systemctl daemon-reload`;function installUnitArgv(p,wake){const pairs=wake===void 0?[]:[p.wakeSocketTemplateFile,wake.socket,p.wakeServiceTemplateFile,wake.service],name=file=>file.slice(file.lastIndexOf("/")+1),pattern=file=>`${name(file).slice(0,name(file).indexOf("@"))}@*`;return["sh","-c",INSTALL_UNITS,"sh",p.unitTemplateFile,`${pattern(p.unitTemplateFile)} ${pattern(p.wakeSocketTemplateFile)}`,...pairs,"--",...(0,_write_file_js__WEBPACK_IMPORTED_MODULE_2__.jP)({path:p.unitTemplateFile,mode:420})]}}),656:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{$C:()=>installFailureHint,HU:()=>parseOsRelease,Jy:()=>assertSupportedOs,L8:()=>enableCaddyArgv,Le:()=>probeArgv,QU:()=>osReleaseArgv,VE:()=>POSTGRES_PACKAGE,_x:()=>ensurePostgresArgv,bZ:()=>databasePackages,cJ:()=>appLayoutArgv,hv:()=>installPackagesArgv,lW:()=>requiredPackages,u5:()=>parseProbe});var _errors_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(3916),_database_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(8026),_paths_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(1819),_users_js__WEBPACK_IMPORTED_MODULE_3__=__webpack_require__(5407);const REQUIRED_PACKAGES=["caddy","rsync"],POSTGRES_PACKAGE="postgresql",POSTGRES_PORT=5432;function databasePackages(config){return config.database?[POSTGRES_PACKAGE]:[]}function requiredPackages(config){return[...REQUIRED_PACKAGES,...databasePackages(config)]}function parseOsRelease(text){const fields={};for(const line of text.split(`
`)){const m=/^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());if(!m?.[1]||m[2]===void 0)continue;let value=m[2];/^(["']).*\1$/.test(value)&&(value=value.slice(1,-1).replace(/\\(["$`\\])/g,"$1")),fields[m[1]]=value}return{id:(fields.ID??"").toLowerCase(),idLike:(fields.ID_LIKE??"").toLowerCase().split(/\s+/).filter(Boolean),versionId:fields.VERSION_ID??"",prettyName:fields.PRETTY_NAME??fields.NAME??(fields.ID||"an unknown system")}}function assertSupportedOs(os){const family=os?[os.id,...os.idLike]:[];if(family.includes("debian")||family.includes("ubuntu"))return;const what=os?os.prettyName:"a system without /etc/os-release";throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`toss init provisions Debian and Ubuntu servers (apt, systemd); this server runs ${what}. Nothing was changed.`,{hint:"use a Debian 12+ or Ubuntu 22.04+ server, or install Caddy, rsync and systemd yourself and run `toss deploy` directly"})}const PROBE=`set -u
app_dir=$1 toss_dir=$2 secrets=$3 overrides=$4 state=$5 prod_env=$6 preview_env=$7
prod_user=$8 preview_user=$9
shift 9
sites=$1 registry=$2 pg_socket=$3 pg_port=$4
shift 4
for pkg in "$@"; do
  if [ "$(dpkg-query -W -f='\${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ]; then
    echo "package $pkg yes"
  else
    echo "package $pkg no"
  fi
done
enabled=no active=no
systemctl is-enabled --quiet caddy 2>/dev/null && enabled=yes
systemctl is-active --quiet caddy 2>/dev/null && active=yes
echo "caddy-enabled $enabled"
echo "caddy-active $active"
pg_enabled=no pg_ready=no
systemctl is-enabled --quiet postgresql 2>/dev/null && pg_enabled=yes
command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$pg_socket" -p "$pg_port" && pg_ready=yes
echo "postgres-enabled $pg_enabled"
echo "postgres-ready $pg_ready"
for user in "$prod_user" "$preview_user"; do
  if id -u -- "$user" >/dev/null 2>&1; then echo "user yes"; else echo "user no"; fi
done
dir_ok() { # path mode: exists, root-owned, with that mode
  [ -d "$1" ] && [ "$(stat -c '%U:%G %a' -- "$1")" = "root:root $2" ]
}
file_ok() {
  [ -f "$1" ] && [ "$(stat -c '%U:%G %a' -- "$1")" = "root:root 600" ]
}
layout=yes
dir_ok "$sites" 755 && dir_ok "$registry" 755 &&
  dir_ok "$app_dir" 755 && dir_ok "$toss_dir" 700 && dir_ok "$secrets" 700 && dir_ok "$overrides" 700 &&
  file_ok "$prod_env" && file_ok "$preview_env" || layout=no
echo "layout $layout"
if [ -e "$state" ]; then echo "state yes"; else echo "state no"; fi`;function probeArgv(app,packages=REQUIRED_PACKAGES){const a=(0,_paths_js__WEBPACK_IMPORTED_MODULE_2__.u_)(app),users=(0,_users_js__WEBPACK_IMPORTED_MODULE_3__.O)(app);return["sh","-c",PROBE,"sh",a.appDir,a.tossDir,a.secretsDir,a.overridesDir,a.stateFile,a.secretsFile("production"),a.secretsFile("preview"),users.production,users.preview,_paths_js__WEBPACK_IMPORTED_MODULE_2__.l3,_paths_js__WEBPACK_IMPORTED_MODULE_2__.gi,_database_js__WEBPACK_IMPORTED_MODULE_1__.PG_SOCKET_DIR,String(POSTGRES_PORT),...packageNames(packages)]}function parseProbe(stdout,packages=REQUIRED_PACKAGES){const lines=stdout.split(`
`).map(l=>l.trim().split(/\s+/)),value=key=>lines.filter(l=>l[0]===key).map(l=>l[l.length-1]),found=lines.filter(l=>l[0]==="package"&&l.length===3);if(found.length!==packages.length||value("layout").length!==1)throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`could not read the server's state; the probe printed:
${stdout.trim()}`);return{missingPackages:found.filter(l=>l[2]!=="yes").map(l=>l[1]),caddyEnabled:value("caddy-enabled")[0]==="yes",caddyActive:value("caddy-active")[0]==="yes",postgresEnabled:value("postgres-enabled")[0]==="yes",postgresReady:value("postgres-ready")[0]==="yes",usersPresent:value("user").length===2&&value("user").every(v=>v==="yes"),layoutOk:value("layout")[0]==="yes",stateExists:value("state")[0]==="yes"}}const INSTALL=`set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get -q -o DPkg::Lock::Timeout=120 update
apt-get -q -y -o DPkg::Lock::Timeout=120 --no-install-recommends install -- "$@"`;function packageNames(packages){for(const name of packages)if(!/^[a-z0-9][a-z0-9+.-]+$/.test(name))throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`invalid package name ${name}`);return packages}function installPackagesArgv(packages){return["sh","-c",INSTALL,"sh",...packageNames(packages)]}function installFailureHint(output){return/Unable to locate package caddy|Package 'caddy' has no installation candidate/.test(output)?"this release's repositories have no caddy package: add Caddy's own apt repository (https://caddyserver.com/docs/install#debian-ubuntu-raspbian), then run toss init again":/Temporary failure resolving|Could not connect|Failed to fetch/.test(output)?"the server could not reach its package mirror: check its network and /etc/apt/sources.list*, then run toss init again":"fix the apt problem shown above on the server, then run toss init again (it is safe to repeat)"}function enableCaddyArgv(){return["systemctl","enable","--now","caddy"]}const ENSURE_POSTGRES=`set -eu
socket_dir=$1 port=$2
ready() { pg_isready -q -h "$socket_dir" -p "$port"; }
if ! systemctl is-enabled --quiet postgresql; then
  systemctl enable --quiet postgresql
  echo 'enabled PostgreSQL at boot'
fi
read -r version name status <<EOF || :
$(pg_lsclusters -h | awk -v port="$port" '$3 == port { print $1, $2, $4; exit }')
EOF
if [ -z "$version" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  [ -n "$version" ] || { echo 'no PostgreSQL server is installed in /usr/lib/postgresql' >&2; exit 1; }
  name=main status=down
  pg_createcluster --locale C.UTF-8 --port "$port" -- "$version" "$name" >/dev/null
  echo "created the PostgreSQL cluster $version/$name"
fi
case $status in
  online*) ;;
  *)
    systemctl start "postgresql@$version-$name"
    echo "started PostgreSQL $version/$name"
    ;;
esac
tries=0
until ready; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "PostgreSQL $version/$name does not accept connections on $socket_dir port $port after 30 s:" >&2
    pg_lsclusters >&2
    exit 1
  fi
  sleep 0.5
done`;function ensurePostgresArgv(){return["sh","-c",ENSURE_POSTGRES,"sh",_database_js__WEBPACK_IMPORTED_MODULE_1__.PG_SOCKET_DIR,String(POSTGRES_PORT)]}const APP_LAYOUT=`set -eu
app_dir=$1 toss_dir=$2 secrets=$3 overrides=$4 prod_env=$5 preview_env=$6 sites=$7 registry=$8
install -d -m 0755 -o root -g root -- "$app_dir" "$sites"
install -d -m 0700 -o root -g root -- "$toss_dir" "$secrets" "$overrides"
install -d -m 0755 -o root -g root -- "$registry"
for file in "$prod_env" "$preview_env"; do
  [ -e "$file" ] || : >"$file"
  chown root:root -- "$file"
  chmod 0600 -- "$file"
done`;function appLayoutArgv(app){const a=(0,_paths_js__WEBPACK_IMPORTED_MODULE_2__.u_)(app);return["sh","-c",APP_LAYOUT,"sh",a.appDir,a.tossDir,a.secretsDir,a.overridesDir,a.secretsFile("production"),a.secretsFile("preview"),_paths_js__WEBPACK_IMPORTED_MODULE_2__.l3,_paths_js__WEBPACK_IMPORTED_MODULE_2__.gi]}function osReleaseArgv(){return["cat","/etc/os-release"]}}),4453:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{A0:()=>journalArgv,Go:()=>stopInstanceArgv,IA:()=>stopRunUnitArgv,Qe:()=>teardownUnitsArgv});var _instances_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(9735),_paths_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(1819);function stopInstanceArgv(p,port){return["systemctl","stop","--",p.instanceUnit(port)]}function isActiveArgv(p,port){return["systemctl","is-active","--quiet","--",p.instanceUnit(port)]}const STOP_RUN=`set -u
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
exit 0`;function instanceSlice(p){return`system-${p.unitTemplate.slice(0,-9).replaceAll("-","\\x2d")}.slice`}function wakeSlice(p){return`system-${p.wakeServiceTemplate.slice(0,-9).replaceAll("-","\\x2d")}.slice`}function teardownUnitsArgv(p,ports){return["sh","-c",TEARDOWN,"sh",instanceSlice(p),p.unitTemplateFile,p.wakeSocketTemplateFile,p.wakeServiceTemplateFile,"--",...ports.flatMap(port=>[`${(0,_instances_js__WEBPACK_IMPORTED_MODULE_0__.dX)(p,port)}.timer`,`${(0,_instances_js__WEBPACK_IMPORTED_MODULE_0__.dX)(p,port)}.service`]),...ports.flatMap(port=>[p.wakeSocketUnit(port),p.wakeServiceUnit(port)]),"--",...ports.map(port=>p.instanceUnit(port)),p.runUnit,wakeSlice(p)]}function journalArgv(params){const p=params.paths,unit=params.port===void 0?p.unitTemplate.replace("@.service","@*"):p.instanceUnit(params.port),lines=params.lines??100;if(!Number.isInteger(lines)||lines<0)throw new TypeError(`invalid line count ${lines}`);return["journalctl","--no-pager","--output=short-iso",`--unit=${unit}`,`--lines=${lines}`,...params.follow?["--follow"]:[]]}}),9128:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{ao:()=>deployScriptRunArgv,b6:()=>dependencyRunArgv,jl:()=>deployScriptFailure});var _config_env_name_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(1613),_errors_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(3916),_exit_codes_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(7880),_paths_js__WEBPACK_IMPORTED_MODULE_3__=__webpack_require__(1819),_systemd_quote_js__WEBPACK_IMPORTED_MODULE_4__=__webpack_require__(2513),_systemd_unit_js__WEBPACK_IMPORTED_MODULE_5__=__webpack_require__(8323),_users_js__WEBPACK_IMPORTED_MODULE_6__=__webpack_require__(5407);const ENV_KEY=/^[A-Za-z_][A-Za-z0-9_]*$/;function systemdRunArgv(params){const pipe=params.output!=="relay",argv=["systemd-run",`--unit=${params.unit}`,"--wait",...pipe?["--pipe"]:[],"--collect",...pipe?["--quiet"]:[],"--service-type=simple"];params.user!==void 0&&argv.push(`--uid=${params.user}`,`--gid=${params.user}`),params.cwd!==void 0&&argv.push(`--working-directory=${params.cwd}`);for(const[key,value]of Object.entries(params.env??{})){if(!ENV_KEY.test(key)||/[\0\n]/.test(value))throw new TypeError(`invalid environment variable ${JSON.stringify(key)}`);argv.push(`--setenv=${key}=${value}`)}params.envFile!==void 0&&argv.push(`--property=EnvironmentFile=${params.envFile}`);for(const property of params.properties??[])argv.push(`--property=${property}`);return argv.push("--","/bin/sh","-c",(0,_systemd_quote_js__WEBPACK_IMPORTED_MODULE_4__.rv)(params.command)),argv}const BUILD_TIMEOUT_EXIT=_exit_codes_js__WEBPACK_IMPORTED_MODULE_2__.d.buildTimeout,BUILD_TIMEOUT_MARKER="toss: the command was stopped at its time limit",RELAY=`set -u
umask 077
command=$1
shift
mkdir -p /run/toss && chmod 0700 /run/toss || exit 1
dir=$(mktemp -d /run/toss/run.XXXXXXXX) || exit 1
trap 'rm -rf -- "$dir"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
mkfifo -m 0600 "$dir/out" || exit 1
cat -- "$dir/out" &
relay=$!
"$@" --property="StandardOutput=file:$dir/out" --property=StandardError=inherit   -- /bin/sh -c "$command" 2>"$dir/report"
status=$?
while kill -0 "$relay" 2>/dev/null; do : <>"$dir/out"; sleep 0.1; done
wait "$relay"
grep -v -e '^Running as unit: ' -e '^Finished with result: ' -e '^Main processes terminated with: '   -e '^Service runtime: ' -e '^CPU time consumed: ' -- "$dir/report" >&2
if [ "$status" -ne 0 ] && grep -qx 'Finished with result: timeout' -- "$dir/report"; then
  echo "${BUILD_TIMEOUT_MARKER}" >&2
  exit ${BUILD_TIMEOUT_EXIT}
fi
exit "$status"`;function deployScriptRunArgv(params){const p=params.paths,releaseDir=p.releaseDir(params.releaseId),{memory,cpu,timeoutSec}=params.limits??{};if((0,_systemd_unit_js__WEBPACK_IMPORTED_MODULE_5__.S8)({memory,cpu}),timeoutSec!==void 0&&(!Number.isInteger(timeoutSec)||timeoutSec<1))throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__.m(`invalid build time limit ${JSON.stringify(timeoutSec)}`);const run=systemdRunArgv({unit:p.runUnit,user:(0,_users_js__WEBPACK_IMPORTED_MODULE_6__.f)(p.app,p.environment),cwd:releaseDir,envFile:p.releaseEnvFile(params.releaseId),env:{HOME:p.cacheDir},properties:[...memory===void 0?[]:[`MemoryMax=${memory}`],...cpu===void 0?[]:[`CPUQuota=${cpu}`],...timeoutSec===void 0?[]:[`RuntimeMaxSec=${timeoutSec}`],...(0,_systemd_unit_js__WEBPACK_IMPORTED_MODULE_5__.Wi)(p.isProduction),...(0,_systemd_unit_js__WEBPACK_IMPORTED_MODULE_5__.Hx)({app:p.app,readWritePaths:[releaseDir,p.preserveDir,p.cacheDir]})],command:(0,_systemd_unit_js__WEBPACK_IMPORTED_MODULE_5__.LK)(p.isProduction,params.command),output:"relay"}),dashes=run.indexOf("--");return["sh","-c",RELAY,"sh",run.at(-1),...run.slice(0,dashes)]}function deployScriptFailure(label,code,stderr,timeoutSec){if(code===BUILD_TIMEOUT_EXIT&&stderr.includes(BUILD_TIMEOUT_MARKER)){const limit=timeoutSec===void 0?"":` of ${timeoutSec} s`;return{message:`${label} was stopped: it reached its time limit${limit}`,timedOut:!0}}return{message:`${label} failed (exit ${code??"signal"})`,timedOut:!1}}function dependencyRunArgv(params){return systemdRunArgv({unit:(0,_paths_js__WEBPACK_IMPORTED_MODULE_3__.cD)(params.app,_config_env_name_js__WEBPACK_IMPORTED_MODULE_0__.PRODUCTION).runUnit,cwd:"/",command:params.command})}})};export{id,ids,modules};
