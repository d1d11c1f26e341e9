import { describe, expect, it } from 'vitest';
import { findReferences, referencedNames, type ReferenceSettings, type TextReference } from '../src/text/references.ts';
import { rewriteReferences, withSuffix } from '../src/text/rewrite.ts';

/**
 * Finding and rewriting media URLs inside text columns, one piece: the fixtures are shared and each is what an editor really
 * stores (CKEditor 4/5, TinyMCE, Summernote, markdownx, Editor.js), and every assertion is exact:
 * spans, names, suffixes, and the bytes around them.
 */

const S: ReferenceSettings = { mediaUrl: '/media/', mediaOrigins: ['https://shop.example.com', 'https://www.shop.example.com'] };
const CLOUD = 'https://res.cloudinary.com/demo/image/upload/v1/media/';
/** What the pipeline will pass: the asset's delivery URL, here built from the name. */
const toCloudinary = (ref: TextReference) => CLOUD + encodeURI(ref.name);

const find = (text: string) => findReferences(text, S);
/** The fields that say what was found, one row per reference. */
const rows = (text: string) => find(text).map((r) => [r.where, r.written, r.name, r.suffix]);
const names = (text: string) => find(text).map((r) => r.name);

/**
 * Asserts that `after` is `before` with only the references' spans changed, each into one of `into`
 * (in order): every other byte must be where it was.
 */
function expectOnlySpansChanged(before: string, after: string, refs: TextReference[], into: string[]) {
  const sorted = [...refs].sort((a, b) => a.start - b.start);
  expect(sorted).toHaveLength(into.length);
  let expected = '';
  let at = 0;
  sorted.forEach((ref, i) => {
    expected += before.slice(at, ref.start) + into[i];
    at = ref.end;
  });
  expect(after).toBe(expected + before.slice(at));
}

