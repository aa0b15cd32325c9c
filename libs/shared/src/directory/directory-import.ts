import { DataSource } from 'typeorm';
import { COMMUNICATION_SETTINGS, CommunicationSetting } from '../database/entities/user.entity';
import { JsonNumber, parseJsonLossless, parseXuidValue, Xuid } from '../xuid';
import {
  DirectoryImportRepository,
  ImportPair,
  ImportUserOutcome,
  ImportUserRow,
  isGamertagClash,
} from './directory-import.repository';
import { isPossibleGamertag } from './gamertag';

export const DIRECTORY_IMPORT_BATCH_SIZE = 1000;

/** How often (in lines read) progress is reported between batches. */
const PROGRESS_EVERY_LINES = 1000;

export interface DirectoryImportRejection {
  /** 1-based, counting blank lines. */
  line: number;
  reason: string;
}

export interface DirectoryImportProgress {
  linesRead: number;
  applied: number;
  rejected: number;
}

export interface DirectoryImportSummary {
  linesRead: number;
  users: { created: number; updated: number; unchanged: number };
  friendships: { created: number; alreadyPresent: number };
  blocks: { created: number; alreadyPresent: number };
  /** Every rejected line, in line order. */
  rejections: DirectoryImportRejection[];
}

export interface DirectoryImportOptions {
  /** Lines per statement and transaction. */
  batchSize?: number;
  /** Called often (after every batch and every few hundred lines); throttle it yourself. */
  onProgress?: (progress: DirectoryImportProgress) => void;
}

type RelationshipKind = 'friendship' | 'block';

type ParsedLine = { kind: 'user'; row: ImportUserRow } | { kind: RelationshipKind; pair: ImportPair };

interface Numbered<T> {
  line: number;
  item: T;
}

/** Imports `lines` into the directory behind `dataSource`; see {@link DirectoryImport}. */
export function importDirectory(
  dataSource: DataSource,
  lines: AsyncIterable<string> | Iterable<string>,
  options: DirectoryImportOptions = {},
): Promise<DirectoryImportSummary> {
  return new DirectoryImport(new DirectoryImportRepository(dataSource), options).run(lines);
}

/**
 * Imports users, friendships and blocks from JSON lines (docs/directory-import.md).
 * Users are applied while reading; relationships are buffered and applied
 * afterwards, so they may name users that appear later in the file. Each batch
 * commits on its own: a fatal error leaves earlier batches applied. Bad lines
 * are rejected with a reason and never stop the import.
 */
export class DirectoryImport {
  private readonly batchSize: number;
  private readonly summary: DirectoryImportSummary = {
    linesRead: 0,
    users: { created: 0, updated: 0, unchanged: 0 },
    friendships: { created: 0, alreadyPresent: 0 },
    blocks: { created: 0, alreadyPresent: 0 },
    rejections: [],
  };
  private userBatch: Numbered<ImportUserRow>[] = [];
  private readonly userBatchXuids = new Set<Xuid>();
  private readonly userBatchGamertags = new Map<string, Xuid>();
  private readonly friendships: Numbered<ImportPair>[] = [];
  private readonly blocks: Numbered<ImportPair>[] = [];

  constructor(
    private readonly repository: DirectoryImportRepository,
    private readonly options: DirectoryImportOptions = {},
  ) {
    this.batchSize = options.batchSize ?? DIRECTORY_IMPORT_BATCH_SIZE;
  }

  /** Runs once per instance. */
  async run(lines: AsyncIterable<string> | Iterable<string>): Promise<DirectoryImportSummary> {
    for await (const text of lines) {
      const line = ++this.summary.linesRead;
      const parsed = parseLine(line === 1 ? text.replace(/^\uFEFF/, '') : text);
      if (parsed === null) continue;
      if (typeof parsed === 'string') this.reject(line, parsed);
      else if (parsed.kind === 'user') await this.addUser({ line, item: parsed.row });
      else (parsed.kind === 'friendship' ? this.friendships : this.blocks).push({ line, item: parsed.pair });
      if (line % PROGRESS_EVERY_LINES === 0) this.reportProgress();
    }
    await this.flushUsers();
    await this.applyRelationships('friendship', this.friendships);
    await this.applyRelationships('block', this.blocks);
    this.summary.rejections.sort((a, b) => a.line - b.line);
    this.reportProgress();
    return this.summary;
  }

