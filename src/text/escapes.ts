/**
 * Undoing and redoing the escapes of the containers a URL can sit in. Decoding must agree with how a
 * browser or a Markdown renderer reads the text, or the name we upload is not the file the page shows;
 * encoding must give back a text that reads as the new URL and nothing more.
 */

import type { Escaping } from './types.ts';

// Editors write '&amp;' and, with TinyMCE's default `entity_encoding: 'named'`, Latin-1 names
// (`caf&eacute;.jpg`). The full HTML table (2,231 names) buys nothing for file names; an unknown name
// is left as written, the way a browser leaves an unknown one.
const LATIN1 = (
  'nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 ' +
  'acute micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde ' +
  'Auml Aring AElig Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute ' +
  'Ocirc Otilde Ouml times Oslash Ugrave Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde ' +
  'auml aring aelig ccedil egrave eacute ecirc euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc ' +
  'otilde ouml divide oslash ugrave uacute ucirc uuml yacute thorn yuml'
).split(' ');

const NAMED = new Map<string, string>([
  ['amp', '&'],
  ['lt', '<'],
  ['gt', '>'],
  ['quot', '"'],
  ['apos', "'"],
  ...LATIN1.map((name, i): [string, string] => [name, String.fromCharCode(160 + i)]),
  ['OElig', '\u0152'],
  ['oelig', '\u0153'],
  ['Scaron', '\u0160'],
  ['scaron', '\u0161'],
  ['ndash', '\u2013'],
  ['mdash', '\u2014'],
  ['lsquo', '\u2018'],
  ['rsquo', '\u2019'],
  ['ldquo', '\u201c'],
  ['rdquo', '\u201d'],
  ['hellip', '\u2026'],
  ['euro', '\u20ac'],
  ['trade', '\u2122'],
]);

const REFERENCE_SOURCE = '&(?:#(\\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));';
const REFERENCE = new RegExp(REFERENCE_SOURCE, 'g');
// In Markdown a backslash before ASCII punctuation makes it literal, including before '&'.
const MARKDOWN = new RegExp('\\\\([!-/:-@[-`{-~])|' + REFERENCE_SOURCE, 'g');
/** An '&' that a reader would take as the start of a character reference. */
const LOOKS_LIKE_REFERENCE = /&(?=#?[A-Za-z0-9]+;)/g;

function character(whole: string, decimal?: string, hex?: string, name?: string): string {
  if (name !== undefined) return NAMED.get(name) ?? whole;
  const code = decimal !== undefined ? Number.parseInt(decimal, 10) : Number.parseInt(hex ?? '', 16);
  // What the HTML tokenizer does with NUL, surrogates and out-of-range numbers.
  if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return '\ufffd';
  return String.fromCodePoint(code);
}

/** An HTML attribute value as the browser reads it. A reference needs its ';' (no legacy forms). */
export function decodeCharacterReferences(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(REFERENCE, (whole, d?: string, h?: string, n?: string) => character(whole, d, h, n));
}

/** A Markdown link destination as CommonMark reads it: backslash escapes, then character references. */
export function decodeMarkdownDestination(value: string): string {
  if (!value.includes('\\') && !value.includes('&')) return value;
  return value.replace(MARKDOWN, (whole, escaped?: string, d?: string, h?: string, n?: string) =>
    escaped !== undefined ? escaped : character(whole, d, h, n),
  );
}

/**
 * Whether an attribute value writes '&' as '&amp;'. A value without any '&' says nothing, and then
 * '&amp;' is the answer that is correct HTML everywhere.
 */
export function usesAmpEntity(value: string): boolean {
  if (!value.includes('&') || /&amp;/i.test(value)) return true;
  return !/&(?!#?[A-Za-z0-9]+;)/.test(value);
}

/** Whether a JSON string's raw text writes any non-ASCII character as \uXXXX, or writes one raw. */
export function jsonUnicodeStyle(raw: string): 'escaped' | 'raw' | 'unknown' {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c > 0x7f) return 'raw';
    if (c !== 0x5c) continue;
    if (raw[i + 1] === 'u' && Number.parseInt(raw.slice(i + 2, i + 6), 16) > 0x7f) return 'escaped';
    i++; // the escaped character, so that '\\u00e9' is not read as an escape
  }
  return 'unknown';
}

const percent = (ch: string) => '%' + ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');

/**
 * The URL written for its spot. Characters that would end or split the spot are escaped the way the
 * container allows, so the spot reads back as exactly this URL; whitespace, which no escape keeps in a
 * URL token, is percent-encoded (the same URL to a browser).
 */
export function encodeFor(url: string, escaping: Escaping): string {
  let s = url;
  // Each step first asks whether it has anything to do: a rewrite runs this once per reference.
  if (escaping.markdown === 'plain') {
    if (/[\x00-\x20\x7f()<>\\&]/.test(s)) {
      s = s.replace(/[\x00-\x20\x7f]/g, percent).replace(/[()<>\\]/g, '\\$&').replace(LOOKS_LIKE_REFERENCE, '\\&');
    }
  } else if (escaping.markdown === 'angle') {
    if (/[\r\n<>\\&]/.test(s)) s = s.replace(/[\r\n]/g, percent).replace(/[<>\\]/g, '\\$&').replace(LOOKS_LIKE_REFERENCE, '\\&');
  } else if (escaping.markdown === 'autolink') {
    s = s.replace(/[\x00-\x20\x7f<>]/g, percent);
  }
  if (escaping.srcset) s = s.replace(/[\t\n\f\r ]/g, percent).replace(/^,|,$/g, '%2C');
  if (escaping.html && /[&"'`<>\t\n\f\r ]/.test(s)) s = encodeAttribute(s, escaping.html.quote, escaping.html.amp);
  if (escaping.json) {
    if (/["\\\x00-\x1f]/.test(s)) s = JSON.stringify(s).slice(1, -1);
    if (escaping.json.slash) s = s.replaceAll('/', '\\/');
    if (escaping.json.unicode && /[^\x00-\x7f]/.test(s)) {
      s = s.replace(/[^\x00-\x7f]/g, (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'));
    }
  }
  return s;
}

function encodeAttribute(value: string, quote: '"' | "'" | '', amp: boolean): string {
  const s = value.replace(amp ? /&/g : LOOKS_LIKE_REFERENCE, '&amp;');
  if (quote === '"') return s.replace(/"/g, '&quot;');
  if (quote === "'") return s.replace(/'/g, '&#39;');
  return s
    .replace(/[\t\n\f\r ]/g, percent)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(/`/g, '&#96;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}
