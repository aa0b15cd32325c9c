export type Cleanup = () => Promise<unknown>;

/**
 * The cleanups a test registers (push onto the returned list), run after each
 * test, last registered first, so what was started last stops first.
 */
export function cleanupsAfterEach(): Cleanup[] {
  const cleanups: Cleanup[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return cleanups;
}