describe('HTML attributes', () => {
  it('finds <img src> root-relative, absolute on both origins and protocol-relative, with exact spans', () => {
    const text =
      '<p>Hi</p><img src="/media/uploads/2024/03/08/a.jpg" style="width:50%">' +
      '<img src="https://shop.example.com/media/b.jpg"><img src="https://WWW.Shop.Example.com:443/media/c.jpg">' +
      '<img src="//shop.example.com/media/d.jpg">';
    const refs = find(text);
    const span = (written: string) => [text.indexOf(written), text.indexOf(written) + written.length];
    expect(refs.map((r) => [r.start, r.end, r.name, r.tag, r.attribute])).toEqual([
      [19, 50, 'uploads/2024/03/08/a.jpg', 'img', 'src'],
      [...span('https://shop.example.com/media/b.jpg'), 'b.jpg', 'img', 'src'],
      [...span('https://WWW.Shop.Example.com:443/media/c.jpg'), 'c.jpg', 'img', 'src'],
      [...span('//shop.example.com/media/d.jpg'), 'd.jpg', 'img', 'src'],
    ]);
    for (const r of refs) expect(text.slice(r.start, r.end)).toBe(r.written);
    expect(refs[0]).toEqual({
      start: 19,
      end: 50,
      written: '/media/uploads/2024/03/08/a.jpg',
      url: '/media/uploads/2024/03/08/a.jpg',
      name: 'uploads/2024/03/08/a.jpg',
      suffix: '',
      where: 'html',
      tag: 'img',
      attribute: 'src',
      escaping: { html: { quote: '"', amp: true } },
    });
  });

  it('reads single-quoted, unquoted and spaced values, attribute names in any case, and drops tabs and line breaks as a browser does', () => {
    const text = `<IMG SRC='/media/a.jpg'><img src=/media/b.jpg alt=x><img Data-Src = " /media/c.jpg\n" ><img/src="/media/d.jpg"><img src="/media/uploads/\n\tlong.jpg">`;
    expect(rows(text)).toEqual([
      ['html', '/media/a.jpg', 'a.jpg', ''],
      ['html', '/media/b.jpg', 'b.jpg', ''],
      ['html', '/media/c.jpg', 'c.jpg', ''],
      ['html', '/media/d.jpg', 'd.jpg', ''],
      ['html', '/media/uploads/\n\tlong.jpg', 'uploads/long.jpg', ''],
    ]);
    expect(find(text).map((r) => [r.tag, r.attribute, r.escaping.html?.quote]).slice(0, 4)).toEqual([
      ['img', 'src', "'"],
      ['img', 'src', ''],
      ['img', 'data-src', '"'],
      ['img', 'src', '"'],
    ]);
  });

  it('takes each srcset candidate as its own reference, with widths or densities', () => {
    const widths = '<img src="/media/a.jpg" srcset="/media/a-320.jpg 320w, /media/a-640.jpg 640w,/media/a-1280.jpg 1280w" sizes="50vw">';
    expect(rows(widths)).toEqual([
      ['html', '/media/a.jpg', 'a.jpg', ''],
      ['srcset', '/media/a-320.jpg', 'a-320.jpg', ''],
      ['srcset', '/media/a-640.jpg', 'a-640.jpg', ''],
      ['srcset', '/media/a-1280.jpg', 'a-1280.jpg', ''],
    ]);
    const densities = `<picture><source srcset='/media/a.webp 1x, /media/a@2x.webp 2x' type="image/webp"><img srcset="/media/a.jpg, /media/a@2x.jpg 2x"></picture>`;
    expect(rows(densities)).toEqual([
      ['srcset', '/media/a.webp', 'a.webp', ''],
      ['srcset', '/media/a@2x.webp', 'a@2x.webp', ''],
      ['srcset', '/media/a.jpg', 'a.jpg', ''],
      ['srcset', '/media/a@2x.jpg', 'a@2x.jpg', ''],
    ]);
    // A URL with commas inside (Cloudinary's transformations) is one candidate, and not ours.
    const mixed = `<img srcset="${CLOUD.replace('v1/', 'w_320,c_fill/v1/')}a.jpg 320w, /media/a-640.jpg 640w">`;
    expect(rows(mixed)).toEqual([['srcset', '/media/a-640.jpg', 'a-640.jpg', '']]);
  });

  it('finds <a href> to a PDF, <video src>/<source src>/poster, CKEditor 5 figures and <object data>', () => {
    const text =
      '<p><a href="/media/docs/manual.pdf">Manual</a></p>' +
      '<video src="/media/v/clip.mp4" poster="/media/v/poster.jpg" controls><source src="/media/v/clip.webm" type="video/webm"></video>' +
      '<figure class="image"><img src="/media/uploads/photo%20one.jpg"><figcaption>/media/ caption</figcaption></figure>' +
      '<object data="/media/docs/plan.pdf" type="application/pdf"></object><div data="/media/not-a-url.txt"></div>';
    expect(find(text).map((r) => [r.tag, r.attribute, r.name])).toEqual([
      ['a', 'href', 'docs/manual.pdf'],
      ['video', 'src', 'v/clip.mp4'],
      ['video', 'poster', 'v/poster.jpg'],
      ['source', 'src', 'v/clip.webm'],
      ['img', 'src', 'uploads/photo one.jpg'],
      ['object', 'data', 'docs/plan.pdf'],
    ]);
  });

  it('undoes character references in attributes: &amp; in the query, TinyMCE\'s named &eacute;', () => {
    const text = '<a href="/media/a.pdf?x=1&amp;y=2#p">a</a><img src="/media/caf&eacute;&#32;menu.jpg">';
    expect(find(text).map((r) => [r.written, r.url, r.name, r.suffix, r.escaping.html?.amp])).toEqual([
      ['/media/a.pdf?x=1&amp;y=2#p', '/media/a.pdf?x=1&y=2#p', 'a.pdf', '?x=1&y=2#p', true],
      ['/media/caf&eacute;&#32;menu.jpg', '/media/café menu.jpg', 'café menu.jpg', '', true],
    ]);
    expect(find('<a href="/media/a.pdf?x=1&y=2">a</a>')[0]?.escaping.html).toEqual({ quote: '"', amp: false });
  });

  it('leaves other hosts, Cloudinary, data:, mailto:, http: on an https origin, and credentials alone', () => {
    const text =
      '<img src="https://cdn.other.org/media/a.jpg"><img src="' + CLOUD + 'uploads/x.jpg">' +
      '<img src="//res.cloudinary.com/demo/image/upload/v1/media/y.jpg"><img src="data:image/png;base64,iVBORw0KGgo/media/">' +
      '<a href="mailto:me@example.com?subject=/media/a.jpg">m</a><img src="http://shop.example.com/media/http.jpg">' +
      '<img src="https://shop.example.com@evil.test/media/a.jpg"><img src="https://evil.test/?u=https://shop.example.com/media/a.jpg">' +
      '<img src="/mediafiles/a.jpg"><img src="media/a.jpg"><img src="./media/a.jpg"><img src="shop.example.com/media/a.jpg">';
    expect(find(text)).toEqual([]);
  });

  it('does not take /media/ in prose, alt text, comments or scripts for a reference', () => {
    const text =
      '<p>We keep files in /media/ on the server, e.g. /media/uploads/a.jpg.</p>' +
      '<img alt="/media/b.jpg" title="see](/media/c.jpg)" src="/media/d.jpg">' +
      '<!-- <img src="/media/old.jpg"> --><script>var s = "<img src=\'/media/e.jpg\'>";</script><style>a{}</style>' +
      '<p>a < b and c<d src="/media/f.jpg"></p>';
    expect(names(text)).toEqual(['d.jpg', 'f.jpg']);
  });

  it('is not fooled into a reference by a folder, an unclosed quote or a closing tag', () => {
    expect(find('<a href="/media/">all</a><a href="/media/uploads/">up</a><a href="/media/a/./">x</a>')).toEqual([]);
    expect(find('<img src="/media/a.jpg')).toEqual([]);
    expect(find('</img src="/media/a.jpg">')).toEqual([]);
  });

  it('takes TinyMCE page-relative ../../media/ URLs, marked relative', () => {
    const refs = find('<img src="../../media/uploads/t.jpg"><img src="../media/u.jpg">');
    expect(refs.map((r) => [r.name, r.relative])).toEqual([
      ['uploads/t.jpg', true],
      ['u.jpg', true],
    ]);
    expect(find('<img src="/media/a.jpg">')[0]?.relative).toBeUndefined();
  });
});

