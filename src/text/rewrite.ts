/**
 * Replacing the references found in a text, span by span. Never a search-and-replace: 'a.jpg' beside
 * 'a.jpg.webp', or the same URL in an `alt`, must not change with it. Every byte outside the spans
 * stays as it was.
 */

import { encodeFor } from './escapes.ts';
import type { TextReference } from './types.ts';

export interface Rewritten {
  text: string;
  /** How many references were replaced (not the ones the replacement declined, nor unsafe ones). */
  rewritten: number;
}

/**
 * `replacement` gives the new absolute URL for a reference, or undefined to leave it. The reference's
 * query string and fragment follow the new URL, and the result is escaped for the spot it sits in.
 * Unsafe references are never passed to `replacement`.
 */
export function rewriteReferences(
  text: string,
  refs: readonly TextReference[],
  replacement: (ref: TextReference) => string | undefined,
): Rewritten {
  const ordered = [...refs].sort((a, b) => a.start - b.start);
  const parts: string[] = [];
  let at = 0;
  let previousEnd = 0;
  let rewritten = 0;
  for (const ref of ordered) {
    if (ref.start < previousEnd) throw new RangeError(`references overlap at ${ref.start}: they were not found in one scan of this text`);
    previousEnd = ref.end;
    // A text edited since it was scanned would get its new bytes overwritten: refuse instead.
    if (text.slice(ref.start, ref.end) !== ref.written) {
      throw new RangeError(`reference ${JSON.stringify(ref.written)} is not at ${ref.start} in this text: it was found in another`);
    }
    if (ref.unsafe) continue;
    const url = replacement(ref);
    if (url === undefined) continue;
    checkReplacement(url, ref);
    parts.push(text.slice(at, ref.start), encodeFor(withSuffix(url, ref.suffix), ref.escaping));
    at = ref.end;
    rewritten++;
  }
  if (rewritten === 0) return { text, rewritten };
  parts.push(text.slice(at));
  return { text: parts.join(''), rewritten };
}

/** What the pipeline writes into a user's text must be a plain absolute http(s) URL. */
function checkReplacement(url: string, ref: TextReference): void {
  if (!/^https?:\/\/[^/?#\s]+/i.test(url) || /[\x00-\x20\x7f]/.test(url)) {
    throw new TypeError(`replacement ${JSON.stringify(url)} for ${JSON.stringify(ref.url)} is not an absolute http(s) URL`);
  }
}

/**
 * The new URL followed by the old query string and fragment. A new URL with its own query (the SDK
 * appends '?_a=...') takes the old one after '&'; the old fragment wins over a new one.
 */
export function withSuffix(url: string, suffix: string): string {
  if (suffix === '') return url;
  const hash = url.indexOf('#');
  const base = hash < 0 ? url : url.slice(0, hash);
  const fragment = hash < 0 ? '' : url.slice(hash);
  const suffixHash = suffix.indexOf('#');
  const query = suffixHash < 0 ? suffix : suffix.slice(0, suffixHash);
  const oldFragment = suffixHash < 0 ? '' : suffix.slice(suffixHash);
  const joined = query.length <= 1 ? base : base.includes('?') ? `${base}&${query.slice(1)}` : base + query;
  return joined + (oldFragment || fragment);
}
