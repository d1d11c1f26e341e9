/**
 * Finding the media files a text column references. The text is HTML, Markdown, or JSON whose
 * strings hold URLs, HTML or Markdown; a URL counts only where markup puts a URL (an attribute, a
 * link destination, a whole JSON string), and only when it points under MEDIA_URL on this site.
 */

import { jsonUnicodeStyle } from './escapes.ts';
import { scanHtml } from './html.ts';
import { isJsonText, jsonStrings, plainView } from './json.ts';
import { scanMarkdown } from './markdown.ts';
import { compileSettings, mediaTarget, type MediaSettings } from './media-url.ts';
import type { Candidate, Escaping, ReferenceSettings, TextReference, View, Where } from './types.ts';

export type { Escaping, ReferenceSettings, TextReference, Where } from './types.ts';

/** Every reference to a file under MEDIA_ROOT, in text order, unsafe ones included (with `unsafe` set). */
export function findReferences(text: string, settings: ReferenceSettings): TextReference[] {
  const m = compileSettings(settings);
  const refs: TextReference[] = [];
  if (isJsonText(text)) {
    // Python's json.dumps escapes every non-ASCII character by default, PostgreSQL's jsonb never
    // does: a string that shows neither follows the rest of the document.
    const documentUnicode = !/[^\x00-\x7f]/.test(text);
    for (const s of jsonStrings(text)) {
      const at = refs.length;
      if (!wholeValue(s.view, 'json', m, refs)) scanView(s.view, m, refs);
      if (refs.length === at) continue;
      const own = jsonUnicodeStyle(text.slice(s.start, s.end));
      const unicode = own === 'unknown' ? documentUnicode : own === 'escaped';
      for (const ref of refs.slice(at)) {
        ref.escaping = { ...ref.escaping, json: { slash: text.slice(ref.start, ref.end).includes('\\/'), unicode } };
      }
    }
  } else {
    const view = plainView(text, 0);
    if (!wholeValue(view, 'bare', m, refs)) scanView(view, m, refs);
  }
  for (const ref of refs) ref.written = text.slice(ref.start, ref.end);
  return refs;
}

/** The distinct file names of the references that can be rewritten, in the order they first appear. */
export function referencedNames(refs: readonly TextReference[]): string[] {
  return [...new Set(refs.filter((ref) => !ref.unsafe).map((ref) => ref.name))];
}

/**
 * A JSON string, or a whole column, that is exactly one URL of ours. A value with whitespace is a
 * sentence, not a URL ('/media/ holds the uploads'): URLs percent-encode their spaces.
 */
function wholeValue(view: View, where: Where, m: MediaSettings, refs: TextReference[]): boolean {
  const url = view.text;
  if (url === '' || /\s/.test(url)) return false;
  const found = reference(view, { start: 0, end: url.length, url, where, escaping: {} }, m);
  if (found) refs.push(found);
  return found !== undefined;
}

/**
 * HTML and Markdown both: Markdown columns hold inline HTML, and an HTML column's prose may carry a
 * Markdown link. A Markdown match inside an attribute value, a comment or a script is not a link.
 */
function scanView(view: View, m: MediaSettings, refs: TextReference[]): void {
  const t = view.text;
  if (!t.includes('/')) return; // most JSON strings: titles, captions, ids

  const html = scanHtml(t);
  const markdown = scanMarkdown(t)
    .filter((c) => !inside(html.opaque, c.start))
    .sort((a, b) => a.start - b.start);
  let last = -1;
  for (const c of merged(html.candidates, markdown)) {
    if (c.start < last) continue;
    const ref = reference(view, c, m);
    if (!ref) continue;
    refs.push(ref);
    last = c.end;
  }
}

/** Two lists sorted by start, as one (the HTML scanner's list is in text order already). */
function* merged(a: readonly Candidate[], b: readonly Candidate[]): Generator<Candidate> {
  let j = 0;
  for (const c of a) {
    while (j < b.length && b[j]!.start < c.start) yield b[j++]!;
    yield c;
  }
  while (j < b.length) yield b[j++]!;
}

/** Whether `at` falls in one of the spans, given flat as start, end... in order, not overlapping. */
function inside(spans: readonly number[], at: number): boolean {
  let lo = 0;
  let hi = spans.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (at < spans[2 * mid]!) hi = mid - 1;
    else if (at >= spans[2 * mid + 1]!) lo = mid + 1;
    else return true;
  }
  return false;
}

function reference(view: View, c: Candidate, m: MediaSettings): TextReference | undefined {
  const target = mediaTarget(c.url, m);
  if (!target) return undefined;
  const start = view.raw(c.start);
  const end = view.raw(c.end);
  const ref: TextReference = {
    start,
    end,
    written: '',
    url: c.url,
    name: target.name,
    suffix: target.suffix,
    where: c.where,
    escaping: c.escaping,
  };
  if (c.tag !== undefined) ref.tag = c.tag;
  if (c.attribute !== undefined) ref.attribute = c.attribute;
  if (target.relative) ref.relative = true;
  if (target.unsafe !== undefined) ref.unsafe = target.unsafe;
  return ref;
}
