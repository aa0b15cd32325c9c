import type { ReferenceObject } from '@nestjs/swagger';
import { SchemaName, SCHEMAS } from '../openapi/schemas';

// Documentation only: the serializer has no use for them.
const DOCUMENTATION_KEYWORDS = new Set(['description', 'example', 'examples']);

const REF_PREFIX = '#/components/schemas/';

/**
 * A component of the OpenAPI document as a self-contained JSON schema for
 * Fastify's response serializer (fast-json-stringify): the document and the
 * bytes on the wire come from one definition, and a 200 is serialized by
 * code compiled for its shape rather than by JSON.stringify.
 */
export function responseSchema(name: SchemaName): Record<string, unknown> {
  return inline(SCHEMAS[name]) as Record<string, unknown>;
}

function inline(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(inline);
  if (schema === null || typeof schema !== 'object') return schema;
  const ref = (schema as ReferenceObject).$ref;
  if (typeof ref === 'string') {
    if (!ref.startsWith(REF_PREFIX)) throw new Error(`Unsupported schema reference ${ref}`);
    return inline(SCHEMAS[ref.slice(REF_PREFIX.length) as SchemaName]);
  }
  return Object.fromEntries(
    Object.entries(schema as Record<string, unknown>)
      .filter(([key]) => !DOCUMENTATION_KEYWORDS.has(key))
      .map(([key, value]) => [key, key === 'properties' ? inlineProperties(value as Record<string, unknown>) : inline(value)]),
  );
}

// Property names are data here, not keywords: a property called `description` stays.
function inlineProperties(properties: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, inline(value)]));
}