describe('Markdown', () => {
  it('finds inline links and images, titles and <...> destinations', () => {
    const text = 'See [the manual](/media/docs/manual.pdf) and\n![alt *text*](/media/markdownx/1b2c.png "A title")\n[spaced](</media/my file.pdf>) [esc](/media/a\\(1\\).png) [paren](/media/b(2).png)';
    expect(find(text).map((r) => [r.written, r.name, r.escaping.markdown])).toEqual([
      ['/media/docs/manual.pdf', 'docs/manual.pdf', 'plain'],
      ['/media/markdownx/1b2c.png', 'markdownx/1b2c.png', 'plain'],
      ['/media/my file.pdf', 'my file.pdf', 'angle'],
      ['/media/a\\(1\\).png', 'a(1).png', 'plain'],
      ['/media/b(2).png', 'b(2).png', 'plain'],
    ]);
  });

  it('finds reference-style definitions and autolinks', () => {
    const text = '![logo][l] and [doc]\n\n[l]: /media/logo.png "Logo"\n  [doc]:\n   <https://shop.example.com/media/d.pdf>\n[x]: /media/x.png trailing words\nMail <https://www.shop.example.com/media/e.pdf?dl=1> now';
    expect(rows(text)).toEqual([
      ['markdown', '/media/logo.png', 'logo.png', ''],
      ['markdown', 'https://shop.example.com/media/d.pdf', 'd.pdf', ''],
      ['markdown', 'https://www.shop.example.com/media/e.pdf?dl=1', 'e.pdf', '?dl=1'],
    ]);
    expect(find(text).map((r) => r.escaping.markdown)).toEqual(['plain', 'angle', 'autolink']);
  });

  it('finds both inline HTML and Markdown in one column, once each', () => {
    const text = '# Post\n<img src="/media/a.png">\n\n![b](/media/b.png)\n<a href="/media/c.pdf">[c](/media/d.pdf)</a>';
    expect(names(text)).toEqual(['a.png', 'b.png', 'c.pdf', 'd.pdf']);
  });

  it('leaves a bracket that is not a link, and an empty or unbalanced destination, alone', () => {
    expect(find('arr[i](/media/ x) [a]() [b](/media/c.png [d](/media/(e.png)')).toEqual([]);
  });
});

