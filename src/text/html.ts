/**
 * The URL-holding attributes of HTML tags, found with a single forward pass that follows the HTML
 * tokenizer's rules for tags and attribute values (quotes, unquoted values, comments, script and
 * style bodies). Enough of HTML to know where an attribute value starts and ends, nothing more: a
 * regex over the text would take '/media/' in prose or in an `alt` for a reference.
 */

import { decodeCharacterReferences, usesAmpEntity } from './escapes.ts';
import type { Candidate, Escaping } from './types.ts';

/** Attributes whose whole (trimmed) value is one URL. */
const URL_ATTRIBUTES = new Set(['src', 'href', 'poster', 'data-src']);
/** Attributes holding a comma-separated list of "url descriptor" candidates (lazysizes uses data-srcset). */
const SRCSET_ATTRIBUTES = new Set(['srcset', 'data-srcset']);
const NAME_LENGTHS = new Set([...URL_ATTRIBUTES, ...SRCSET_ATTRIBUTES, 'data'].map((name) => name.length));
const RAW_TEXT_END: Record<string, RegExp> = { script: /<\/script/gi, style: /<\/style/gi };

export interface HtmlScan {
  candidates: Candidate[];
  /**
   * Spans that are not Markdown text (attribute values, comments, script and style bodies), flat as
   * start, end, start, end... in text order: a page has thousands, and pairs would be as many objects.
   */
  opaque: number[];
}

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
const isAlpha = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** A tag's lowercased name, made only for the tags that hold a reference or a raw-text body. */
class TagName {
  #value: string | undefined;
  constructor(
    private readonly t: string,
    private readonly start: number,
    private readonly end: number,
  ) {}
  get value(): string {
    return (this.#value ??= this.t.slice(this.start, this.end).toLowerCase());
  }
}

export function scanHtml(t: string): HtmlScan {
  const scan: HtmlScan = { candidates: [], opaque: [] };
  const n = t.length;
  let i = 0;
  while (i < n) {
    const lt = t.indexOf('<', i);
    if (lt < 0) break;
    if (t.startsWith('<!--', lt)) {
      const close = t.indexOf('-->', lt + 4);
      i = close < 0 ? n : close + 3;
      scan.opaque.push(lt, i);
      continue;
    }
    // '</p>', '< b', '<3' are not start tags; their attributes, if any, mean nothing.
    if (!isAlpha(t.charCodeAt(lt + 1))) {
      i = lt + 1;
      continue;
    }
    let j = lt + 1;
    while (j < n && !isSpace(t.charCodeAt(j)) && t[j] !== '/' && t[j] !== '>') j++;
    // '<https://shop.example.com/media/a.pdf>' is a Markdown autolink, not a tag named 'https:'.
    if (t[j - 1] === ':' && t[j] === '/') {
      i = j;
      continue;
    }
    const tag = new TagName(t, lt + 1, j);
    i = scanAttributes(t, j, tag, scan);
    const rawEnd = j - lt - 1 === 5 || j - lt - 1 === 6 ? RAW_TEXT_END[tag.value] : undefined;
    if (rawEnd) {
      rawEnd.lastIndex = i;
      const close = rawEnd.exec(t);
      const end = close ? close.index : n;
      scan.opaque.push(i, end);
      i = end;
    }
  }
  return scan;
}

/** Reads a tag's attributes from `j` (just after its name); returns where the tag ends. */
function scanAttributes(t: string, from: number, tag: TagName, scan: HtmlScan): number {
  const n = t.length;
  let j = from;
  for (;;) {
    while (j < n && (isSpace(t.charCodeAt(j)) || t[j] === '/')) j++;
    if (j >= n) return n;
    if (t[j] === '>') return j + 1;
    const nameStart = j++; // a name may start with '=', per the tokenizer
    while (j < n && !isSpace(t.charCodeAt(j)) && t[j] !== '/' && t[j] !== '>' && t[j] !== '=') j++;
    // Only names as long as one we look for are worth a string ('class', 'style', 'alt' are not).
    const name = NAME_LENGTHS.has(j - nameStart) ? t.slice(nameStart, j).toLowerCase() : '';
    let k = j;
    while (k < n && isSpace(t.charCodeAt(k))) k++;
    if (t[k] !== '=') {
      j = k;
      continue;
    }
    k++;
    while (k < n && isSpace(t.charCodeAt(k))) k++;
    const q = t[k];
    let start: number;
    let end: number;
    let quote: '"' | "'" | '';
    if (q === '"' || q === "'") {
      start = k + 1;
      end = t.indexOf(q, start);
      // An unclosed quote runs to the end of the text, and the browser drops the whole tag.
      if (end < 0) return n;
      j = end + 1;
      quote = q;
    } else {
      start = k;
      while (k < n && !isSpace(t.charCodeAt(k)) && t[k] !== '>') k++;
      end = k;
      j = k;
      quote = '';
    }
    scan.opaque.push(start, end);
    if (URL_ATTRIBUTES.has(name) || (name === 'data' && tag.value === 'object')) {
      urlValue(t, start, end, tag.value, name, quote, scan.candidates);
    } else if (SRCSET_ATTRIBUTES.has(name)) {
      srcsetValue(t, start, end, tag.value, name, quote, scan.candidates);
    }
  }
}

type Quote = '"' | "'" | '';

/** One shared escaping object per kind of spot: a page has thousands of URLs and a handful of kinds. */
const ESCAPINGS: Escaping[] = [];
function escapingOf(quote: Quote, amp: boolean, srcset: boolean): Escaping {
  const key = (quote === '"' ? 0 : quote === "'" ? 4 : 8) + (amp ? 2 : 0) + (srcset ? 1 : 0);
  const known = ESCAPINGS[key];
  if (known) return known;
  const html = Object.freeze({ quote, amp });
  return (ESCAPINGS[key] = Object.freeze(srcset ? { html, srcset: true } : { html }));
}

function urlValue(t: string, start: number, end: number, tag: string, attribute: string, quote: Quote, out: Candidate[]) {
  const amp = usesAmpEntity(t.slice(start, end));
  // Browsers strip the leading and trailing whitespace of a URL attribute; the span leaves it out.
  let s = start;
  let e = end;
  while (s < e && isSpace(t.charCodeAt(s))) s++;
  while (e > s && isSpace(t.charCodeAt(e - 1))) e--;
  if (s === e) return;
  // A browser's URL parser drops every tab and line break, so '/media/a\n.jpg' asks for '/media/a.jpg'.
  const url = decodeCharacterReferences(t.slice(s, e)).replace(/[\t\n\r]/g, '');
  out.push({ start: s, end: e, url, where: 'html', tag, attribute, escaping: escapingOf(quote, amp, false) });
}

/**
 * Each candidate URL of a srcset, split the way the HTML standard's srcset parser does: a URL is a run
 * of non-whitespace (commas inside it are kept: Cloudinary's 'w_320,c_fill' has them), trailing
 * commas end it, and descriptors run to the next comma outside parentheses.
 */
function srcsetValue(t: string, start: number, end: number, tag: string, attribute: string, quote: Quote, out: Candidate[]) {
  const amp = usesAmpEntity(t.slice(start, end));
  let p = start;
  while (p < end) {
    while (p < end && (isSpace(t.charCodeAt(p)) || t[p] === ',')) p++;
    if (p >= end) return;
    const urlStart = p;
    while (p < end && !isSpace(t.charCodeAt(p))) p++;
    let urlEnd = p;
    const bareUrl = t[urlEnd - 1] === ',';
    while (urlEnd > urlStart && t[urlEnd - 1] === ',') urlEnd--;
    if (urlEnd > urlStart) {
      const url = decodeCharacterReferences(t.slice(urlStart, urlEnd));
      out.push({ start: urlStart, end: urlEnd, url, where: 'srcset', tag, attribute, escaping: escapingOf(quote, amp, true) });
    }
    if (bareUrl) continue;
    let depth = 0;
    while (p < end) {
      const c = t[p++];
      if (c === '(') depth++;
      else if (c === ')') depth = Math.max(0, depth - 1);
      else if (c === ',' && depth === 0) break;
    }
  }
}
