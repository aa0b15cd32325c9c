import { parse } from 'lossless-json';
import { JsonNumber } from './xuid';

/**
 * JSON.parse that keeps every number as a {@link JsonNumber} holding its source
 * text, so an XUID written as a bare number above 2^53 reaches us exactly.
 */
export function parseJsonLossless(text: string): unknown {
  return parse(text, null, (value: string) => new JsonNumber(value));
}