describe('JSON columns', () => {
  it('finds Editor.js / Draft.js block URLs, skipping keys', () => {
    const text = '{"time":1,"blocks":[{"type":"image","data":{"file":{"url":"/media/x.png"},"caption":"/media/ photo"}},{"type":"attaches","data":{"file":{"url":"https:\\/\\/shop.example.com\\/media\\/y.pdf"}}}],"/media/key.png":1}';
    const refs = find(text);
    expect(refs.map((r) => [r.where, r.written, r.url, r.name, r.escaping.json])).toEqual([
      ['json', '/media/x.png', '/media/x.png', 'x.png', { slash: false, unicode: true }],
      ['json', 'https:\\/\\/shop.example.com\\/media\\/y.pdf', 'https://shop.example.com/media/y.pdf', 'y.pdf', { slash: true, unicode: true }],
    ]);
    for (const r of refs) expect(text.slice(r.start, r.end)).toBe(r.written);
  });

  it('maps HTML inside a JSON string back to the raw text: \\/, \\u00e9 and \\" around the value', () => {
    const text = '{"html": "<p>Caf\\u00e9</p><img src=\\"\\/media\\/uploads\\/caf\\u00e9.jpg\\" srcset=\\"\\/media\\/a.jpg 1x, \\/media\\/a@2x.jpg 2x\\">"}';
    const refs = find(text);
    expect(refs.map((r) => [r.where, r.start, r.written, r.url, r.name])).toEqual([
      ['html', 37, '\\/media\\/uploads\\/caf\\u00e9.jpg', '/media/uploads/café.jpg', 'uploads/café.jpg'],
      ['srcset', 80, '\\/media\\/a.jpg', '/media/a.jpg', 'a.jpg'],
      ['srcset', 99, '\\/media\\/a@2x.jpg', '/media/a@2x.jpg', 'a@2x.jpg'],
    ]);
    expect(text.indexOf('\\/media\\/a.jpg')).toBe(80);
    expect(text.indexOf('\\/media\\/a@2x.jpg')).toBe(99);
    for (const r of refs) expect(text.slice(r.start, r.end)).toBe(r.written);
    expect(refs[0]?.escaping).toEqual({ html: { quote: '"', amp: true }, json: { slash: true, unicode: true } });
  });

  it('keeps the offsets right after \\\\, astral \\u escapes and \\n', () => {
    const text = '{"a": "C:\\\\dir \\ud83d\\ude00\\n<img src=\\"/media/a.jpg\\"> \\u00e9 [b](\\/media\\/b.png)"}';
    const refs = find(text);
    expect(refs.map((r) => [r.where, r.written, r.name])).toEqual([
      ['html', '/media/a.jpg', 'a.jpg'],
      ['markdown', '\\/media\\/b.png', 'b.png'],
    ]);
    expect(refs.map((r) => r.start)).toEqual([text.indexOf('/media/a.jpg'), text.indexOf('\\/media\\/b.png')]);
    const out = rewriteReferences(text, refs, (ref) => CLOUD + ref.name);
    expect(JSON.parse(out.text)).toEqual({ a: `C:\\dir \u{1F600}\n<img src="${CLOUD}a.jpg"> é [b](${CLOUD}b.png)` });
    expect(out.text).toContain(`[b](${CLOUD.replaceAll('/', '\\/')}b.png)`);
  });

  it('reads a jsonb-style document (raw Unicode, plain slashes) and Markdown inside a string', () => {
    const text = '[{"body": "Voir ![été](/media/été.png) et [doc](/media/d.pdf)"}, {"src": "/media/caf%C3%A9.png"}]';
    expect(find(text).map((r) => [r.where, r.name, r.escaping.json])).toEqual([
      ['markdown', 'été.png', { slash: false, unicode: false }],
      ['markdown', 'd.pdf', { slash: false, unicode: false }],
      ['json', 'café.png', { slash: false, unicode: false }],
    ]);
  });

  it('does not take a string with spaces for a URL, nor Markdown that merely starts with [', () => {
    expect(find('{"caption": "/media/a.jpg is the photo", "n": "/media/b.jpg"}').map((r) => r.name)).toEqual(['b.jpg']);
    expect(rows('[x](/media/x.png) is not JSON')).toEqual([['markdown', '/media/x.png', 'x.png', '']]);
  });
});

