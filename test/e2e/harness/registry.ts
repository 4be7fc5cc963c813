/** The hosts this process booted, torn down on shutdownAll(), exit, Ctrl-C or a crash. */
import { type Lease, readLease, stopLease, stopLeasesSync } from './lease.js';

const live = new Map<string, Lease>();
const stopping = new Map<Lease, Promise<void>>();
let signalled = false;
let handlersInstalled = false;

function current(lease: Lease): Lease {
  // nspawn/init PIDs are added to the lease file as the boot goes on.
  return readLease(lease.dir) ?? lease;
}

export function track(lease: Lease): void {
  live.set(lease.dir, lease);
  installHandlers();
}

/** Stops a host this process booted; concurrent or later calls share the one teardown. */
export function stopTracked(lease: Lease): Promise<void> {
  const pending = stopping.get(lease);
  if (pending) return pending;
  // Identity, not index: once freed, the same index may already be another process's host.
  if (live.get(lease.dir) !== lease) return Promise.resolve();
  const p = stopLease(current(lease)).finally(() => {
    live.delete(lease.dir);
    stopping.delete(lease);
  });
  stopping.set(lease, p);
  return p;
}

/** True once a signal started tearing everything down (callers then stay quiet and wait). */
export function shuttingDown(): boolean {
  return signalled;
}

export async function shutdownAll(): Promise<void> {
  const results = await Promise.allSettled([...live.values()].map((l) => stopTracked(l)));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0)
    throw new AggregateError(
      failed.map((f) => f.reason),
      'toss-testhost: teardown failed',
    );
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // 'exit' allows only synchronous work: covers crashes and plain process.exit().
  process.on('exit', () => {
    if (live.size === 0) return;
    // A lease file already gone was cleaned up by an async stop that got this far.
    const leases = [...live.values()].flatMap((l) => readLease(l.dir) ?? []);
    live.clear();
    try {
      stopLeasesSync(leases);
    } catch (e) {
      console.error('toss-testhost: teardown at exit failed:', e);
    }
  });
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    // `on`, not `once`: a second Ctrl-C must not kill us halfway through the teardown.
    process.on(signal, () => {
      if (signalled) return;
      signalled = true;
      if (live.size > 0)
        console.error(`toss-testhost: ${signal}: shutting down ${live.size} host(s)`);
      shutdownAll()
        .catch((e: unknown) => console.error('toss-testhost: teardown failed:', e))
        .finally(() => process.exit(code));
    });
  }
}
