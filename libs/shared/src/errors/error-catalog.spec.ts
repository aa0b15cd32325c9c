import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ERRORS } from './error-catalog';

const DOC_PATH = resolve(__dirname, '../../../../docs/errors.md');
const COLUMNS = ['errorCode', 'HTTP status', 'errorSource', 'name', 'when'];

interface DocumentedError {
  code: number;
  status: number;
  source: string;
  name: string;
  when: string;
}

const cellsOf = (line: string): string[] =>
  line
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());

/** The one table of docs/errors.md: a header row, a separator row, then one row per code. */
function readDocumentedErrors(markdown: string): { header: string[]; rows: DocumentedError[] } {
  const tableLines = markdown.split('\n').filter((line) => line.trim().startsWith('|'));
  const [headerLine, separator, ...rowLines] = tableLines;
  expect(separator).toMatch(/^\|(\s*-{3,}\s*\|)+$/);
  const rows = rowLines.map((line) => {
    const [code, status, source, name, when] = cellsOf(line);
    return { code: Number(code), status: Number(status), source, name, when };
  });
  return { header: cellsOf(headerLine), rows };
}

describe('docs/errors.md', () => {
  const { header, rows } = readDocumentedErrors(readFileSync(DOC_PATH, 'utf8'));
  const catalog = Object.entries(ERRORS).map(([name, definition]) => ({ name, ...definition }));

  it('should have the agreed columns when the table is read', () => {
    expect(header).toEqual(COLUMNS);
  });

  it.each(catalog)('should document $name ($code) with the catalog code, status and source', (entry) => {
    const documented = rows.filter((row) => row.name === entry.name);

    expect(documented).toHaveLength(1);
    expect(documented[0]).toMatchObject({ code: entry.code, status: entry.status, source: entry.source });
  });

  it('should list only codes that the catalog has when read row by row', () => {
    const known = new Map(catalog.map((entry) => [entry.code, entry.name]));

    for (const row of rows) {
      expect({ code: row.code, name: known.get(row.code) }).toEqual({ code: row.code, name: row.name });
    }
    expect(rows).toHaveLength(catalog.length);
  });

  it('should give every code once when the doc and the catalog are read', () => {
    const documentedCodes = rows.map((row) => row.code);
    const catalogCodes = catalog.map((entry) => entry.code);

    expect(new Set(documentedCodes).size).toBe(documentedCodes.length);
    expect(new Set(catalogCodes).size).toBe(catalogCodes.length);
  });

  it('should say when each error happens when a row is read', () => {
    for (const row of rows) {
      expect({ name: row.name, when: row.when.length > 0 }).toEqual({ name: row.name, when: true });
    }
  });

  it('should only use integer codes and 4xx/5xx statuses when a row is read', () => {
    for (const row of rows) {
      expect(Number.isInteger(row.code)).toBe(true);
      expect(row.status >= 400 && row.status <= 599).toBe(true);
    }
  });
});