describe('names, suffixes and unsafe references', () => {
  it('gives percent-encoded and raw Unicode spellings of one file the same name; + stays +', () => {
    const text = '<img src="/media/uploads/caf%C3%A9%20menu.jpg"><img src="/media/uploads/café menu.jpg"><img src="/media/uploads/cafe%CC%81.jpg"><img src="/media/a+b.jpg">';
    expect(names(text)).toEqual(['uploads/café menu.jpg', 'uploads/café menu.jpg', 'uploads/cafe\u0301.jpg', 'a+b.jpg']);
    expect(referencedNames(find(text))).toEqual(['uploads/café menu.jpg', 'uploads/cafe\u0301.jpg', 'a+b.jpg']);
  });

  it('splits off the query string and fragment, and drops . segments as a browser does', () => {
    expect(rows('<a href="/media/a.pdf?v=2#page=3">x</a><a href="/media/b.pdf#top">y</a><img src="/media/./c/./d.jpg">')).toEqual([
      ['html', '/media/a.pdf?v=2#page=3', 'a.pdf', '?v=2#page=3'],
      ['html', '/media/b.pdf#top', 'b.pdf', '#top'],
      ['html', '/media/./c/./d.jpg', 'c/d.jpg', ''],
    ]);
  });

  it('reports traversal, NUL, backslashes, absolute names and malformed percent-encoding as unsafe', () => {
    const text =
      '<img src="/media/../settings.py"><img src="/media/a/%2e%2e/%2e%2e/etc/passwd"><img src="/media/%00x.jpg">' +
      '<img src="/media/a\\..\\..\\x.py"><img src="/media/%2Fetc/passwd"><img src="/media//etc/passwd"><img src="/media/C:/x.jpg">' +
      '<img src="/media/%E9t%E9.jpg"><img src="/media/100%.jpg"><img src="https://shop.example.com/media/a/../../b.jpg">';
    expect(find(text).map((r) => r.unsafe)).toEqual([
      'reference "/media/../settings.py" leaves MEDIA_ROOT',
      'reference "/media/a/%2e%2e/%2e%2e/etc/passwd" leaves MEDIA_ROOT',
      'reference "/media/%00x.jpg" names a NUL byte',
      'reference "/media/a\\\\..\\\\..\\\\x.py" has a backslash, which browsers read as "/"',
      'reference "/media/%2Fetc/passwd" names an absolute path',
      'reference "/media//etc/passwd" names an absolute path',
      'reference "/media/C:/x.jpg" names an absolute path',
      'reference "/media/%E9t%E9.jpg" has malformed percent-encoding',
      'reference "/media/100%.jpg" has malformed percent-encoding',
      'reference "https://shop.example.com/media/a/../../b.jpg" leaves MEDIA_ROOT',
    ]);
    expect(referencedNames(find(text))).toEqual([]);
  });

  it('takes a column that is exactly one URL, but not a sentence', () => {
    expect(rows('https://shop.example.com/media/a.pdf')).toEqual([['bare', 'https://shop.example.com/media/a.pdf', 'a.pdf', '']]);
    expect(find('/media/ holds the uploads')).toEqual([]);
  });

  it('refuses settings it cannot honour', () => {
    expect(() => findReferences('', { mediaUrl: 'media/', mediaOrigins: [] })).toThrow(/mediaUrl "media\/" must be a path/);
    expect(() => findReferences('', { mediaUrl: '/media/', mediaOrigins: ['https://shop.example.com/shop'] })).toThrow(/scheme:\/\/host/);
    expect(findReferences('<img src="/m/a.jpg">', { mediaUrl: '/m/', mediaOrigins: [] }).map((r) => r.name)).toEqual(['a.jpg']);
  });
});

