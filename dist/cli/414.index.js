const id=414,ids=[414],modules={4414:((__unused_webpack_module,__webpack_exports__,__webpack_require__)=>{__webpack_require__.d(__webpack_exports__,{ZL:()=>shellQuote,nZ:()=>shellJoin,tg:()=>besideArgv});var _errors_js__WEBPACK_IMPORTED_MODULE_0__=__webpack_require__(3916);const SAFE_WORD=/^[A-Za-z0-9_@+:,./-][A-Za-z0-9_@+=:,./-]*$/;function shellQuote(arg){if(typeof arg!="string")throw new TypeError(`shellQuote: expected a string, got ${typeof arg}`);if(arg.includes("\0"))throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__.m("a command argument contains a NUL byte, which no program can receive",{hint:"remove the NUL character from the value"});return SAFE_WORD.test(arg)?arg:`'${arg.replaceAll("'","'\\''")}'`}function shellJoin(argv){return argv.map(shellQuote).join(" ")}const BESIDE_START=` </dev/null & b=$!
`,BESIDE_END=`
r=$?
wait "$b"
s=$?
[ "$r" -eq 0 ] || exit "$r"
exit "$s"`;function besideArgv(background,chain){const rest=chain.length===0?":":chain.map(argv=>shellJoin(argv)).join(" && ");return["sh","-c",`${shellJoin(background)}${BESIDE_START}${rest}${BESIDE_END}`]}})};export{id,ids,modules};
