/** The host name an environment is served on. */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { isProduction } from '../config/env-name.js';
import { TossError } from '../errors.js';
import { assertAppName, assertEnvName } from './paths.js';

export interface HostNameParams {
  app: string;
  environment: string;
  /** production host name */
  domain?: string | undefined;
  /** parent of preview names; default `preview.<domain>` */
  previewDomain?: string | undefined;
  /** the server's IP, for sslip.io names when there is no domain */
  serverIp?: string | undefined;
  /** previews' names: `<env>.<parent>` (nested, the default) or `<env>-<app>.<parent>` (flat) */
  hostNames?: 'nested' | 'flat' | undefined;
}

/** A DNS label's longest length. */
export const DNS_LABEL_MAX = 63;
const HASH_LENGTH = 6;

/**
 * production → `domain`; previews → `<env>.<previewDomain or preview.<domain>>`, or with flat
 * names `<env>-<app>.<previewDomain or domain>`; without a domain →
 * `<env>.<app>.<ip with - for . and :>.sslip.io`.
 */
export function hostNameFor(params: HostNameParams): string {
  const env = assertEnvName(params.environment);
  if (isProduction(env)) {
    if (params.domain !== undefined) return params.domain.toLowerCase();
  } else {
    const preview = previewHostName(params, env);
    if (preview !== undefined) return preview;
  }
  if (params.serverIp === undefined) {
    throw new TossError(
      `no host name for ${params.app}/${env}: no domain in toss.json and no server IP to derive an sslip.io name from`,
    );
  }
  return `${env}.${assertAppName(params.app)}.${sslipLabel(params.serverIp)}.sslip.io`;
}

/** A preview's name under its domain, nested or flat; undefined without a domain. */
function previewHostName(params: HostNameParams, env: string): string | undefined {
  if (params.hostNames === 'flat') {
    const parent = params.previewDomain ?? params.domain;
    if (parent === undefined) return undefined;
    return `${flatLabel(env, assertAppName(params.app))}.${parent}`.toLowerCase();
  }
  const parent =
    params.previewDomain ?? (params.domain === undefined ? undefined : `preview.${params.domain}`);
  return parent === undefined ? undefined : `${env}.${parent}`.toLowerCase();
}

/**
 * `<env>-<app>` as one DNS label. One longer than 63 characters keeps its start and ends in
 * `-<6 hex of sha256(env/app)>`, so two long names that share a start still differ.
 */
export function flatLabel(environment: string, app: string): string {
  const label = `${environment}-${app}`;
  if (label.length <= DNS_LABEL_MAX) return label;
  const hash = createHash('sha256')
    .update(`${environment}/${app}`, 'utf8')
    .digest('hex')
    .slice(0, HASH_LENGTH);
  const start = label.slice(0, DNS_LABEL_MAX - HASH_LENGTH - 1).replace(/-+$/, '');
  return `${start}-${hash}`;
}

/** `203.0.113.10` → `203-0-113-10`; `2001:db8::1` → `2001-db8--1` (sslip.io's own forms). */
export function sslipLabel(ip: string): string {
  const version = isIP(ip);
  if (version === 4) return ip.replaceAll('.', '-');
  if (version === 6 && !ip.includes('%') && !ip.includes('.')) {
    return ip.toLowerCase().replaceAll(':', '-');
  }
  throw new TossError(
    `cannot derive an sslip.io name from ${JSON.stringify(ip)}: not an IP address`,
  );
}

/** sslip.io names share certificate rate limits; the doors print this once. */
export function usesSslip(hostName: string): boolean {
  return hostName.endsWith('.sslip.io');
}