describe('rewriting', () => {
  const html =
    '<figure class="image"><img src="/media/uploads/a.jpg" srcset="/media/uploads/a.jpg.webp 1x, /media/uploads/a@2x.jpg 2x" alt="/media/uploads/a.jpg"></figure>' +
    '<p>/media/uploads/a.jpg</p><a href="https://shop.example.com/media/docs/m.pdf?v=2#page=3">m</a>';

  it('replaces a.jpg without touching a.jpg.webp beside it, nor the same text in alt or prose', () => {
    const refs = find(html);
    const out = rewriteReferences(html, refs, (ref) => (ref.name === 'uploads/a.jpg' ? CLOUD + 'uploads/a_x1.jpg' : undefined));
    expect(out.rewritten).toBe(1);
    expect(out.text).toBe(html.replace('src="/media/uploads/a.jpg"', `src="${CLOUD}uploads/a_x1.jpg"`));
    expect(out.text).toContain('srcset="/media/uploads/a.jpg.webp 1x');
  });

  it('changes only the spans, keeps the suffix, and a re-scan finds nothing of ours', () => {
    const refs = find(html);
    const out = rewriteReferences(html, refs, toCloudinary);
    expect(out.rewritten).toBe(4);
    expectOnlySpansChanged(html, out.text, refs, [
      CLOUD + 'uploads/a.jpg',
      CLOUD + 'uploads/a.jpg.webp',
      CLOUD + 'uploads/a@2x.jpg',
      CLOUD + 'docs/m.pdf?v=2#page=3',
    ]);
    expect(find(out.text)).toEqual([]);
  });

  it('gives back the very same text when nothing is replaced', () => {
    for (const text of [html, '{"html": "<img src=\\"\\/media\\/caf\\u00e9.jpg\\">"}', '![x](/media/x.png)']) {
      const out = rewriteReferences(text, find(text), () => undefined);
      expect(out).toEqual({ text, rewritten: 0 });
      expect(Buffer.from(out.text).equals(Buffer.from(text))).toBe(true);
    }
  });

  it('keeps JSON valid, in its own style: \\/ where it was used, \\u escapes, \\" around attributes', () => {
    const text = '{"html": "<img src=\\"\\/media\\/caf\\u00e9.jpg\\">", "blocks": [{"data": {"file": {"url": "/media/x.png?v=1"}}}]}';
    const refs = find(text);
    const out = rewriteReferences(text, refs, (ref) => (ref.name === 'café.jpg' ? CLOUD + 'café_1.jpg' : CLOUD + 'x_2.png'));
    expectOnlySpansChanged(text, out.text, refs, [
      'https:\\/\\/res.cloudinary.com\\/demo\\/image\\/upload\\/v1\\/media\\/caf\\u00e9_1.jpg',
      CLOUD + 'x_2.png?v=1',
    ]);
    const parsed = JSON.parse(out.text) as { html: string; blocks: Array<{ data: { file: { url: string } } }> };
    expect(parsed.html).toBe(`<img src="${CLOUD}café_1.jpg">`);
    expect(parsed.blocks[0]?.data.file.url).toBe(`${CLOUD}x_2.png?v=1`);
    expect(find(out.text)).toEqual([]);
  });

  it('writes raw Unicode into a document that had it raw', () => {
    const text = '{"body": "![été](/media/été.png)"}';
    const out = rewriteReferences(text, find(text), () => CLOUD + 'été_9.png');
    expect(out.text).toBe(`{"body": "![été](${CLOUD}été_9.png)"}`);
  });

  it('escapes each container so a re-scan reads back exactly the new URL', () => {
    // Rewritten onto our own origin so that the re-scan finds the new URLs and shows how they read.
    const tricky = 'https://shop.example.com/media/n"e\'w&copy;(1)<2>é.jpg';
    const text =
      '<img src="/media/a.jpg"><img src=\'/media/b.jpg\'><img src=/media/c.jpg><img srcset="/media/d.jpg 2x">' +
      '[e](/media/e.jpg) [f](</media/f.jpg>)';
    const out = rewriteReferences(text, find(text), () => tricky);
    expect(find(out.text).map((r) => r.url)).toEqual(Array(6).fill(tricky));
    const json = JSON.stringify({ html: text, url: '/media/g.jpg' });
    const jsonOut = rewriteReferences(json, find(json), () => tricky);
    expect(find(jsonOut.text).map((r) => r.url)).toEqual(Array(7).fill(tricky));
    expect(() => JSON.parse(jsonOut.text)).not.toThrow();
  });

  it('writes &amp; where the attribute used it, and merges a query the new URL brings', () => {
    const text = '<a href="/media/a.pdf?x=1&amp;y=2">a</a><a href="/media/b.pdf?x=1&y=2">b</a>';
    const out = rewriteReferences(text, find(text), (ref) => `${CLOUD}${ref.name}?_a=BAMAK`);
    expect(out.text).toBe(`<a href="${CLOUD}a.pdf?_a=BAMAK&amp;x=1&amp;y=2">a</a><a href="${CLOUD}b.pdf?_a=BAMAK&x=1&y=2">b</a>`);
    expect(withSuffix('https://x.test/a.jpg#n', '?v=2#p')).toBe('https://x.test/a.jpg?v=2#p');
    expect(withSuffix('https://x.test/a.jpg', '')).toBe('https://x.test/a.jpg');
  });

  it('never offers an unsafe reference to the replacement, and refuses stale references or bad URLs', () => {
    const text = '<img src="/media/../x.py"><img src="/media/ok.jpg">';
    const offered: string[] = [];
    const out = rewriteReferences(text, find(text), (ref) => (offered.push(ref.name), CLOUD + 'ok.jpg'));
    expect(offered).toEqual(['ok.jpg']);
    expect(out.text).toBe(`<img src="/media/../x.py"><img src="${CLOUD}ok.jpg">`);
    expect(() => rewriteReferences('<img src="/media/ok.jpg">', find(text), () => undefined)).toThrow(/is not at 10 in this text/);
    expect(() => rewriteReferences(text, find(text), () => '/media/relative.jpg')).toThrow(/not an absolute http\(s\) URL/);
    const [a] = find(text);
    expect(() => rewriteReferences(text, [a!, { ...a! }], () => undefined)).toThrow(/references overlap at 10/);
    expect(() => rewriteReferences(text, find(text), () => 'https://x.test/a b.jpg')).toThrow(/not an absolute http\(s\) URL/);
  });
});

