import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { defaultSources, type Source } from '../../config/sources.ts';
import { pngBytes } from '../../django/sample-images.ts';
import type { DemoDatabase } from './shop.ts';

/**
 * Beyond the product photos: the rest of a shop's library. A FileField of PDF manuals
 * (RawMediaCloudinaryStorage) and product descriptions written in a rich-text editor, whose inline
 * pictures and linked PDFs are files under MEDIA_ROOT referenced only by URL: HTML from CKEditor, a
 * Markdown one, an editor's JSON blocks, and one with no picture at all.
 */
export const LIBRARY = { manuals: 2, texts: 3, plainTexts: 1 };

export async function plantLibrary(database: DemoDatabase, root: string): Promise<Source[]> {
  const put = async (rel: string, bytes: Buffer) => {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), bytes);
  };
  const pdf = (title: string) => Buffer.from(`%PDF-1.4\n% ${title}\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n`);
  await put('manuals/care-guide.pdf', pdf('Care guide'));
  await put('manuals/size chart.pdf', pdf('Size chart'));
  await put('uploads/2024/03/08/detail-2.png', pngBytes(30, 20, 9002));
  await put('uploads/2024/03/08/detail-3.png', pngBytes(30, 20, 9003));
  const db = database.open();
  try {
    await db.schema.createTable('shop_manual', (t) => {
      t.bigIncrements('id').primary();
      t.string('file', 100).notNullable().defaultTo('');
    });
    await db.schema.createTable('shop_product', (t) => {
      t.bigIncrements('id').primary();
      t.string('name', 100).notNullable();
      t.text('description').notNullable();
    });
    await db('shop_manual').insert([{ file: 'manuals/care-guide.pdf' }, { file: 'manuals/size chart.pdf' }]);
    await db('shop_product').insert([
      {
        name: 'Trail boot',
        // The first product photo is in the image column too: one asset for both.
        description:
          '<p>Our best seller.</p>\n<figure class="image"><img src="/media/products/2024/product-1.png" alt="Trail boot"></figure>\n' +
          '<p><a href="/media/manuals/care-guide.pdf">Care guide (PDF)</a></p>',
      },
      { name: 'City shoe', description: '![Detail](/media/uploads/2024/03/08/detail-2.png)\n\nSee the [size chart](/media/manuals/size%20chart.pdf).\n' },
      { name: 'Sandal', description: '{"blocks":[{"type":"image","data":{"file":{"url":"\\/media\\/uploads\\/2024\\/03\\/08\\/detail-3.png"}}}]}' },
      { name: 'Gift card', description: '<p>No picture, just good wishes.</p>' },
    ]);
  } finally {
    await db.destroy();
  }
  return [
    ...defaultSources('shop'),
    { table: 'shop_manual', column: 'file', pk: 'id', resourceType: 'raw' },
    { table: 'shop_product', column: 'description', pk: 'id', kind: 'text' },
  ];
}
