/**
 * The strings of a JSON text, each decoded with a map back to the raw text, so a URL found in the
 * decoded string ('<img src="/media/a.jpg">') has its span in the raw one ('<img src=\"\/media\/a.jpg\">').
 */

import type { View } from './types.ts';

export interface JsonString {
  view: View;
  /** Raw offsets of the string's content, between its quotes. */
  start: number;
  end: number;
}

/** The text is JSON when it looks like an object or array and parses as one. */
export function isJsonText(text: string): boolean {
  const first = /\S/.exec(text);
  if (!first || (first[0] !== '{' && first[0] !== '[')) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every string value of a JSON text that `isJsonText` accepted. Object keys are skipped: they name
 * fields, and rewriting one could merge two of them. In valid JSON every '"' outside a string opens
 * one, so a plain search for the next '"' walks the text in one pass.
 */
export function* jsonStrings(raw: string): Generator<JsonString> {
  let i = 0;
  for (;;) {
    const open = raw.indexOf('"', i);
    if (open < 0) return;
    const start = open + 1;
    let end = start;
    let escaped = false;
    for (;;) {
      const c = raw.charCodeAt(end);
      if (c === 0x22 || end >= raw.length) break;
      if (c === 0x5c) {
        escaped = true;
        end += 2;
      } else end++;
    }
    i = end + 1;
    let k = i;
    while (k < raw.length && /\s/.test(raw[k]!)) k++;
    if (raw[k] === ':') continue;
    yield { view: escaped ? decodedView(raw, start, end) : plainView(raw.slice(start, end), start), start, end };
  }
}

export function plainView(text: string, base: number): View {
  return { text, raw: (i) => base + i };
}

/**
 * Decodes JSON string content natively, and keeps only where each escape sits: a raw offset is then
 * a binary search over the escapes, two numbers per escape rather than one per character.
 */
function decodedView(raw: string, start: number, end: number): View {
  const text = JSON.parse(raw.slice(start - 1, end + 1)) as string;
  // For escape k: the decoded index of the character it stands for, and where the escape starts.
  const decodedAt: number[] = [];
  const rawAt: number[] = [];
  const width = (j: number) => (raw[j + 1] === 'u' ? 6 : 2);
  let extra = 0; // raw characters so far beyond the decoded ones
  for (let j = raw.indexOf('\\', start); j >= 0 && j < end; j = raw.indexOf('\\', j)) {
    decodedAt.push(j - start - extra);
    rawAt.push(j);
    extra += width(j) - 1;
    j += width(j);
  }
  return {
    text,
    raw(i) {
      let lo = 0;
      let hi = decodedAt.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (decodedAt[mid]! <= i) lo = mid + 1;
        else hi = mid - 1;
      }
      if (hi < 0) return start + i; // before the first escape
      const at = decodedAt[hi]!;
      const escape = rawAt[hi]!;
      return i === at ? escape : escape + width(escape) + (i - at - 1);
    },
  };
}