  private async addUser(entry: Numbered<ImportUserRow>): Promise<void> {
    // The file is applied in order: a second row for the same XUID, or one taking
    // a gamertag claimed earlier in this batch, waits until that batch is stored
    // so the database decides as it would line by line.
    const key = entry.item.gamertag.toLowerCase();
    const claimedBy = this.userBatchGamertags.get(key);
    if (this.userBatchXuids.has(entry.item.xuid) || (claimedBy !== undefined && claimedBy !== entry.item.xuid)) {
      await this.flushUsers();
    }
    this.userBatch.push(entry);
    this.userBatchXuids.add(entry.item.xuid);
    this.userBatchGamertags.set(key, entry.item.xuid);
    if (this.userBatch.length >= this.batchSize) await this.flushUsers();
  }

  private async flushUsers(): Promise<void> {
    const batch = this.userBatch;
    if (batch.length === 0) return;
    this.userBatch = [];
    this.userBatchXuids.clear();
    this.userBatchGamertags.clear();

    let outcomes: ImportUserOutcome[];
    try {
      const written = await this.repository.transaction((manager) =>
        this.repository.upsertUsers(
          batch.map((entry) => entry.item),
          manager,
        ),
      );
      outcomes = batch.map((entry) => written.get(entry.item.xuid) ?? 'unchanged');
    } catch (error) {
      // A gamertag held in the database, or one JavaScript's toLowerCase missed
      // (it and Postgres's lower() disagree on some letters): redo the batch row
      // by row to reject only the culprits.
      if (!isGamertagClash(error)) throw error;
      outcomes = await this.repository.transaction(async (manager) => {
        const results: ImportUserOutcome[] = [];
        for (const entry of batch) results.push(await this.repository.upsertUserAlone(entry.item, manager));
        return results;
      });
    }

    batch.forEach((entry, index) => {
      const outcome = outcomes[index];
      if (typeof outcome === 'string') {
        this.summary.users[outcome]++;
      } else {
        const holder = outcome.heldBy === null ? '' : ` (${outcome.heldBy})`;
        this.reject(entry.line, `gamertag "${entry.item.gamertag}" is held by another user${holder}`);
      }
    });
    this.reportProgress();
  }

  private async applyRelationships(kind: RelationshipKind, entries: Numbered<ImportPair>[]): Promise<void> {
    let batch: Numbered<ImportPair>[] = [];
    const keys = new Set<string>();
    for (const entry of entries) {
      // A repeated pair goes to the next batch, where it finds the first one stored.
      const key = pairKey(kind, entry.item);
      if (keys.has(key)) {
        await this.flushRelationships(kind, batch);
        batch = [];
        keys.clear();
      }
      batch.push(entry);
      keys.add(key);
      if (batch.length >= this.batchSize) {
        await this.flushRelationships(kind, batch);
        batch = [];
        keys.clear();
      }
    }
    await this.flushRelationships(kind, batch);
    entries.length = 0;
  }

  private async flushRelationships(kind: RelationshipKind, batch: Numbered<ImportPair>[]): Promise<void> {
    if (batch.length === 0) return;
    const named = [...new Set(batch.flatMap((entry) => [entry.item.a, entry.item.b]))];
    const { known, inserted } = await this.repository.transaction(async (manager) => {
      const known = await this.repository.lockExistingUsers(named, manager);
      const pairs = batch.filter((entry) => known.has(entry.item.a) && known.has(entry.item.b)).map((entry) => entry.item);
      const inserted =
        kind === 'friendship'
          ? await this.repository.insertFriendships(pairs, manager)
          : await this.repository.insertBlocks(pairs, manager);
      return { known, inserted };
    });

    // A friendship line counts as created when either direction was missing.
    const created = new Set(inserted.map((pair) => pairKey(kind, pair)));
    const counts = kind === 'friendship' ? this.summary.friendships : this.summary.blocks;
    for (const entry of batch) {
      const missing = [entry.item.a, entry.item.b].filter((xuid) => !known.has(xuid));
      if (missing.length > 0) {
        const who = missing.length === 1 ? `user ${missing[0]} is` : `users ${missing.join(' and ')} are`;
        this.reject(entry.line, `${who} not in the directory`);
      } else if (created.has(pairKey(kind, entry.item))) {
        counts.created++;
      } else {
        counts.alreadyPresent++;
      }
    }
    this.reportProgress();
  }

