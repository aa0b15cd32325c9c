// Below Kubernetes' default 30 s grace period: a shutdown that hangs (a BullMQ
// worker still reconnecting after a Redis blip, say) ends the process instead.
const SHUTDOWN_DEADLINE_MS = 25_000;

/**
 * Runs a service's bootstrap; a start-up failure (a configuration error lists
 * every bad variable) prints its reason and exits 1. Once a stop signal
 * arrives, the process ends within the shutdown deadline whatever happens.
 */
export function runService(name: string, bootstrap: () => Promise<void>): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        process.stderr.write(`${name}: shutdown did not finish in ${SHUTDOWN_DEADLINE_MS} ms; exiting\n`);
        process.exit(1);
      }, SHUTDOWN_DEADLINE_MS).unref();
    });
  }
  bootstrap().catch((error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${name}: failed to start. ${reason}\n`);
    process.exit(1);
  });
}