describe('size', () => {
  it('scans a 1 MB HTML text and finds every reference', () => {
    const blocks: string[] = [];
    let length = 0;
    for (let i = 0; length < 1_000_000; i++) {
      const block =
        `<p>Paragraph ${i}: we keep files in /media/ on the server &amp; [not a link] (really).</p>` +
        `<figure class="image"><img src="/media/uploads/2024/p${i}.jpg" srcset="/media/uploads/p${i}-320.jpg 320w, /media/uploads/p${i}-640.jpg 640w" alt="p ${i}"></figure>` +
        `<a href="https://other.example.org/media/x${i}.pdf">elsewhere</a>\n`;
      blocks.push(block);
      length += block.length;
    }
    const text = blocks.join('');
    expect(text.length).toBeGreaterThanOrEqual(1_000_000);
    expect(find(text)).toHaveLength(blocks.length * 3);
  });

  it('stays linear on 1 MB of input built to make a backtracking scanner crawl', () => {
    const n = 1_000_000;
    for (const unit of ['](((', '](<', '<a src="', '<a ', '[x]: ', '<https://', '&#', '\\/', '](/media/(']) {
      const text = unit.repeat(Math.ceil(n / unit.length));
      expect(find(text)).toEqual([]);
    }
    expect(find('{"a": "' + '](('.repeat(300_000) + '"}')).toEqual([]);
  });
});
