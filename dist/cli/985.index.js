const id=985,ids=[985],modules={5849:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{u:()=>applyCaddyChange});var _errors_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(3916),_server_caddy_admin_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(6386),_server_caddy_apply_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(3177),_server_paths_js__WEBPACK_IMPORTED_MODULE_3__=__webpack_require__(1819),_server_ports_js__WEBPACK_IMPORTED_MODULE_4__=__webpack_require__(4567);const JOURNAL_HINT="check `systemctl status caddy` and `journalctl -u caddy` on the server";async function applyCaddyChange(change){try{return await change()}catch(error){if(!(error instanceof _errors_js__WEBPACK_IMPORTED_MODULE_0__.at))throw error;const output=error.outputTail.trim(),detail=output?`:
${output}`:"",ambiguous=/ambiguous site definition: (\S+)/.exec(output)?.[1];if(ambiguous!==void 0&&error.exitCode===_server_caddy_apply_js__WEBPACK_IMPORTED_MODULE_2__.jP)throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`another site on this server already answers ${ambiguous}, so Caddy refused this one; the previous site file was restored and Caddy keeps serving the old config`,{hint:`two apps with a front on the same servers need different front.port values in toss.json (1024\u2013${_server_ports_js__WEBPACK_IMPORTED_MODULE_4__.Ne-1}); otherwise find the other ${ambiguous} site in ${_server_paths_js__WEBPACK_IMPORTED_MODULE_3__.Sr} or what it imports`});switch(error.exitCode){case _server_caddy_apply_js__WEBPACK_IMPORTED_MODULE_2__.jP:throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`Caddy rejected the configuration (\`caddy validate --config ${_server_paths_js__WEBPACK_IMPORTED_MODULE_3__.Sr}\` failed${output?"":" without saying why; is the caddy binary working?"}); it ran as the caddy user, the previous site file was restored and Caddy keeps serving the old config${detail}`,{hint:`run \`sudo -u caddy caddy validate --config ${_server_paths_js__WEBPACK_IMPORTED_MODULE_3__.Sr} --adapter caddyfile\` on the server and fix what it reports (toss adds only an import line and the admin socket to the Caddyfile; every file Caddy reads must be readable by the caddy user), then deploy again`});case _server_caddy_apply_js__WEBPACK_IMPORTED_MODULE_2__.dS:throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`Caddy did not finish reloading in time; the previous site file was restored and Caddy was restarted with it (open connections to every site were cut)${detail}`,{hint:`${JOURNAL_HINT}; then deploy again`});case _server_caddy_apply_js__WEBPACK_IMPORTED_MODULE_2__.ZO:throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`\`systemctl reload caddy\` failed; the previous site file was restored and Caddy serves the previous configuration${detail}`,{hint:JOURNAL_HINT});case _server_caddy_apply_js__WEBPACK_IMPORTED_MODULE_2__.Ye:throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`Caddy is not running: the change was rolled back, but Caddy did not start with the previous configuration either, so no site is served${detail}`,{hint:`${JOURNAL_HINT}, fix what stops it (\`sudo -u caddy caddy validate --config ${_server_paths_js__WEBPACK_IMPORTED_MODULE_3__.Sr} --adapter caddyfile\`), then \`systemctl restart caddy\``});case _server_caddy_apply_js__WEBPACK_IMPORTED_MODULE_2__.Lb:throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`could not install ${_server_caddy_admin_js__WEBPACK_IMPORTED_MODULE_1__.HA}, which keeps Caddy's admin endpoint private; nothing was changed${detail}`,{hint:"check that /etc/systemd/system is writable (disk space, read-only root)"});default:throw error}}}}),6386:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{HA:()=>CADDY_ADMIN_DROPIN,Pp:()=>caddyAdminDropIn,WG:()=>caddyfileTokens,vG:()=>ensureAdminSocket,wl:()=>CADDY_ADMIN_SOCKET});var _errors_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(3916),_paths_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(1819);const CADDY_ADMIN_SOCKET="/run/caddy/admin.sock",CADDY_ADMIN_ADDRESS=`unix/${CADDY_ADMIN_SOCKET}`,CADDY_ADMIN_DROPIN="/etc/systemd/system/caddy.service.d/toss-admin.conf";function caddyAdminDropIn(){return["# Written by toss: the directory of the Caddy admin socket (see the admin option in",`# ${_paths_js__WEBPACK_IMPORTED_MODULE_1__.Sr}), which only root and the caddy user can enter.`,"[Service]","RuntimeDirectory=caddy","RuntimeDirectoryMode=0700"].join(`
`)}function caddyfileTokens(text){const tokens=[];let line=1,lastLine=0,i=0;for(;i<text.length;){const c=text[i];if(c===`
`){line++,i++;continue}if(/\s/.test(c)){i++;continue}if(c==="#"){i=lineEnd(text,i);continue}const lexeme=c==='"'||c==="`"?readQuoted(text,i):readBare(text,i);tokens.push({text:lexeme.value,line,quoted:lexeme.quoted,first:line!==lastLine}),line+=lexeme.newlines,lastLine=line,i=lexeme.end}return tokens}function lineEnd(text,at){const newline=text.indexOf(`
`,at);return newline===-1?text.length:newline}function readQuoted(text,at){const quote=text[at];let value="",newlines=0,i=at+1;for(;i<text.length&&text[i]!==quote;)quote==='"'&&text[i]==="\\"&&text[i+1]==='"'&&i++,text[i]===`
`&&newlines++,value+=text[i],i++;return{value,quoted:!0,end:i+1,newlines}}function readBare(text,at){let i=at;for(;i<text.length&&!/\s/.test(text[i]);)i++;return{value:text.slice(at,i),quoted:!1,end:i,newlines:0}}function globalAdminOption(caddyfile){const tokens=caddyfileTokens(caddyfile);if(!isBrace(tokens[0],"{"))return;let depth=1;for(let i=1;i<tokens.length&&depth>0;i++){const t=tokens[i];if(isBrace(t,"{"))depth++;else if(isBrace(t,"}"))depth--;else if(depth===1&&isDirective(t,"admin"))return lineArguments(tokens,i)}}function isBrace(token,brace){return token!==void 0&&!token.quoted&&token.text===brace}function isDirective(token,name){return token.first&&!token.quoted&&token.text===name}function lineArguments(tokens,at){const line=tokens[at]?.line,args=[];for(let j=at+1;j<tokens.length&&tokens[j]?.line===line;j++){const arg=tokens[j];if(isBrace(arg,"{"))break;args.push(arg.text)}return args}const ADMIN_LINES=["	# toss: Caddy's admin endpoint, reachable only by root and the caddy user.",`	admin ${CADDY_ADMIN_ADDRESS}`];function ensureAdminSocket(caddyfile){const current=globalAdminOption(caddyfile);if(current!==void 0){if(current[0]===CADDY_ADMIN_ADDRESS)return{text:caddyfile,changed:!1};const shown=current.length?current.join(" "):"(no address: localhost:2019)";throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`${_paths_js__WEBPACK_IMPORTED_MODULE_1__.Sr} sets Caddy's admin endpoint to ${shown}; toss needs it on the Unix socket ${CADDY_ADMIN_SOCKET}, where only root and the caddy user can reach it (on a TCP address any local process, a preview's app included, can reconfigure Caddy)`,{hint:`remove the \`admin\` line from the global options block of ${_paths_js__WEBPACK_IMPORTED_MODULE_1__.Sr} on the server (toss adds \`admin ${CADDY_ADMIN_ADDRESS}\` itself; tools that used the admin API can reach it as root through that socket), then run the command again`})}const open=caddyfileTokens(caddyfile)[0],eol=caddyfile.includes(`\r
`)?`\r
`:`
`;if(open&&!open.quoted&&open.text==="{"){const lines=caddyfile.split(`
`);return lines.splice(open.line,0,...ADMIN_LINES.map(l=>eol===`\r
`?`${l}\r`:l)),{text:lines.join(`
`),changed:!0}}return{text:`${["{",...ADMIN_LINES,"}","",""].join(eol)}${caddyfile}`,changed:!0}}}),3177:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{Lb:()=>CADDY_ADMIN_EXIT,OM:()=>secureCaddyAdminArgv,Pi:()=>installCaddyFileArgv,Ye:()=>CADDY_DOWN_EXIT,ZO:()=>CADDY_RELOAD_EXIT,dS:()=>CADDY_RELOAD_TIMEOUT_EXIT,eE:()=>removeCaddyFileArgv,jP:()=>CADDY_INVALID_EXIT});var _caddy_admin_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(6386),_caddy_site_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(6166),_cas_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(4858),_exit_codes_js__WEBPACK_IMPORTED_MODULE_3__=__webpack_require__(7880),_paths_js__WEBPACK_IMPORTED_MODULE_4__=__webpack_require__(1819),_tls_ask_js__WEBPACK_IMPORTED_MODULE_5__=__webpack_require__(162);const CADDY_INVALID_EXIT=_exit_codes_js__WEBPACK_IMPORTED_MODULE_3__.d.caddyInvalid,CADDY_RELOAD_EXIT=_exit_codes_js__WEBPACK_IMPORTED_MODULE_3__.d.caddyReload,CADDY_RELOAD_TIMEOUT_EXIT=_exit_codes_js__WEBPACK_IMPORTED_MODULE_3__.d.caddyReloadTimeout,CADDY_DOWN_EXIT=_exit_codes_js__WEBPACK_IMPORTED_MODULE_3__.d.caddyDown,CADDY_ADMIN_EXIT=_exit_codes_js__WEBPACK_IMPORTED_MODULE_3__.d.caddyAdmin,CADDY_VALIDATE_TIMEOUT_S=20,CADDY_RELOAD_TIMEOUT_S=15,CADDY_RESTART_TIMEOUT_S=30,APPLY=`set -u
mode=$1 file=$2 lock=$3 caddyfile=$4 validate=$5 dropin=$6 socket=$7 sites=$8 dropin_text=$9
allow=\${10} marker=\${11}
umask 022
[ -d "\${lock%/*}" ] || mkdir -p -- "\${lock%/*}" || exit 1
exec 9>>"$lock" || exit 1
flock -w 120 9 || { echo "toss: $lock is still locked after 120 s" >&2; exit ${_cas_js__WEBPACK_IMPORTED_MODULE_2__.zu}; }
if [ "$(cat -- "$dropin" 2>/dev/null)" != "$dropin_text" ]; then
  { mkdir -p -- "\${dropin%/*}" && printf '%s\\n' "$dropin_text" > "$dropin.toss-new" &&
    mv -f -- "$dropin.toss-new" "$dropin" && systemctl daemon-reload 9>&-; } ||
    { echo "toss: could not install $dropin" >&2; exit ${CADDY_ADMIN_EXIT}; }
fi
# Caddy's last "Error:" line, only where it cannot quote a file toss does not write: an adapter
# error located in another file (one a site imported, say) is named but not quoted.
caddy_said() {
  awk -v caddyfile="$caddyfile:" -v sites="$sites/" -v max=300 '
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
  timeout -k 5 ${CADDY_RELOAD_TIMEOUT_S} setpriv --reuid=caddy --regid=caddy --init-groups --reset-env     caddy reload --config "$caddyfile" --adapter caddyfile --address localhost:2019 --force     >/dev/null 2>&1 9>&- || return 1
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
  curl -sS --fail --max-time ${CADDY_RELOAD_TIMEOUT_S} --unix-socket "$socket" -H 'Host;'     -H 'Content-Type: text/caddyfile' -H 'Cache-Control: must-revalidate'     --data-binary @"$caddyfile" http://localhost/load >/dev/null 2>&1
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
exit ${CADDY_RELOAD_EXIT}`;function applyArgv(mode,file,validate){return["sh","-c",APPLY,"sh",mode,file,_paths_js__WEBPACK_IMPORTED_MODULE_4__.Tq,_paths_js__WEBPACK_IMPORTED_MODULE_4__.Sr,validate?"yes":"no",_caddy_admin_js__WEBPACK_IMPORTED_MODULE_0__.HA,_caddy_admin_js__WEBPACK_IMPORTED_MODULE_0__.wl,_paths_js__WEBPACK_IMPORTED_MODULE_4__.l3,(0,_caddy_admin_js__WEBPACK_IMPORTED_MODULE_0__.Pp)(),_tls_ask_js__WEBPACK_IMPORTED_MODULE_5__.k7,_caddy_site_js__WEBPACK_IMPORTED_MODULE_1__.vj.replace(/^# /,"")]}function installCaddyFileArgv(file,options={}){return applyArgv("install",file,options.validate??!0)}function removeCaddyFileArgv(file){return applyArgv("remove",file,!1)}function secureCaddyAdminArgv(){return applyArgv("check","",!1)}}),6166:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{LJ:()=>buildPrivateSite,Su:()=>ensureImportLine,vj:()=>ON_DEMAND_MARKER,yR:()=>buildSiteFile});var _config_schema_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(131),_errors_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(3916),_paths_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(1819),_tls_ask_js__WEBPACK_IMPORTED_MODULE_3__=__webpack_require__(162),_wake_js__WEBPACK_IMPORTED_MODULE_4__=__webpack_require__(8583);const ON_DEMAND_MARKER="# toss-on-demand:",HOST_NAME=/^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/,SSLIP_HOST_NAME=/^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.sslip\.io$/;function buildSiteFile(params){const host=params.hostName;if(host.length>253||!(HOST_NAME.test(host)||SSLIP_HOST_NAME.test(host)))throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__.m(`refusing to write a Caddy site for host name ${JSON.stringify(host)}`);const body=[...tlsLines(params)];if(params.noindex&&body.push("header X-Robots-Tag noindex"),params.basicAuth!==void 0){const{user,passwordHash}=params.basicAuth;if(!_config_schema_js__WEBPACK_IMPORTED_MODULE_0__.o2.test(user)||(0,_config_schema_js__WEBPACK_IMPORTED_MODULE_0__.zG)(user))throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__.m(`refusing previewAuth.user ${JSON.stringify(user)}: not a plain user name (letters, digits, ".", "_", "-"; not "import")`);if(!_config_schema_js__WEBPACK_IMPORTED_MODULE_0__.aW.test(passwordHash))throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__.m("refusing previewAuth.passwordHash: not a bcrypt hash with a cost from 04 to 14");body.push("basicauth {",`	${user} ${passwordHash}`,"}")}body.push(...serve(params));const address=params.tls==="off"?`http://${host}`:host,owner=params.app===void 0||params.environment===void 0?"":` (app ${(0,_paths_js__WEBPACK_IMPORTED_MODULE_2__.HH)(params.app)}, environment ${(0,_paths_js__WEBPACK_IMPORTED_MODULE_2__.Pv)(params.environment)})`,allowed=allowsOnDemand(params)?[`${ON_DEMAND_MARKER} ${host}`]:[];return[`# Managed by toss${owner}; rewritten on every deploy.`,...allowed,`${address} {`,...body.map(line=>`	${line}`),"}",...wildcardSite(params),""].join(`
`)}function allowsOnDemand(params){return params.tls==="internal"?(0,_tls_ask_js__WEBPACK_IMPORTED_MODULE_3__.zj)(params.hostName):params.tls==="auto"&&params.certificate==="on-demand"}function tlsLines(params){return params.tls==="internal"?allowsOnDemand(params)?["tls internal {","	on_demand","}"]:["tls internal"]:params.tls==="auto"&&params.certificate!==void 0?["tls {","	on_demand","}"]:[]}function wildcardSite(params){if(params.wildcard===void 0||params.tls!=="auto")return[];const{domain,dns}=params.wildcard;if(domain.length>251||!HOST_NAME.test(domain)||!_config_schema_js__WEBPACK_IMPORTED_MODULE_0__.Sw.test(dns))throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__.m(`refusing the wildcard site *.${JSON.stringify(domain)} with DNS provider ${JSON.stringify(dns)}`);return["",`# The previews' certificate (previews.tls "wildcard"), obtained by DNS challenge.`,`*.${domain} {`,"	tls {",`		dns ${dns}`,"	}","	abort","}"]}const UPSTREAM_TRANSPORT=["	transport http {","		keepalive off","	}"],STATIC_ROOT=/^\/(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$/;function serve(target){if(target.port!==void 0)return proxyTo(target.port,target.wake);if(target.balance!==void 0)return balanceAcross(target.balance);if(!STATIC_ROOT.test(target.root)||target.root.split("/").includes(".."))throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__.m(`refusing to serve ${JSON.stringify(target.root)} as a static site`);return[`root * ${target.root}`,"encode zstd gzip","file_server"]}function proxyTo(port,wake){return[`reverse_proxy ${wake?`unix/${(0,_wake_js__WEBPACK_IMPORTED_MODULE_4__.hZ)(port)}`:`127.0.0.1:${(0,_paths_js__WEBPACK_IMPORTED_MODULE_2__.CG)(port)}`} {`,...UPSTREAM_TRANSPORT,"}"]}const PRIVATE_UPSTREAM=/^(?:\d{1,3}\.){3}\d{1,3}:\d{1,5}$/,HEALTH_URI=/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/;function balanceAcross(balance){for(const upstream of balance.upstreams)if(!PRIVATE_UPSTREAM.test(upstream))throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__.m(`refusing to balance to ${JSON.stringify(upstream)}`);if(!HEALTH_URI.test(balance.healthUri))throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__.m(`refusing the health path ${JSON.stringify(balance.healthUri)}`);return[`reverse_proxy ${balance.upstreams.join(" ")} {`,"	lb_policy round_robin","	lb_try_duration 5s","	lb_try_interval 100ms",`	health_uri ${balance.healthUri}`,"	health_interval 1s","	health_timeout 2s",...UPSTREAM_TRANSPORT,"}"]}function buildPrivateSite(params){const{address,port}=params;if(!PRIVATE_UPSTREAM.test(`${address}:${port}`))throw new _errors_js__WEBPACK_IMPORTED_MODULE_1__.m(`refusing the private address ${JSON.stringify(address)}`);return[`# Managed by toss (app ${(0,_paths_js__WEBPACK_IMPORTED_MODULE_2__.HH)(params.app)}, environment ${(0,_paths_js__WEBPACK_IMPORTED_MODULE_2__.Pv)(params.environment)}, for the front); rewritten on every deploy.`,`http://:${(0,_paths_js__WEBPACK_IMPORTED_MODULE_2__.CG)(port)} {`,`	bind ${address}`,...proxyTo(params.target.port,params.target.wake).map(line=>`	${line}`),"}",""].join(`
`)}function ensureImportLine(caddyfile){if(caddyfile.split(/\r?\n/).some(line=>line.trimEnd()===_paths_js__WEBPACK_IMPORTED_MODULE_2__.Lg))return{text:caddyfile,changed:!1};const base=caddyfile===""||caddyfile.endsWith(`
`)?caddyfile:`${caddyfile}
`;return{text:`${base}${base===""?"":`
`}# Sites deployed by toss, one file per app environment.
${_paths_js__WEBPACK_IMPORTED_MODULE_2__.Lg}
`,changed:!0}}}),1305:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{Bn:()=>ensureUsersArgv,Dh:()=>assertPersistentDir,qo:()=>removeEnvironmentArgv,xh:()=>prepareEnvironmentArgv});var _errors_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(3916),_paths_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(1819),_users_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(5407);const ENSURE_USERS=`set -eu
for user in "$@"; do
  id -u -- "$user" >/dev/null 2>&1 ||
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin -- "$user"
done`;function ensureUsersArgv(app){const users=(0,_users_js__WEBPACK_IMPORTED_MODULE_2__.O)(app);return["sh","-c",ENSURE_USERS,"sh",users.production,users.preview]}const PREPARE=`set -eu
app_dir=$1 toss_dir=$2 secrets=$3 overrides=$4 env_dir=$5 user=$6
releases=$7 slots=$8 env_files=$9
shift 9
preserve=$1 cache=$2 env_mode=$3
shift 3
install -d -m 0755 -o root -g root -- "$app_dir"
install -d -m 0700 -o root -g root -- "$toss_dir" "$secrets" "$overrides"
install -d -m "$env_mode" -o root -g "$user" -- "$env_dir"
install -d -m 0755 -o root -g root -- "$releases" "$slots"
install -d -m 0700 -o root -g root -- "$env_files"
install -d -m 0750 -o "$user" -g "$user" -- "$preserve" "$cache"
[ "$#" -eq 0 ] && exit 0
cd -- "$preserve"
exec setpriv --reuid="$user" --regid="$user" --clear-groups -- sh -c 'umask 027
for dir in "$@"; do
  mkdir -p -- "$dir" 2>/dev/null ||
    echo "toss: preserve/$dir is no directory the app can use (a link it made?); left as it is" >&2
done' sh "$@"`;function assertPersistentDir(dir){const parts=dir.split("/");if(dir===""||parts.some(p=>p===""||p==="."||p==="..")||/\p{Cc}/u.test(dir))throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`invalid persistent directory ${JSON.stringify(dir)}`);return dir}function withParents(dirs){const all=new Set;for(const dir of dirs){const parts=assertPersistentDir(dir).split("/");for(let i=1;i<=parts.length;i++)all.add(parts.slice(0,i).join("/"))}return[...all].sort()}function prepareEnvironmentArgv(p,persistentDirs=[],options={}){const a=(0,_paths_js__WEBPACK_IMPORTED_MODULE_1__.u_)(p.app);return["sh","-c",PREPARE,"sh",a.appDir,a.tossDir,a.secretsDir,a.overridesDir,p.envDir,(0,_users_js__WEBPACK_IMPORTED_MODULE_2__.f)(p.app,p.environment),p.releasesDir,p.slotsDir,p.envFilesDir,p.preserveDir,p.cacheDir,options.staticSite?"0751":"0750",...withParents(persistentDirs)]}const REMOVE_ENV=`set -eu
rm -rf -- "$1"
rm -f -- "$2"`;function removeEnvironmentArgv(p){return["sh","-c",REMOVE_ENV,"sh",p.envDir,p.overridesFile]}}),162:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{KL:()=>ensureOnDemandAsk,k7:()=>TLS_ALLOW_DIR,zj:()=>isAskableName});var _errors_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(3916),_caddy_admin_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(6386),_paths_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(1819);const TLS_ALLOW_DIR=`${_paths_js__WEBPACK_IMPORTED_MODULE_2__.gi}/tls-allow`,ASK_ADDRESS="http://127.0.0.1:883",ASK_URL=`${ASK_ADDRESS}/toss-preview-names`,ASKED_NAME="^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$";function isAskableName(name){return new RegExp(ASKED_NAME).test(name)}function askSite(){return["# toss: which names may get an on-demand certificate (the live previews), for Caddy only.",`${ASK_ADDRESS} {`,"	bind 127.0.0.1","	@preview {","		path /toss-preview-names",`		vars_regexp {query.domain} ${ASKED_NAME}`,"		file {",`			root ${TLS_ALLOW_DIR}`,"			try_files {query.domain}","		}","	}","	respond @preview 200","	respond 404","}"]}const ASK_OPTION=["	# toss: previews get certificates on demand, only for the names this endpoint allows.","	on_demand_tls {",`		ask ${ASK_URL}`,"	}"];function ensureOnDemandAsk(caddyfile){const eol=caddyfile.includes(`\r
`)?`\r
`:`
`,option=onDemandOption(caddyfile);let text=caddyfile,userAsk;return option===void 0?text=insertGlobalLines(text,ASK_OPTION,eol):option.ask===void 0?text=insertAfterLine(text,option.line,[`		ask ${ASK_URL}`],eol):option.ask!==ASK_URL&&(userAsk=option.ask),hasAskSite(text)||(text=`${text===""||text.endsWith(`
`)?text:`${text}${eol}`}${eol}${askSite().join(eol)}${eol}`),{text,changed:text!==caddyfile,userAsk}}function onDemandOption(caddyfile){const tokens=(0,_caddy_admin_js__WEBPACK_IMPORTED_MODULE_1__.WG)(caddyfile);if(!isOpen(tokens[0]))return;let depth=1,option;for(let i=1;i<tokens.length&&depth>0;i++){const t=tokens[i];isOpen(t)?depth++:!t.quoted&&t.text==="}"?depth--:depth===1&&isDirective(t,"on_demand_tls")?option=openOption(tokens,i):depth===2&&option!==void 0&&isDirective(t,"ask")&&(option.ask=tokens[i+1]?.text)}return option}function isDirective(token,name){return token.first&&!token.quoted&&token.text===name}function openOption(tokens,at){const line=tokens[at]?.line??0;if(!isOpen(tokens[at+1])||tokens[at+1]?.line!==line)throw noBlock();return{line,ask:void 0}}function isOpen(token){return token!==void 0&&!token.quoted&&token.text==="{"}function noBlock(){return new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`${_paths_js__WEBPACK_IMPORTED_MODULE_2__.Sr} has an on_demand_tls option toss cannot read (its block must open on the same line)`,{hint:"write it as `on_demand_tls {` \u2026 `}` on the server, then run the command again"})}function insertGlobalLines(caddyfile,lines,eol){const open=(0,_caddy_admin_js__WEBPACK_IMPORTED_MODULE_1__.WG)(caddyfile)[0];return isOpen(open)?insertAfterLine(caddyfile,open?.line??1,lines,eol):`${["{",...lines,"}","",""].join(eol)}${caddyfile}`}function insertAfterLine(text,line,lines,eol){const all=text.split(`
`);return all.splice(line,0,...lines.map(l=>eol===`\r
`?`${l}\r`:l)),all.join(`
`)}function hasAskSite(caddyfile){return caddyfile.split(/\r?\n/).some(line=>line.trimEnd()===`${ASK_ADDRESS} {`)}}),8583:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{AW:()=>sleepNowArgv,FB:()=>sleepIfQuietArgv,Rn:()=>SLEEP_AGAIN_IN_USE,US:()=>stopWakeSocketArgv,aN:()=>buildWakeUnits,c9:()=>listenWakeArgv,hZ:()=>wakeSocketPath,wt:()=>countIdleArgv});var _errors_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(3916),_health_js__WEBPACK_IMPORTED_MODULE_1__=__webpack_require__(2557),_paths_js__WEBPACK_IMPORTED_MODULE_2__=__webpack_require__(1819),_systemd_quote_js__WEBPACK_IMPORTED_MODULE_3__=__webpack_require__(2513),_systemd_unit_js__WEBPACK_IMPORTED_MODULE_4__=__webpack_require__(8323);const WAKE_SOCKET_DIR="/run/toss-wake",SOCKET_PROXYD="/lib/systemd/systemd-socket-proxyd";function wakeSocketPath(port){return`${WAKE_SOCKET_DIR}/${(0,_paths_js__WEBPACK_IMPORTED_MODULE_2__.CG)(port)}.sock`}const WAKE_LOCK=`${WAKE_SOCKET_DIR}/.wake.lock`,WAKE_LOCK_SECONDS=2,WAKE=`set -u
unit=$1 port=$2 limit=$3 serial=$4
if [ "$serial" = 1 ]; then
  exec 9>${WAKE_LOCK}
  flock -w ${WAKE_LOCK_SECONDS*5} 9 || :
fi
held=${WAKE_LOCK_SECONDS*50}
systemctl start -- "$unit" 2>/dev/null 9>&-
tries=$(( limit * 50 ))
until [ -n "$(ss -Htln "sport = :$port" 2>/dev/null 9>&-)" ]; do
  tries=$(( tries - 1 ))
  if [ "$tries" -le 0 ]; then
    echo "toss: $unit did not listen on port $port within $limit s" >&2
    exit 1
  fi
  held=$(( held - 1 ))
  [ "$held" -eq 0 ] && exec 9>&-
  sleep 0.02 9>&-
done`;function buildWakeUnits(p,params){const{sleepSeconds,startSeconds}=params;for(const[name,value]of Object.entries(params))if(!Number.isInteger(value)||value<1||value>100*86400)throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m(`invalid ${name} ${JSON.stringify(value)} for a sleeping environment`);const header=`# Managed by toss (app ${p.app}, environment ${p.environment}); rewritten on every deploy.`,description=(0,_systemd_quote_js__WEBPACK_IMPORTED_MODULE_3__.M6)(`toss ${p.app} ${p.environment}`),instance=p.instanceUnit(1).replace("@1.service","@%i.service"),wake=p.isProduction?WAKE:`echo ${_systemd_unit_js__WEBPACK_IMPORTED_MODULE_4__.a.nice} >/proc/self/autogroup 2>/dev/null
${WAKE}`,socket=[header,"[Unit]",`Description=${description}: wakes on port %i`,"","[Socket]",`ListenStream=${WAKE_SOCKET_DIR}/%i.sock`,"SocketUser=root","SocketGroup=caddy","SocketMode=0660","DirectoryMode=0755","RemoveOnStop=yes","Slice=system.slice",`Service=${p.wakeServiceTemplate.replace("@.service","@%i.service")}`,"","[Install]","WantedBy=sockets.target",""].join(`
`),service=[header,"[Unit]",`Description=${description}: proxy to port %i`,`Requires=${p.wakeSocketTemplate.replace("@.socket","@%i.socket")}`,`After=${p.wakeSocketTemplate.replace("@.socket","@%i.socket")}`,"StartLimitIntervalSec=0","","[Service]","Type=exec",`ExecStartPre=+/bin/sh -c ${(0,_systemd_quote_js__WEBPACK_IMPORTED_MODULE_3__.KW)(wake)} sh ${instance} %i ${startSeconds} ${p.isProduction?0:1}`,`ExecStart=${SOCKET_PROXYD} --exit-idle-time=${sleepSeconds}s 127.0.0.1:%i`,`ExecStopPost=+/bin/systemctl stop --no-block -- ${instance}`,"Slice=system.slice",...p.isProduction?[]:[`Nice=${_systemd_unit_js__WEBPACK_IMPORTED_MODULE_4__.a.nice}`],"DynamicUser=yes","NoNewPrivileges=yes","PrivateTmp=yes","PrivateDevices=yes","ProtectSystem=strict","ProtectHome=yes",""].join(`
`);return{socket,service}}function listenWakeArgv(p,port){return["systemctl","start","--",p.wakeSocketUnit(port)]}function stopWakeSocketArgv(p,port){return["systemctl","stop","--",p.wakeSocketUnit(port)]}function sleepNowArgv(p,port){return["systemctl","stop","--",p.wakeServiceUnit(port),p.instanceUnit(port)]}const SLEEP_AGAIN_QUIET_MS=250,SLEEP_AGAIN_IN_USE="in use",SLEEP_IF_QUIET=`set -u
port=$1 quiet=$2
shift 2
conns() {
  ss -Htn state all "( sport = :$port or dport = :$port )" 2>/dev/null |
    awk '$1 != "LISTEN" { print $1, $4, $5 }'
}
pairs() { printf '%s\\n' "$1" | awk 'NF { print $2, $3 }' | sort; }
${_health_js__WEBPACK_IMPORTED_MODULE_1__.tz}
first=$(pairs "$(conns)")
end=$(( \${EPOCHREALTIME/[.,]/} + quiet * 1000 ))
while :; do
  now=$(conns)
  case $now in
    *ESTAB*) echo "${SLEEP_AGAIN_IN_USE}"; exit 0 ;;
  esac
  if [ -n "$(pairs "$now" | comm -13 <(printf '%s\\n' "$first") -)" ]; then
    echo "${SLEEP_AGAIN_IN_USE}"
    exit 0
  fi
  [ "\${EPOCHREALTIME/[.,]/}" -lt "$end" ] || break
  read -r -t 0.02 -u "$nap" _
done
exec "$@"`;function sleepIfQuietArgv(p,port){return["bash","-c",SLEEP_IF_QUIET,"bash",String((0,_paths_js__WEBPACK_IMPORTED_MODULE_2__.CG)(port)),String(SLEEP_AGAIN_QUIET_MS),...sleepNowArgv(p,port)]}function countIdleArgv(p,port){return["systemctl","start","--",p.wakeServiceUnit(port)]}})};export{id,ids,modules};
