/**
 * Markdown link destinations: inline links and images `[t](url "title")`, reference definitions
 * `[id]: url`, autolinks `<https://...>`. Each is recognised by the syntax around the destination
 * (CommonMark's rules for where a destination starts and ends), so '/media/' in a sentence is not one.
 * Every search resumes past what it has read, which keeps the scan linear on any input.
 */

import { decodeMarkdownDestination } from './escapes.ts';
import type { Candidate } from './types.ts';

const isBlank = (c: string | undefined) => c === ' ' || c === '\t';

export function scanMarkdown(t: string): Candidate[] {
  const out: Candidate[] = [];
  inlineLinks(t, out);
  definitions(t, out);
  autolinks(t, out);
  return out;
}

interface Destination {
  start: number;
  end: number;
  angle: boolean;
  /** Just past the destination (past its '>' when angle-bracketed). */
  next: number;
}

/** Spaces and tabs with at most one line ending among them, as CommonMark allows around a destination. */
function skipLinkSpace(t: string, p: number): number {
  while (isBlank(t[p])) p++;
  if (t[p] === '\r') p++;
  if (t[p] === '\n') p++;
  while (isBlank(t[p])) p++;
  return p;
}

/**
 * A destination starting at `p`, or `failedAt`: how far it was read before it could not be one. A plain
 * destination ends at whitespace or at a ')' that closes nothing; its parentheses must balance.
 */
function destination(t: string, p: number): Destination | { failedAt: number } {
  const n = t.length;
  if (t[p] === '<') {
    let q = p + 1;
    while (q < n) {
      const c = t[q];
      if (c === '\\' && q + 1 < n && t[q + 1] !== '\n') q += 2;
      else if (c === '>') return { start: p + 1, end: q, angle: true, next: q + 1 };
      else if (c === '<' || c === '\n' || c === '\r') return { failedAt: q };
      else q++;
    }
    return { failedAt: n };
  }
  let q = p;
  let depth = 0;
  while (q < n) {
    const c = t.charCodeAt(q);
    if (c === 0x5c && /[!-/:-@[-`{-~]/.test(t[q + 1] ?? '')) q += 2;
    else if (c <= 0x20 || c === 0x7f) break;
    else if (c === 0x28) depth++, q++;
    else if (c === 0x29) {
      if (depth === 0) break;
      depth--, q++;
    } else q++;
  }
  if (q === p || depth !== 0) return { failedAt: q };
  return { start: p, end: q, angle: false, next: q };
}

function candidate(t: string, d: Destination): Candidate {
  const url = decodeMarkdownDestination(t.slice(d.start, d.end));
  return { start: d.start, end: d.end, url, where: 'markdown', escaping: { markdown: d.angle ? 'angle' : 'plain' } };
}

/** After an inline destination: the link's ')' or, after whitespace, a title. */
function closesInline(t: string, p: number): boolean {
  const q = skipLinkSpace(t, p);
  if (t[q] === ')') return true;
  return q > p && (t[q] === '"' || t[q] === "'" || t[q] === '(');
}

function inlineLinks(t: string, out: Candidate[]): void {
  let from = 0;
  for (;;) {
    const at = t.indexOf('](', from);
    if (at < 0) return;
    const d = destination(t, skipLinkSpace(t, at + 2));
    if ('failedAt' in d) {
      // Resuming where the failed read stopped keeps the scan linear. A failed '<...' stopped at a
      // '<' or a line end, so no destination is lost; a plain one stopped at whitespace with its
      // parentheses open, and the only links lost are ones glued inside it ('](a(](/media/x.png)').
      from = Math.max(at + 2, d.failedAt);
      continue;
    }
    from = Math.max(at + 2, d.next);
    if (closesInline(t, d.next)) out.push(candidate(t, d));
  }
}

/** `[label]: destination` at the start of a line (up to three spaces in), the destination maybe on the next line. */
function definitions(t: string, out: Candidate[]): void {
  const n = t.length;
  for (let line = 0; line < n; ) {
    const eol = t.indexOf('\n', line);
    const lineEnd = eol < 0 ? n : eol;
    let p = line;
    while (p < line + 3 && t[p] === ' ') p++;
    if (t[p] === '[') {
      let q = p + 1;
      while (q < lineEnd && t[q] !== ']' && t[q] !== '[') q += t[q] === '\\' ? 2 : 1;
      if (t[q] === ']' && t[q + 1] === ':' && q > p + 1) {
        const d = destination(t, skipLinkSpace(t, q + 2));
        // Only the end of the line or a title may follow; '[x]: /a.png and more' is a paragraph.
        if (!('failedAt' in d) && d.end > d.start) {
          let r = d.next;
          while (isBlank(t[r])) r++;
          const after = t[r];
          const title = r > d.next && (after === '"' || after === "'" || after === '(');
          if (after === undefined || after === '\n' || after === '\r' || title) out.push(candidate(t, d));
        }
      }
    }
    line = lineEnd + 1;
  }
}

/** `<https://shop.example.com/media/a.pdf>`: no escapes inside, no spaces, no '<'. */
function autolinks(t: string, out: Candidate[]): void {
  const opener = /<(?=https?:\/\/)/gi;
  for (let m = opener.exec(t); m; m = opener.exec(t)) {
    const start = m.index + 1;
    let q = start;
    while (q < t.length && t.charCodeAt(q) > 0x20 && t[q] !== '<' && t[q] !== '>' && t.charCodeAt(q) !== 0x7f) q++;
    if (t[q] === '>') {
      out.push({ start, end: q, url: t.slice(start, q), where: 'markdown', escaping: { markdown: 'autolink' } });
    }
    opener.lastIndex = q;
  }
}
