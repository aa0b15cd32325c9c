/**
 * Every value of header `name` (lower case) as the client sent it. Node keeps
 * only the first of some repeated headers (Authorization) and joins others
 * with ", " (Idempotency-Key), so a repeat can be seen only in the raw list.
 */
export function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].length === name.length && rawHeaders[i].toLowerCase() === name) values.push(rawHeaders[i + 1]);
  }
  return values;
}
