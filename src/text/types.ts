/**
 * The shapes the text scanners share. Kept apart from the scanners so that `rewrite.ts` can take a
 * reference without pulling in the code that found it.
 */

export interface ReferenceSettings {
  /** Django's MEDIA_URL as a path: starts and ends with '/', e.g. '/media/'. */
  mediaUrl: string;
  /** The site's own origins, e.g. ['https://shop.example.com']: absolute URLs count only on these. */
  mediaOrigins: string[];
}

/** Which kind of spot a URL was written in; each one is re-encoded its own way on rewrite. */
export type Where =
  | 'html' // an attribute holding one URL: src, href, poster, data-src, <object data>
  | 'srcset' // one candidate of a srcset / data-srcset list
  | 'markdown' // an inline link or image, a reference definition, an autolink
  | 'json' // a JSON string whose whole value is the URL
  | 'bare'; // the whole text is the URL

/**
 * How the URL had to be escaped where it sits, innermost container last: a URL in an attribute of
 * HTML held in a JSON string has both `html` and `json`. The rewrite writes the new URL the same way.
 */
export interface Escaping {
  /** Inside a JSON string: whether '/' was written '\/', and non-ASCII as \uXXXX. */
  readonly json?: { readonly slash: boolean; readonly unicode: boolean };
  /** Inside an HTML attribute value: its quote ('' when unquoted), and whether '&' is written '&amp;'. */
  readonly html?: { readonly quote: '"' | "'" | ''; readonly amp: boolean };
  /** A srcset candidate: whitespace and a leading or trailing comma would split it. */
  readonly srcset?: boolean;
  /** A Markdown destination: plain `(url)`, `(<url>)`, or an autolink `<url>`. */
  readonly markdown?: 'plain' | 'angle' | 'autolink';
}

export interface TextReference {
  /** Span in the original text of the URL exactly as written (escapes included). */
  start: number;
  end: number;
  /** text.slice(start, end) */
  written: string;
  /** The URL once the containers' escaping is undone (JSON escapes, HTML character references...). */
  url: string;
  /** The file's name relative to MEDIA_ROOT, percent-decoded (UTF-8): 'uploads/2024/03/été.jpg'. */
  name: string;
  /** Query string and fragment of `url` ('?v=2#page=3' or ''), kept after the new URL. */
  suffix: string;
  where: Where;
  /** For 'html' and 'srcset': the element and attribute, lowercased ('img', 'src'). */
  tag?: string;
  attribute?: string;
  /** A page-relative URL (TinyMCE's '../../media/x.jpg'): its target depends on the page's depth. */
  relative?: boolean;
  /** Why the name is not a file under MEDIA_ROOT (one line, naming the reference): reported, never rewritten. */
  unsafe?: string;
  /** Shared between references of the same kind: read it, do not change it. */
  escaping: Escaping;
}

/** A piece of text to scan, and where each of its characters sits in the original text. */
export interface View {
  text: string;
  /** Offset in the original text of `text[i]`; `raw(text.length)` is where the piece ends. */
  raw(i: number): number;
}

/** A URL a scanner found in a view, before we know whether it is ours. */
export interface Candidate {
  start: number;
  end: number;
  url: string;
  where: Where;
  tag?: string;
  attribute?: string;
  escaping: Escaping;
}
