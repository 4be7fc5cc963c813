/**
 * The gate of previews' on-demand certificates. A preview's site asks Caddy for its certificate
 * at the first handshake (`tls { on_demand }`, see caddy-site.ts), and Caddy 2.6 first asks the
 * Caddyfile's global `on_demand_tls { ask <url> }` endpoint with `?domain=<name>`: only a 200
 * lets it order a certificate. toss's endpoint is a Caddy site on loopback that answers 200 when
 * a file named after the name exists in a root-owned allow-list directory, and 404 otherwise
 * (names outside a strict DNS alphabet included). The apply script (caddy-apply.ts) writes a
 * name's file when a preview's site goes in and deletes it when the site goes, so an unknown or
 * removed preview's name, and every other name, gets no certificate. Should Caddy fail to reach
 * the endpoint, it refuses the certificate: the gate fails closed.
 *
 * The endpoint listens on a port below 1024 so that no app (none runs as root) can bind it first
 * and answer 200 to everything. Caddy's `file` matcher joins the name to the directory after
 * cleaning it as a path rooted at `/`, so `..` cannot leave the directory; the name check keeps
 * `/`, `.`-only and empty names out before that.
 */
import { TossError } from '../errors.js';
import { caddyfileTokens } from './caddy-admin.js';
import { CADDYFILE, REGISTRY_DIR } from './paths.js';

/** Root's directory of allowed names, one empty file per live preview's host name. */
export const TLS_ALLOW_DIR = `${REGISTRY_DIR}/tls-allow`;
/** Loopback only, and privileged, so no app process can take the port first. */
export const ASK_PORT = 883;
export const ASK_ADDRESS = `http://127.0.0.1:${ASK_PORT}`;
export const ASK_URL = `${ASK_ADDRESS}/toss-preview-names`;

/** A host name as toss writes one: lowercase DNS labels, at least two. */
const ASKED_NAME =
  '^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$';

/** Whether the ask endpoint can allow `name` (sslip.io's IPv6 labels, `--1`, it cannot). */
export function isAskableName(name: string): boolean {
  return new RegExp(ASKED_NAME).test(name);
}

/** The endpoint's site, as toss appends it to the Caddyfile. */
export function askSite(): string[] {
  return [
    '# toss: which names may get an on-demand certificate (the live previews), for Caddy only.',
    `${ASK_ADDRESS} {`,
    '\tbind 127.0.0.1',
    '\t@preview {',
    '\t\tpath /toss-preview-names',
    `\t\tvars_regexp {query.domain} ${ASKED_NAME}`,
    '\t\tfile {',
    `\t\t\troot ${TLS_ALLOW_DIR}`,
    '\t\t\ttry_files {query.domain}',
    '\t\t}',
    '\t}',
    '\trespond @preview 200',
    '\trespond 404',
    '}',
  ];
}

const ASK_OPTION = [
  '\t# toss: previews get certificates on demand, only for the names this endpoint allows.',
  '\ton_demand_tls {',
  `\t\task ${ASK_URL}`,
  '\t}',
];

export interface AskEdit {
  text: string;
  changed: boolean;
  /** the user's own `ask` URL, which then decides for previews too (left as it was) */
  userAsk?: string | undefined;
}

/**
 * The user's Caddyfile with toss's ask endpoint: `on_demand_tls { ask … }` goes first into the
 * global options block (one is added at the top when there is none) and the endpoint's site at
 * the end; every other byte stays. An `on_demand_tls` block of the user's own keeps its `ask`
 * (it then decides for previews too: it must allow their names) or, having none, gets toss's.
 */
export function ensureOnDemandAsk(caddyfile: string): AskEdit {
  const eol = caddyfile.includes('\r\n') ? '\r\n' : '\n';
  const option = onDemandOption(caddyfile);
  let text = caddyfile;
  let userAsk: string | undefined;
  if (option === undefined) {
    text = insertGlobalLines(text, ASK_OPTION, eol);
  } else if (option.ask === undefined) {
    text = insertAfterLine(text, option.line, [`\t\task ${ASK_URL}`], eol);
  } else if (option.ask !== ASK_URL) {
    userAsk = option.ask;
  }
  if (!hasAskSite(text)) {
    const base = text === '' || text.endsWith('\n') ? text : `${text}${eol}`;
    text = `${base}${eol}${askSite().join(eol)}${eol}`;
  }
  return { text, changed: text !== caddyfile, userAsk };
}

interface OnDemandOption {
  /** the line that opens its block */
  line: number;
  ask: string | undefined;
}

/** The global `on_demand_tls` option: the line it opens its block on, and its `ask` URL. */
function onDemandOption(caddyfile: string): OnDemandOption | undefined {
  const tokens = caddyfileTokens(caddyfile);
  if (!isOpen(tokens[0])) return undefined;
  let depth = 1;
  let option: OnDemandOption | undefined;
  for (let i = 1; i < tokens.length && depth > 0; i++) {
    const t = tokens[i] as Token;
    if (isOpen(t)) depth++;
    else if (!t.quoted && t.text === '}') depth--;
    else if (depth === 1 && isDirective(t, 'on_demand_tls')) option = openOption(tokens, i);
    else if (depth === 2 && option !== undefined && isDirective(t, 'ask')) {
      option.ask = tokens[i + 1]?.text;
    }
  }
  return option;
}

type Token = ReturnType<typeof caddyfileTokens>[number];

function isDirective(token: Token, name: string): boolean {
  return token.first && !token.quoted && token.text === name;
}

/** The option at `tokens[at]`, which must open its block on its own line. */
function openOption(tokens: Token[], at: number): OnDemandOption {
  const line = tokens[at]?.line ?? 0;
  if (!isOpen(tokens[at + 1]) || tokens[at + 1]?.line !== line) throw noBlock();
  return { line, ask: undefined };
}

function isOpen(token: { text: string; quoted: boolean } | undefined): boolean {
  return token !== undefined && !token.quoted && token.text === '{';
}

function noBlock(): TossError {
  return new TossError(
    `${CADDYFILE} has an on_demand_tls option toss cannot read (its block must open on the same line)`,
    { hint: `write it as \`on_demand_tls {\` … \`}\` on the server, then run the command again` },
  );
}

/** `lines` after the line that opens the global options block, or a new block at the top. */
function insertGlobalLines(caddyfile: string, lines: string[], eol: string): string {
  const open = caddyfileTokens(caddyfile)[0];
  if (isOpen(open)) return insertAfterLine(caddyfile, open?.line ?? 1, lines, eol);
  return `${['{', ...lines, '}', '', ''].join(eol)}${caddyfile}`;
}

/** `lines` after line `line` (1-based) of the text. */
function insertAfterLine(text: string, line: number, lines: string[], eol: string): string {
  const all = text.split('\n');
  all.splice(line, 0, ...lines.map((l) => (eol === '\r\n' ? `${l}\r` : l)));
  return all.join('\n');
}

function hasAskSite(caddyfile: string): boolean {
  return caddyfile.split(/\r?\n/).some((line) => line.trimEnd() === `${ASK_ADDRESS} {`);
}
