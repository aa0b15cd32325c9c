/**
 * Runs a service's bootstrap; a start-up failure (a configuration error lists
 * every bad variable) prints its reason and exits 1.
 */
export function runService(name: string, bootstrap: () => Promise<void>): void {
  bootstrap().catch((error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${name}: failed to start. ${reason}\n`);
    process.exit(1);
  });
}
