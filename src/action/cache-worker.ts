/**
 * A worker thread that makes one call to GitHub's cache service and reports its result. The
 * cache client and the Azure storage SDK it brings (megabytes of code) load and run here, off
 * the action's main thread, whose event loop meanwhile opens the SSH connection and streams the
 * build: loading them never delays either.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type CacheOp, callCache } from './cache-client.js';
import type { CachePlan } from './cache-plan.js';

const { op, plan } = workerData as { op: CacheOp; plan: CachePlan };
parentPort?.postMessage(await callCache(op, plan));
