import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, ExitError, errorMessage } from '../errors.ts';
import { packageVersion } from '../package-root.ts';
import { scrubber, secretsInEnv } from '../secrets.ts';
import type { CommandIO } from './io.ts';
import { ENV_HELP, SCOPE_HELP, allowMissingOpt, batchOpt, concurrencyOption, int, scoped, sourcesOpt, storeOpt } from './options.ts';

/**
 * argv → options → one command function. Nothing else happens here: each command is a plain function
 * taking its options and the outside world (CommandIO), which is how the tests call them.
 *
 * Each action imports its command's module only when it runs: the commands pull in bullmq, knex,
 * cloudinary, express and bull-board, and `--help` or `status` must not wait for what they do not use.
 * A new command is one more block below with its own `import('./<command>.ts')`.
 */

export function buildProgram(io: CommandIO, done: (code: Promise<number>) => void): Command {
  const program = new Command('media-migrate')
    .description("Move a Django app's media library into Cloudinary and point its rows at the new assets.")
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride()
    .addHelpText('after', ENV_HELP);

  scoped(program
    .command('migrate')
    .description('enqueue every media record (image, raw and video files, URLs inside text), process it with in-process workers, print the summary')
    .addOption(sourcesOpt()))
    .addOption(concurrencyOption())
    .option('--dry-run', 'classify every record; upload and write nothing')
    .addOption(storeOpt())
    .addOption(batchOpt())
    .addOption(allowMissingOpt())
    .option('--json', 'print the final figures as one JSON object instead of the summary line')
    .addHelpText(
      'after',
      `${SCOPE_HELP}\nExample:\n  media-migrate migrate --sources sources.json --concurrency 32\n  media-migrate migrate --dry-run\n` +
        '  media-migrate migrate --limit 10                      # a canary: ten files first\n' +
        '  media-migrate migrate --only shop_bannerimage --pk-from 1 --pk-to 500\n' +
        '  media-migrate migrate --from rows.csv                  # exactly the rows a report (or table,pk lines) lists',
    )
    .action((o) => done(import('./migrate.ts').then((m) => m.migrateCommand(o, io))));

  scoped(program
    .command('enqueue')
    .description('create (or resume) a batch and enqueue its records for workers elsewhere')
    .addOption(sourcesOpt()))
    .addOption(storeOpt())
    .option('--dry-run', 'the workers will classify only')
    .option('--stage', 'a stage batch (see media-migrate stage --help): place files at their in-place ids, write no row')
    .addOption(batchOpt())
    .addOption(allowMissingOpt())
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      `${SCOPE_HELP}\nExample:\n  media-migrate enqueue --sources sources.json && media-migrate worker --concurrency 32\n  media-migrate enqueue --limit 100 --dry-run`,
    )
    .action((o) => done(import('./enqueue.ts').then((m) => m.enqueueCommand(o, io))));

  scoped(program
    .command('stage')
    .description('zero-downtime cutover, step 1: upload every file where the switched storage will look for it (its in-place id); write no row')
    .addOption(sourcesOpt()))
    .addOption(concurrencyOption())
    .addOption(batchOpt())
    .addOption(allowMissingOpt())
    .option('--json', 'print one JSON object: batch, kind, staged, notInPlace, missing, skipped, failed, notInPlaceRecords, ...')
    .addHelpText(
      'after',
      '\nA row holding products/shoe.jpg is served by MediaCloudinaryStorage from the asset media/products/shoe\n' +
        '(PREFIX + the value without its extension) the moment the storage is switched, before any row changes.\n' +
        'Each record ends staged, not_in_place (with the reason: illegal_characters, whitespace, reserved_folder,\n' +
        'too_long, unknown_format, collision, occupied), missing, skipped or failed. Run it again right before the\n' +
        'switch: it uploads only what was added or changed. Staged assets get MEDIA_TAG only once `migrate` writes\n' +
        'their id into the row, so deleteorphanedmedia never sees them before.\n' +
        `${SCOPE_HELP}\n` +
        'Example:\n  media-migrate stage --sources sources.json --concurrency 32 && media-migrate verify --batch 1\n' +
        '  media-migrate stage --limit 100                      # a canary: the first hundred files\n' +
        '  # deploy MediaCloudinaryStorage, then:\n  media-migrate stage --sources sources.json && media-migrate migrate --sources sources.json',
    )
    .action((o) => done(import('./stage.ts').then((m) => m.stageCommand(o, io))));

  program
    .command('worker')
    .description('process queued records until SIGTERM/SIGINT (run as many as you like)')
    .addOption(concurrencyOption())
    .addHelpText(
      'after',
      '\nIt refills Redis\'s window of each open batch from the ledger (QUEUE_WINDOW jobs at a time). It takes no job of a batch\n' +
        'whose MEDIA_ROOT fingerprint (five of its files, recorded at enqueue) it cannot see: it says so in one line and shows as\n' +
        'refusing on the dashboard until the media is there. After 50 missing files in a row while other workers find theirs, it\n' +
        'pauses itself and hands those records back.\n' +
        'Example:\n  media-migrate worker --concurrency 32\n  MEDIA_ROOT=/mnt/media media-migrate worker',
    )
    .action((o) => done(import('./worker.ts').then((m) => m.workerCommand(o, io))));

  program
    .command('status')
    .description("a batch's figures from the ledger (the latest batch by default)")
    .addOption(batchOpt())
    .option('--json', 'print one JSON object: batch, kind, total, migrated, staged, notInPlace, missing, skipped, failed, pending, ...')
    .addHelpText('after', '\nExample:\n  media-migrate status --json | jq .failed')
    .action((o) => done(import('./status.ts').then((m) => m.statusCommand(o, io))));

  const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];
  program
    .command('retry-failed')
    .description('re-queue exactly the failed records of a batch (or only some reasons, or the missing ones)')
    .addOption(batchOpt())
    .addOption(new Option('--reason <reason>', 'only records that ended with this reason (repeatable): retries_exhausted, cloudinary_rejected, too_large, ...').argParser(collect))
    .addOption(new Option('--outcome <outcome>', 'failed (the default) or missing, e.g. once the files are restored (repeatable)').argParser(collect))
    .option('--from <file>', 'exactly the records this file lists: report --format csv output (filtered as you like) or table,pk lines')
    .option('--json', 'print one JSON object: batch, requeued, byOutcome, byReason (and otherBatches with --from)')
    .addHelpText(
      'after',
      '\nExample:\n  media-migrate retry-failed --batch 3 && media-migrate migrate --batch 3\n' +
        '  media-migrate retry-failed --reason retries_exhausted          # just the timeouts and 5xx\n' +
        '  media-migrate retry-failed --outcome missing --json            # after restoring the files\n' +
        '  media-migrate report --batch 3 > b3.csv   # keep the lines you want, then:\n' +
        '  media-migrate retry-failed --from b3.csv',
    )
    .action((o) => done(import('./retry-failed.ts').then((m) => m.retryFailedCommand(o, io))));

  program
    .command('rollback')
    .description('restore every row a batch changed (where it still holds what the batch wrote)')
    .addOption(batchOpt().makeOptionMandatory())
    .option('--delete-assets', "also delete the batch's assets from Cloudinary (those no other batch uses)")
    .option('--json', 'print one JSON object')
    .addHelpText('after', '\nExample:\n  media-migrate rollback --batch 3 --delete-assets')
    .action((o) => done(import('./rollback.ts').then((m) => m.rollbackCommand(o, io))));

  program
    .command('verify')
    .description("check every record a batch migrated: the asset exists with the ledger's bytes and MD5, the row points at it")
    .addOption(batchOpt())
    .option('--json', 'print one JSON object: batch, checked, ok, problems, adminCalls, findings')
    .addHelpText('after', '\nUses one Admin API call per 100 assets and a HEAD per asset on the delivery URL (not rate-limited).\nExample:\n  media-migrate verify --batch 3')
    .action((o) => done(import('./verify.ts').then((m) => m.verifyCommand(o, io))));

  program
    .command('report')
    .description('export every record of a batch with its outcome, reason, old and new value')
    .addOption(batchOpt())
    .addOption(new Option('--format <format>', 'csv or json (one array)').choices(['csv', 'json']).default('csv'))
    .addHelpText('after', '\nExample:\n  media-migrate report --batch 3 --format csv > batch-3.csv')
    .action((o) => done(import('./report.ts').then((m) => m.reportCommand(o, io))));

  program
    .command('find')
    .argument('<query>', 'a table, table:pk, or a piece of a path or public_id')
    .description('find any record of any batch, with its history: every batch that touched it, its outcome, reason, attempts, values and asset')
    .addOption(new Option('--limit <n>', 'records per page').argParser(int('--limit')).default(20))
    .addOption(new Option('--before <cursor>', 'the next page (printed at the end of the previous one)').argParser(int('--before')))
    .option('--json', 'print one JSON object: query, kind, records (each with its history), next')
    .addHelpText(
      'after',
      '\nExit 0 when something was found, 1 when nothing was. With CLOUDINARY_URL (or CLOUD_NAME) set, each asset comes with its URL.\n' +
        'Example:\n  media-migrate find shop_productimages:4711\n  media-migrate find "products/2024/shoe"\n  media-migrate find media/products/shoe_k3x9q2 --json',
    )
    .action((q: string, o) => done(import('./find.ts').then((m) => m.findCommand(q, o, io))));

  program
    .command('audit')
    .description('can the old disk go? what in the database still points at MEDIA_ROOT, and which files there nothing references; reads only')
    .addOption(sourcesOpt())
    .option('--json', 'print one JSON object: ok, localReferences, missingFiles, unreferencedFiles, unreferencedBytes, sources')
    .option('--list', 'name each row that still points at a local file, and each file nothing references')
    .addHelpText(
      'after',
      '\nNeeds DATABASE_URL and MEDIA_ROOT (MEDIA_URL and MEDIA_ORIGINS say which URLs inside text are ours).\n' +
        'Ends with: ✔ AUDIT | Local references=0 | Missing files=0 | Unreferenced files=12 (3.4 MB)\n' +
        'Exit 0 when no local reference remains, 1 while any does.\n' +
        'Example:\n  media-migrate audit --sources sources.json\n  media-migrate audit --sources sources.json --list > still-local.txt',
    )
    .action((o) => done(import('./audit.ts').then((m) => m.auditCommand(o, io))));

  program
    .command('discover')
    .description('propose a sources file for a Django database: columns holding file paths under MEDIA_ROOT (with their resourceType) and text columns with media URLs inside')
    .addOption(new Option('--sample <n>', 'values sampled per column').argParser(int('--sample')).default(200))
    .option('--json', 'print only the JSON (no summary on stderr)')
    .addHelpText('after', '\nNeeds DATABASE_URL; MEDIA_ROOT (optional) lets it count the files it finds.\nExample:\n  media-migrate discover > sources.json && media-migrate migrate --sources sources.json --dry-run')
    .action((o) => done(import('./discover.ts').then((m) => m.discoverCommand(o, io))));

  program
    .command('demo')
    .description('a self-contained run: its own tables, a media folder of real images, the bundled emulator')
    .addOption(new Option('--images <n>', 'how many image rows to create').argParser(int('--images')).default(60))
    .addOption(new Option('--latency <ms>', 'emulated upload latency').argParser((v) => Number(v)).default(40))
    .addOption(concurrencyOption())
    .option('--cutover', 'the zero-downtime cutover instead: stage, switch, migrate, while a visitor fetches every image; ends with the broken-image count')
    .addHelpText(
      'after',
      '\nNeeds Redis (REDIS_URL, default redis://127.0.0.1:6379). Without DATABASE_URL its tables live in a SQLite file of\n' +
        'its own; with DATABASE_URL (or DEMO_DATABASE_URL) they go into a schema (PostgreSQL) or database (MySQL) named\n' +
        'media_migrate_demo, never beside your own tables.\n' +
        'Example:\n  npx media-migrate demo\n  npx media-migrate demo --cutover\n  npx media-migrate demo --images 2000 --latency 250',
    )
    .action((o) => done(import('./demo.ts').then((m) => m.demoCommand(o, io))));

  program
    .command('emulator')
    .description('serve the local Cloudinary API emulator (for docker compose, benchmarks, trying things out)')
    .addOption(new Option('--port <n>', 'port').argParser(int('--port')).default(9443))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .addHelpText('after', '\nExample:\n  media-migrate emulator --port 9443\n  CLOUDINARY_URL=cloudinary://123456789012345:emulator-secret@demo?upload_prefix=http://127.0.0.1:9443')
    .action((o) => done(import('./emulator.ts').then((m) => m.emulatorCommand(o, io))));

  program
    .command('dashboard')
    .description('serve the live dashboard: summary page, bull-board at /queues, JSON API, Prometheus /metrics')
    .addOption(
      new Option('--port <n>', 'port (0 picks a free one)')
        .argParser((v) => {
          const n = Number(v);
          if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('--port must be an integer from 0 to 65535');
          return n;
        })
        .default(3000),
    )
    .option('--host <host>', 'address to bind; any but loopback needs DASHBOARD_PASSWORD', '127.0.0.1')
    .option('--read-only', 'no actions; bull-board read-only (also DASHBOARD_READ_ONLY=1)')
    .addHelpText(
      'after',
      '\nCredentials: DASHBOARD_USER (default admin) and DASHBOARD_PASSWORD, asked on every route (HTTP basic auth).\n' +
        'Without DASHBOARD_PASSWORD it listens on loopback only, with a one-time password printed at start.\n' +
        'Example:\n  DASHBOARD_PASSWORD=change-me media-migrate dashboard --port 3000   # then open http://127.0.0.1:3000',
    )
    .action((o) => done(import('./dashboard.ts').then((m) => m.dashboardCommand(o, io))));

  return program;
}

function processIO(): CommandIO {
  const ctl = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      process.stderr.write(`\n${sig}: finishing the jobs in flight (send again to stop at once)\n`);
      ctl.abort();
    } else process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { env: process.env, stdout: process.stdout, stderr: process.stderr, isTTY: Boolean(process.stderr.isTTY), signal: ctl.signal };
}

/** Runs the CLI and returns the exit code; only bin/ turns it into the process's exit. */
export async function main(argv: string[], io: CommandIO = processIO()): Promise<number> {
  const scrub = scrubber(secretsInEnv(io.env));
  const fail = (code: number, lines: string[]) => {
    for (const l of lines) io.stderr.write(`media-migrate: ${scrub(l)}\n`);
    return code;
  };
  let running: Promise<number> | undefined;
  const program = buildProgram(io, (p) => {
    running = p;
  });
  try {
    await program.parseAsync(argv);
    if (!running) {
      program.outputHelp();
      return 2;
    }
    return await running;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
    }
    if (err instanceof ConfigError) return fail(2, err.problems);
    if (err instanceof ExitError) return fail(err.exitCode, [err.message]);
    return fail(1, [errorMessage(err)]);
  }
}