  private reject(line: number, reason: string): void {
    this.summary.rejections.push({ line, reason });
  }

  private reportProgress(): void {
    if (!this.options.onProgress) return;
    const { users, friendships, blocks } = this.summary;
    this.options.onProgress({
      linesRead: this.summary.linesRead,
      applied:
        users.created +
        users.updated +
        users.unchanged +
        friendships.created +
        friendships.alreadyPresent +
        blocks.created +
        blocks.alreadyPresent,
      rejected: this.summary.rejections.length,
    });
  }
}

/** Friendships are mutual, so their key ignores the order; blocks have a direction. */
function pairKey(kind: RelationshipKind, pair: ImportPair): string {
  if (kind === 'block' || pair.a < pair.b) return `${pair.a} ${pair.b}`;
  return `${pair.b} ${pair.a}`;
}

/** The line's content, null for a blank line, or why it is rejected. */
function parseLine(text: string): ParsedLine | string | null {
  if (text.trim() === '') return null;
  let value: unknown;
  try {
    value = parseJsonLossless(text);
  } catch (error) {
    return `invalid JSON: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object';
  const record = value as Record<string, unknown>;

  switch (record.type) {
    case 'user':
      return parseUser(record);
    case 'friendship':
      return parsePair(record, 'friendship', 'friendXuid', 'a user cannot be their own friend');
    case 'block':
      return parsePair(record, 'block', 'blockedXuid', 'a user cannot block themselves');
    case undefined:
      return 'missing "type"';
    default:
      return `unknown type ${describe(record.type)} (expected "user", "friendship" or "block")`;
  }
}

function parseUser(record: Record<string, unknown>): ParsedLine | string {
  const xuid = parseXuidValue(record.xuid);
  if (xuid === null) return invalidXuid('xuid', record.xuid);
  if (!isPossibleGamertag(record.gamertag)) {
    return record.gamertag === undefined
      ? 'missing "gamertag"'
      : `gamertag ${describe(record.gamertag)} is not a possible gamertag`;
  }
  const communication = record.communication ?? null;
  if (communication !== null && !COMMUNICATION_SETTINGS.includes(communication as CommunicationSetting)) {
    return `communication ${describe(communication)} is not one of ${COMMUNICATION_SETTINGS.join(', ')}`;
  }
  return {
    kind: 'user',
    row: { xuid, gamertag: record.gamertag, communication: communication as CommunicationSetting | null },
  };
}

function parsePair(
  record: Record<string, unknown>,
  kind: RelationshipKind,
  otherProperty: string,
  selfReason: string,
): ParsedLine | string {
  const a = parseXuidValue(record.xuid);
  if (a === null) return invalidXuid('xuid', record.xuid);
  const b = parseXuidValue(record[otherProperty]);
  if (b === null) return invalidXuid(otherProperty, record[otherProperty]);
  if (a === b) return selfReason;
  return { kind, pair: { a, b } };
}

function invalidXuid(property: string, value: unknown): string {
  return value === undefined ? `missing "${property}"` : `${property} ${describe(value)} is not a valid XUID`;
}

/** A short rendering of a JSON value for a rejection reason. */
function describe(value: unknown): string {
  if (value instanceof JsonNumber) return value.text;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'boolean') return String(value);
  // All else a parsed JSON value can be (its numbers are JsonNumber): undefined, when the property is absent.
  return typeof value;
}
