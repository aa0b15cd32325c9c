/**
 * Bulk-imports users, friendships and blocks from a JSON-lines file
 * (docs/directory-import.md):
 *   npm run directory:import -- users.jsonl      (or - for standard input)
 * Exit codes: 0 every line applied, 2 some lines rejected (the rest applied),
 * 1 fatal error.
 */
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { loadConfigFromEnvironment, SharedConfig } from '@app/shared/config';
import { createDataSourceOptions } from '@app/shared/database/database.options';
import { DirectoryImportProgress, DirectoryImportSummary, importDirectory } from '@app/shared/directory/directory-import';
import { runService } from '@app/shared/http/boot';

const NAME = 'directory:import';
const USAGE = 'usage: npm run directory:import -- <file.jsonl | ->';
const EXIT_FATAL = 1;
const EXIT_REJECTED = 2;
const SHOWN_REJECTIONS = 20;
const PROGRESS_INTERVAL_MS = 1000;

runService(NAME, async () => {
  const { positionals } = parseArgs({ allowPositionals: true });
  if (positionals.length !== 1) throw new Error(USAGE);
  const [path] = positionals;
  const config = loadConfigFromEnvironment(SharedConfig);
  // Opened before anything else so a missing file fails at once.
  const input: Readable = path === '-' ? process.stdin : (await open(path)).createReadStream();
  const dataSource = new DataSource({ ...createDataSourceOptions(config), logging: false });
  await dataSource.initialize();

  const started = Date.now();
  let progress: DirectoryImportProgress = { linesRead: 0, applied: 0, rejected: 0 };
  let printedAt = started;
  const onProgress = (next: DirectoryImportProgress): void => {
    progress = next;
    const now = Date.now();
    if (now - printedAt < PROGRESS_INTERVAL_MS) return;
    printedAt = now;
    process.stderr.write(`${NAME}: ${next.linesRead} lines read, ${next.applied} applied, ${next.rejected} rejected\n`);
  };

  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    const summary = await importDirectory(dataSource, lines, { onProgress });
    process.stdout.write(formatSummary(summary, Date.now() - started));
    if (summary.rejections.length > 0) process.exitCode = EXIT_REJECTED;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      `${NAME}: failed after ${progress.linesRead} lines read: ${reason} (batches stored before the failure are kept)\n`,
    );
    process.exitCode = EXIT_FATAL;
  } finally {
    lines.close();
    input.destroy();
    await dataSource.destroy().catch(() => undefined);
  }
});

function formatSummary(summary: DirectoryImportSummary, elapsedMs: number): string {
  const { users, friendships, blocks, rejections } = summary;
  const out = [
    `${NAME}: done in ${(elapsedMs / 1000).toFixed(1)}s`,
    `  users: ${users.created} created, ${users.updated} updated, ${users.unchanged} unchanged`,
    `  friendships: ${friendships.created} created, ${friendships.alreadyPresent} already present`,
    `  blocks: ${blocks.created} created, ${blocks.alreadyPresent} already present`,
    `  rejected: ${rejections.length} ${rejections.length === 1 ? 'line' : 'lines'}`,
    ...rejections.slice(0, SHOWN_REJECTIONS).map((rejection) => `    line ${rejection.line}: ${rejection.reason}`),
  ];
  if (rejections.length > SHOWN_REJECTIONS) out.push(`    ... and ${rejections.length - SHOWN_REJECTIONS} more`);
  return `${out.join('\n')}\n`;
}
