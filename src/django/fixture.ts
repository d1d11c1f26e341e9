import type { Knex } from 'knex';

/**
 * The seed shop app's three models as Django's migrations create them: a bigint identity primary key
 * and an ImageField, which is `varchar(100)`, NOT NULL with '' for "no file" unless `null=True`.
 * Used by the demo and the tests; written with knex's schema builder so it fits every database.
 */
export async function createShopTables(db: Knex, appLabel = 'shop'): Promise<void> {
  await db.schema.createTable(`${appLabel}_productimages`, (t) => {
    t.bigIncrements('id');
    t.string('image', 100).notNullable().defaultTo('');
    t.bigInteger('product_id').notNullable().defaultTo(1);
  });
  await db.schema.createTable(`${appLabel}_bannerimage`, (t) => {
    t.bigIncrements('id');
    t.string('title', 200).notNullable().defaultTo('');
    t.string('image', 100).notNullable().defaultTo('');
  });
  await db.schema.createTable(`${appLabel}_subcategory`, (t) => {
    t.bigIncrements('id');
    t.string('name', 100).notNullable().defaultTo('');
    // ImageField(null=True, blank=True): "no file" may be NULL here.
    t.string('image', 100).nullable();
  });
}
