import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Router } from 'express';
import { batchStatus, stateText, type BatchStatus } from '../src/ledger/batch-status.ts';
import { errorMessage } from '../src/errors.ts';
import { thousands } from '../src/outcomes.ts';
import type { DashboardDeps } from './deps.ts';

/**
 * bull-board at /queues, on the project's one queue. BullMQ users look there first, so the queue's
 * name and description carry the ledger's figures of the newest batch, refreshed whenever the board
 * asks for its queues (at most once a second), and the header links back to the summary page.
 */

export function describeBatch(s: BatchStatus | null): { displayName: string; description: string } {
  if (!s) return { displayName: 'media-migrate', description: 'No batch yet. Summary page: / (the ledger’s figures).' };
  const done = s.total === 0 ? 100 : Math.floor(((s.total - s.pending) / s.total) * 100);
  return {
    displayName: `media-migrate · batch ${s.batch}${s.dryRun ? ' (dry run)' : ''} · ${done}%`,
    description:
      `Batch ${s.batch} ${stateText(s)}: migrated ${thousands(s.migrated)} · missing ${thousands(s.missing)} · skipped ${thousands(s.skipped)} · ` +
      `failed ${thousands(s.failed)} · pending ${thousands(s.pending)} of ${thousands(s.total)} · ledger figures; summary page at /`,
  };
}

/** The BullMQ adapter whose name and description follow the migration instead of being fixed at start. */
class MigrationQueueAdapter extends BullMQAdapter {
  private summary = describeBatch(null);

  setSummary(summary: { displayName: string; description: string }): void {
    this.summary = summary;
  }

  override getDisplayName(): string {
    return this.summary.displayName;
  }

  override getDescription(): string {
    return this.summary.description;
  }
}

export interface BullBoard {
  router: Router;
  /** Re-reads the newest batch's figures into the queue's name and description (cached for a second). */
  refresh(): Promise<void>;
}

export function createBoard(deps: DashboardDeps, opts: { basePath: string; summaryHref: string }): BullBoard {
  const adapter = new MigrationQueueAdapter(deps.queue, { readOnlyMode: deps.readOnly });
  // "shop_productimages.image pk=4711" rather than the bare source name.
  adapter.setFormatter('name', (job: { name?: string; data?: { pk?: string } }) =>
    job.data?.pk !== undefined ? `${job.name ?? ''} pk=${job.data.pk}` : (job.name ?? ''),
  );
  const server = new ExpressAdapter();
  server.setBasePath(opts.basePath);
  createBullBoard({
    queues: [adapter],
    serverAdapter: server,
    options: {
      uiConfig: {
        boardTitle: 'media-migrate',
        miscLinks: [{ text: 'Migration summary (ledger figures)', url: opts.summaryHref }],
        // The board polls every few seconds; the figures refresh with it.
        showWorkers: true,
      },
    },
  });

  let refreshedAt = 0;
  let refreshing: Promise<void> | undefined;
  const refresh = async () => {
    if (Date.now() - refreshedAt < 1_000) return;
    refreshing ??= (async () => {
      try {
        const latest = await deps.ledger.batches.latest();
        adapter.setSummary(describeBatch(latest ? await batchStatus(deps.ledger, latest) : null));
        refreshedAt = Date.now();
      } catch (err) {
        // The board still works without fresh figures; the summary page reports the database's trouble.
        deps.logger.debug({ error: errorMessage(err) }, 'bull-board: could not refresh the batch figures');
      } finally {
        refreshing = undefined;
      }
    })();
    await refreshing;
  };

  return { router: server.getRouter() as Router, refresh };
}
