// The summary page, one piece: plain JavaScript, no build step, so one script the page loads as is. It polls the JSON API every two seconds
// (skipping a tick while the previous request still runs) and rewrites only text and widths.
// Every value from the server goes in through textContent, never as HTML.

const POLL_MS = 2000;
const PER_PAGE = 10;

const $ = (sel, root = document) => root.querySelector(sel);
const fmt = new Intl.NumberFormat('en-US');
const n = (v) => fmt.format(v ?? 0);

/** The batch the address names (`?batch=12`), so a link or a reload opens on it; else the newest. */
function batchInUrl() {
  const v = new URLSearchParams(location.search).get('batch');
  return v && /^[1-9][0-9]*$/.test(v) ? v : 'latest';
}

const state = {
  session: null,
  selected: batchInUrl(), // 'latest' follows the newest batch; otherwise a batch id
  current: null, // BatchStatus of what is shown
  pages: { failed: 1, missing: 1, not_in_place: 1 },
  listKey: { failed: '', missing: '', not_in_place: '' },
  reasonsKey: '',
  history: [], // the batches table, refreshed every 10 s
  historyAt: 0,
  inFlight: false,
};

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// A page opened from http://user:password@host/ (a link pasted with its credentials) has them in its
// own address, and fetch refuses a URL that carries credentials, relative ones included. The browser
// keeps them for the site after that first load, so the API is asked at the same address without them.
const apiBase = new URL(location.href);
apiBase.username = '';
apiBase.password = '';

async function api(path, options = {}) {
  const headers = { Accept: 'application/json', ...(options.headers ?? {}) };
  if (options.method && options.method !== 'GET') headers[state.session.csrfHeader] = state.session.csrfToken;
  const res = await fetch(new URL(path, apiBase), { credentials: 'same-origin', signal: AbortSignal.timeout(15_000), ...options, headers });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function duration(seconds) {
  if (seconds == null) return '–';
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const m = Math.round(seconds / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function when(iso) {
  if (!iso) return '–';
  return new Date(iso).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

function banner(text, kind = 'warn') {
  const b = $('#banner');
  b.hidden = !text;
  b.textContent = text ?? '';
  b.className = `banner ${kind === 'error' ? 'error' : ''}`;
}

/** A batch's state in words; a rolled-back one says what its rollback restored, as `status` does. */
function stateText(s) {
  // Its workers are at it while it is recorded: the total is not known yet.
  if (s.state === 'enqueuing') return `recording: ${n(s.total)} records so far`;
  if (s.state !== 'rolled_back') return s.state.replace('_', ' ');
  if (s.kind === 'stage') return 'rolled back (a stage batch writes no row)';
  return `rolled back: ${n(s.rollback?.restored)} restored, ${n(s.rollback?.left)} left`;
}

const LISTS = ['not_in_place', 'failed', 'missing'];
/** A batch's figure for an outcome: `not_in_place` is `notInPlace` in JSON; a stage batch's done is `staged`. */
const figure = (s, k) => (k === 'not_in_place' ? s.notInPlace : k === 'migrated' ? s.migrated + (s.staged ?? 0) : s[k]);

function segments(root, s, prefix) {
  const total = s.total || 1;
  for (const k of ['migrated', 'not_in_place', 'skipped', 'missing', 'failed']) {
    const seg = prefix ? $(`#${prefix}${k}`) : root.querySelector(`.seg.${k}`);
    if (!seg) continue;
    seg.style.width = `${(100 * figure(s, k)) / total}%`;
    seg.title = `${k === 'migrated' && s.kind === 'stage' ? 'staged' : k.replace(/_/g, ' ')}: ${n(figure(s, k))}`;
  }
}

function renderStatus(s, throughput, queue) {
  state.current = s;
  const done = s.total - s.pending;
  const pct = s.total === 0 ? 100 : Math.floor((100 * done) / s.total);
  const stage = s.kind === 'stage';
  for (const k of ['migrated', 'missing', 'skipped', 'failed', 'pending']) $(`#n-${k}`).textContent = n(figure(s, k));
  $('#n-not-in-place').textContent = n(s.notInPlace);
  $('#tile-not-in-place').hidden = !stage;
  $('#tile-failed').classList.toggle('zero', s.failed === 0);
  $('#l-migrated').textContent = stage ? 'staged' : s.dryRun ? 'would migrate' : 'migrated';
  $('#sources-done').textContent = stage ? 'Staged' : 'Migrated';
  for (const th of document.querySelectorAll('.stage-only')) th.hidden = !stage;
  const scope = $('#scope-note');
  scope.hidden = !s.scope;
  scope.textContent = s.scope ? `Scope: ${s.scopeText}. A batch without a scope continues with the rest.` : '';
  const note = $('#cutover-note');
  note.hidden = !stage && s.stageBatch == null;
  note.textContent = stage
    ? `A stage batch: each file is placed where MediaCloudinaryStorage will look for its row's current value; no row is written. Switching the storage now serves every staged row.`
    : s.stageBatch != null
      ? `Rewrites stage batch ${s.stageBatch}: rows whose file it placed get that asset's id without an upload; the rest are uploaded first.`
      : '';
  segments(null, s, 'seg-');
  const bar = $('#bar');
  bar.setAttribute('aria-valuenow', String(pct));
  bar.setAttribute('aria-label', `${pct}% done`);
  $('#percent').textContent = `${pct}%`;
  $('#done').textContent = n(done);
  $('#total').textContent = n(s.total);

  const pill = $('#state');
  pill.hidden = false;
  pill.textContent = `Batch ${s.batch} · ${stage ? 'stage · ' : ''}${stateText(s)}`;
  pill.className = `pill ${s.state}`;
  $('#dry-run').hidden = !s.dryRun;
  document.title = `${pct}% · ${stage ? 'stage ' : ''}batch ${s.batch} · media-migrate`;

  const rate = throughput?.ratePerMinute ?? 0;
  $('#rate').textContent = n(rate);
  const eta = $('#eta');
  const etaNote = $('#eta-note');
  if (s.state === 'enqueuing') {
    // The total is still growing: an ETA from it would be too soon.
    eta.textContent = '–';
    etaNote.textContent = `still recording (${n(s.total)} records so far)`;
  } else if (s.pending === 0) {
    eta.textContent = s.state === 'finished' ? 'done' : '–';
    etaNote.textContent = '';
  } else if (queue.workers === 0) {
    eta.textContent = '–';
    etaNote.textContent = 'no worker connected';
  } else if (throughput?.etaSeconds != null) {
    eta.textContent = duration(throughput.etaSeconds);
    etaNote.textContent = `for ${n(s.pending)} pending`;
  } else {
    eta.textContent = '–';
    etaNote.textContent = 'nothing finished in the last minute';
  }

  const chart = $('#chart');
  const per = throughput?.perMinute ?? [];
  const max = Math.max(1, ...per);
  chart.replaceChildren(
    ...per.map((v, i) => {
      const bar = el('span', { class: v === 0 ? 'zero' : '', title: `${per.length - 1 - i} min ago: ${n(v)}` });
      bar.style.height = `${Math.max(2, (100 * v) / max)}%`;
      return bar;
    }),
  );

  const processes = state.processes ?? [];
  const workers = processes.length > 0 ? processes.length : queue.workers;
  const w = $('#workers');
  w.textContent = workers == null ? '?' : n(workers);
  const troubled = processes.filter((p) => p.state !== 'working');
  $('#workers-list').replaceChildren(
    ...troubled.map((p) => el('li', { class: p.state, title: p.detail ?? '', text: `${p.host}:${p.pid} ${p.state}` })),
  );
  const idle = workers === 0 && s.pending > 0;
  w.classList.toggle('warn', idle);
  const c = queue.counts ?? {};
  $('#queue-note').textContent = `connected · queue: ${n(c.waiting)} waiting, ${n(c.active)} active, ${n(c.delayed)} delayed`;

  const refusing = (state.processes ?? []).find((p) => p.state !== 'working');
  if (state.enqueue?.state === 'failed') {
    banner(`Recording batch ${s.batch} failed: ${state.enqueue.error}. Nothing past what is recorded will run; resume it with "media-migrate enqueue --batch ${s.batch}".`, 'error');
  } else if (s.state === 'halted') banner(`Batch ${s.batch} is halted: ${s.haltedReason}`, 'error');
  else if (refusing) banner(`Worker ${refusing.host}:${refusing.pid} ${refusing.state === 'paused' ? 'paused itself' : 'refuses work'}: ${refusing.detail}`, 'error');
  else if (queue.unavailable) banner(`${queue.unavailable}: the figures above come from the ledger; workers and queue are unknown.`, 'error');
  else if (queue.paused) banner('The queue is paused: nothing is processed until it is resumed (bull-board → Resume).');
  else if (idle) banner(`${n(s.pending)} records are pending and no worker is connected: start one with "media-migrate worker" (or "media-migrate ${s.kind === 'stage' ? 'stage' : 'migrate'} --batch ${s.batch}").`);
  else banner(null);

  $('#retry-failed').disabled = s.failed === 0;
  $('#retry-failed').textContent = s.failed > 0 ? `Retry ${n(s.failed)} failed` : 'Retry failed';

  const tbody = $('#sources tbody');
  tbody.replaceChildren(
    ...s.sources.map((x) => {
      const mini = el('div', { class: 'mini' }, ...['migrated', 'not_in_place', 'skipped', 'missing', 'failed'].map((k) => el('span', { class: `seg ${k}` })));
      segments(mini, { ...x, kind: s.kind });
      const notInPlace = el('td', { class: 'n', text: n(x.notInPlace) });
      notInPlace.hidden = !stage;
      return el(
        'tr',
        {},
        el('td', {}, el('code', { text: `${x.table}.${x.column}` }), ...(x.media && x.media !== 'image' ? [' ', el('span', { class: 'media-tag', text: x.media === 'text' ? 'URLs in text' : x.media })] : [])),
        el('td', { class: 'n', text: n(figure(x, 'migrated')) }),
        notInPlace,
        el('td', { class: 'n', text: n(x.missing) }),
        el('td', { class: 'n', text: n(x.skipped) }),
        el('td', { class: 'n failed-n', text: x.failed ? n(x.failed) : '' }),
        el('td', { class: 'n', text: n(x.pending) }),
        el('td', { class: 'n', text: n(x.total) }),
        el('td', {}, mini),
      );
    }),
  );
}

function renderEmpty(queue) {
  state.current = null;
  for (const k of ['migrated', 'missing', 'skipped', 'failed', 'pending']) $(`#n-${k}`).textContent = '0';
  $('#state').hidden = true;
  banner('No batch yet: run "media-migrate migrate" (or "enqueue" and workers) to start one.');
  $('#queue-note').textContent = '';
  $('#workers').textContent = queue.workers == null ? '?' : n(queue.workers);
  $('#retry-failed').disabled = true;
  $('#start-open').disabled = false;
}

async function loadList(outcome, force = false) {
  const s = state.current;
  const panel = $(`#list-${outcome}`);
  if (!s) return;
  // The not-in-place list belongs to stage batches; the others show for every batch.
  panel.hidden = outcome === 'not_in_place' && s.kind !== 'stage' && !s.notInPlace;
  const key = `${s.batch}:${figure(s, outcome)}:${state.pages[outcome]}`;
  if (!force && key === state.listKey[outcome]) return;
  state.listKey[outcome] = key;
  const page = await api(`api/batches/${s.batch}/records?outcome=${outcome}&page=${state.pages[outcome]}&per_page=${PER_PAGE}`);
  if (page.page > page.pages && page.total > 0) {
    state.pages[outcome] = page.pages;
    return loadList(outcome, true);
  }
  $('.count', panel).textContent = `(${n(page.total)})`;
  $('.csv', panel).href = `api/batches/${s.batch}/records.csv?outcome=${outcome}`;
  $('.csv', panel).hidden = page.total === 0;
  $('.empty', panel).hidden = page.total > 0;
  $('table', panel).hidden = page.total === 0;
  $('tbody', panel).replaceChildren(
    ...page.records.map((r) =>
      el(
        'tr',
        {},
        el(
          'td',
          { class: 'record' },
          el('code', { text: r.value || '(empty)' }),
          el('span', { class: 'where', text: `${r.table}.${r.column} pk=${r.pk}` }),
        ),
        el('td', { class: 'reason' }, el('strong', { text: r.reason ?? '' }), el('span', { class: 'detail', text: r.detail ?? '' })),
      ),
    ),
  );
  const pager = $('.pager', panel);
  pager.hidden = page.pages <= 1;
  $('.page', pager).textContent = `Page ${page.page} of ${page.pages}`;
  $('.prev', pager).disabled = page.page <= 1;
  $('.next', pager).disabled = page.page >= page.pages;
}

/** The failed records grouped by reason, each with its own "Retry these". */
async function loadReasons(force = false) {
  const s = state.current;
  if (!s) return;
  const key = `${s.batch}:${s.failed}`;
  if (!force && key === state.reasonsKey) return;
  state.reasonsKey = key;
  const list = $('#failed-reasons');
  if (s.failed === 0) return list.replaceChildren();
  const { reasons } = await api(`api/batches/${s.batch}/reasons?outcome=failed`);
  list.replaceChildren(
    ...reasons.map((r) => {
      const li = el('li', {}, el('strong', { text: r.reason || '(none)' }), el('span', { class: 'n', text: n(r.count) }));
      if (!state.session.readOnly) {
        const b = el('button', { type: 'button', class: 'retry-reason', 'data-reason': r.reason, text: 'Retry these' });
        b.addEventListener('click', (e) =>
          act(
            e.currentTarget,
            (cur) => `Re-queue the ${n(r.count)} records of batch ${cur.batch} that failed with ${r.reason}? Workers will try them again.`,
            (cur) => `api/batches/${cur.batch}/retry-failed?reason=${encodeURIComponent(r.reason)}`,
            (x) => x.message,
          ),
        );
        li.append(b);
      }
      return li;
    }),
  );
}

async function loadHistory() {
  const { batches } = await api('api/batches?limit=50');
  state.history = batches;
  state.historyAt = Date.now();
  const select = $('#batch-select');
  const keep = state.selected;
  select.replaceChildren(
    el('option', { value: 'latest', text: 'Latest batch (follows new ones)' }),
    ...batches.map((b) => el('option', { value: String(b.batch), text: `Batch ${b.batch} · ${b.kind === 'stage' ? 'stage · ' : ''}${stateText(b)}${b.dryRun ? ' · dry run' : ''} · ${when(b.createdAt)}` })),
  );
  // A batch the address names that is older than the list still gets an entry to show as chosen.
  if (keep !== 'latest' && !batches.some((b) => String(b.batch) === keep)) select.append(el('option', { value: keep, text: `Batch ${keep}` }));
  select.value = keep;
  renderHistory();
}

/** The batches table; the row of the batch on show takes its figures from the last poll. */
function renderHistory() {
  const shown = state.current;
  $('#history tbody').replaceChildren(
    ...state.history.map((listed) => {
      const b = shown && listed.batch === shown.batch ? shown : listed;
      const tr = el(
        'tr',
        { class: b === shown ? 'selected' : '' },
        el('td', { text: `#${b.batch}${b.kind === 'stage' ? ' (stage)' : ''}${b.dryRun ? ' (dry run)' : ''}${b.scope ? ' (scoped)' : ''}` }),
        el('td', { text: when(b.createdAt) }),
        el('td', { text: stateText(b) }),
        el('td', { class: 'n', text: n(figure(b, 'migrated')) }),
        el('td', { class: 'n', text: n(b.missing) }),
        el('td', { class: 'n', text: n(b.skipped) }),
        el('td', { class: 'n failed-n', text: b.failed ? n(b.failed) : '' }),
        el('td', { class: 'n', text: n(b.pending) }),
      );
      tr.addEventListener('click', () => select_(String(b.batch)));
      return tr;
    }),
  );
}

async function tick(force = false) {
  if (state.inFlight && !force) return; // the previous poll is still running: skip this tick
  state.inFlight = true;
  try {
    const o = await api(`api/overview${state.selected === 'latest' ? '' : `?batch=${state.selected}`}`);
    state.processes = o.processes;
    state.enqueue = o.enqueue;
    if (!o.status) renderEmpty(o.queue);
    else {
      $('#start-open').disabled = false;
      const changedBatch = state.current?.batch !== o.status.batch;
      renderStatus(o.status, o.throughput, o.queue);
      await Promise.all([...LISTS.map((outcome) => loadList(outcome, changedBatch)), loadReasons(changedBatch)]);
      $('#retry-missing').closest('.reasons-actions').hidden = state.session.readOnly || o.status.missing === 0;
      if (changedBatch || Date.now() - state.historyAt > 10_000) await loadHistory();
      else renderHistory();
    }
    $('#updated').textContent = new Date().toLocaleTimeString();
  } catch (err) {
    banner(err.status === 401 ? 'Your session has ended: reload the page to log in again.' : `Cannot load the figures: ${err.message}`, 'error');
  } finally {
    state.inFlight = false;
  }
}

/**
 * Shows another batch. The address follows (`?batch=N`, nothing for the latest) as a new history
 * entry, so the link can be shared and Back returns to the batch shown before; `fromHistory` is that
 * Back (or Forward), which must not add an entry of its own.
 */
function select_(value, fromHistory = false) {
  if (!fromHistory && value !== state.selected) {
    const url = new URL(location.href);
    if (value === 'latest') url.searchParams.delete('batch');
    else url.searchParams.set('batch', value);
    history.pushState({ batch: value }, '', url);
  }
  state.selected = value;
  $('#batch-select').value = value;
  state.pages = { failed: 1, missing: 1, not_in_place: 1 };
  state.listKey = { failed: '', missing: '', not_in_place: '' };
  state.current = null;
  void tick(true);
}

async function act(button, question, path, describe) {
  const s = state.current;
  if (!s || !confirm(question(s))) return;
  const out = $('#action-result');
  button.disabled = true;
  out.className = 'action-result';
  out.textContent = 'Working…';
  try {
    const r = await api(path(s), { method: 'POST' });
    out.textContent = describe(r);
  } catch (err) {
    out.className = 'action-result error';
    out.textContent = `Failed: ${err.message}`;
  } finally {
    button.disabled = false;
    state.historyAt = 0;
    await tick(true);
  }
}

/** The search box: records of any batch, each with its history; "More" pages on. */
const search = { q: '', next: null };

function historyTable(history) {
  return el(
    'table',
    {},
    el('thead', {}, el('tr', {}, ...['Batch', 'Outcome · reason', 'Attempts', 'Old value → new value', 'Asset'].map((t) => el('th', { text: t })))),
    el(
      'tbody',
      {},
      ...history.map((e) => {
        const asset = e.url ? el('a', { href: e.url, target: '_blank', rel: 'noopener noreferrer', text: e.publicId }) : el('code', { text: e.publicId ?? '' });
        const change = e.newValue && e.newValue !== e.oldValue ? `${e.oldValue ?? ''} → ${e.newValue}` : (e.oldValue ?? '');
        return el(
          'tr',
          {},
          el('td', { text: `#${e.batch} ${e.kind}${e.dryRun ? ' (dry run)' : ''}` }),
          el('td', {}, el('strong', { text: e.outcome }), el('span', { class: 'detail', text: ` ${e.reason ?? ''}${e.rolledBack ? ' · rolled back' : ''}` })),
          el('td', { class: 'n', text: n(e.attempts) }),
          el('td', { class: 'value' }, el('code', { text: change })),
          el('td', { class: 'value' }, asset),
        );
      }),
    ),
  );
}

async function runSearch(more = false) {
  const box = $('#search-results');
  const list = $('.found', box);
  const summary = $('.search-summary', box);
  box.hidden = false;
  $('#search-clear').hidden = false;
  if (!more) list.replaceChildren();
  summary.textContent = 'Searching…';
  try {
    const before = more && search.next ? `&before=${search.next}` : '';
    const r = await api(`api/records?q=${encodeURIComponent(search.q)}&per_page=10${before}`);
    search.next = r.next;
    for (const f of r.records) {
      list.append(el('li', { class: 'found-record' }, el('h3', {}, el('code', { text: `${f.table}.${f.column} pk=${f.pk}` })), historyTable(f.history)));
    }
    const shown = list.children.length;
    summary.textContent = shown === 0 ? `No record matches “${r.query}”.` : `${n(shown)} record${shown === 1 ? '' : 's'} matching “${r.query}”${r.next ? ' (more below)' : ''}.`;
    $('#search-more').hidden = !r.next;
  } catch (err) {
    summary.textContent = `Cannot search: ${err.message}`;
  }
}

async function start() {
  try {
    state.session = await api('api/session');
  } catch (err) {
    banner(`Cannot reach the dashboard API: ${err.message}`, 'error');
    return;
  }
  $('#queues-link').href = state.session.queuesPath;
  $('#read-only').hidden = !state.session.readOnly;
  $('#actions').hidden = state.session.readOnly;

  $('#batch-select').addEventListener('change', (e) => select_(e.target.value));
  window.addEventListener('popstate', () => select_(batchInUrl(), true));
  $('#search').addEventListener('submit', (e) => {
    e.preventDefault();
    search.q = $('#q').value.trim();
    search.next = null;
    if (search.q) void runSearch();
  });
  $('#search-more').addEventListener('click', () => void runSearch(true));
  $('#search-clear').addEventListener('click', () => {
    $('#q').value = '';
    $('#search-results').hidden = true;
    $('#search-clear').hidden = true;
  });
  for (const outcome of LISTS) {
    const panel = $(`#list-${outcome}`);
    $('.prev', panel).addEventListener('click', () => {
      state.pages[outcome] = Math.max(1, state.pages[outcome] - 1);
      void loadList(outcome, true);
    });
    $('.next', panel).addEventListener('click', () => {
      state.pages[outcome] += 1;
      void loadList(outcome, true);
    });
  }
  $('#retry-failed').addEventListener('click', (e) =>
    act(
      e.currentTarget,
      (s) => `Re-queue the ${n(s.failed)} failed records of batch ${s.batch}? Workers will try them again.`,
      (s) => `api/batches/${s.batch}/retry-failed`,
      (r) => r.message,
    ),
  );
  $('#retry-missing').addEventListener('click', (e) =>
    act(
      e.currentTarget,
      (s) => `Re-queue the ${n(s.missing)} missing records of batch ${s.batch}? Do it once the files are back under MEDIA_ROOT.`,
      (s) => `api/batches/${s.batch}/retry-failed?outcome=missing`,
      (r) => r.message,
    ),
  );
  // Start a batch: the form, then the plan, then a confirmed start; the page then follows the batch.
  const form = $('#start-form');
  const formValue = () => {
    const f = new FormData(form);
    return {
      kind: f.get('kind'),
      limit: f.get('limit') || undefined,
      only: f.getAll('only'),
      pkFrom: f.get('pkFrom') || undefined,
      pkTo: f.get('pkTo') || undefined,
    };
  };
  $('#start-open').addEventListener('click', async () => {
    $('#start-panel').hidden = false;
    $('#plan').hidden = true;
    try {
      const p = await api('api/plan?kind=dry_run');
      const select = form.elements.namedItem('only');
      const chosen = new Set([...select.selectedOptions].map((o) => o.value));
      select.replaceChildren(...p.allSources.map((name) => el('option', { value: name, text: name, ...(chosen.has(name) ? { selected: '' } : {}) })));
    } catch (err) {
      $('.plan-text').textContent = `Cannot plan: ${err.message}`;
      $('#plan').hidden = false;
    }
  });
  $('#start-cancel').addEventListener('click', () => ($('#start-panel').hidden = true));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formValue();
    const q = new URLSearchParams({ kind: v.kind });
    if (v.limit) q.set('limit', v.limit);
    if (v.only.length) q.set('only', v.only.join(','));
    if (v.pkFrom) q.set('pk_from', v.pkFrom);
    if (v.pkTo) q.set('pk_to', v.pkTo);
    const out = $('.plan-text');
    $('#plan').hidden = false;
    out.textContent = 'Planning…';
    try {
      const p = await api(`api/plan?${q}`);
      const what = { dry_run: 'A dry run', stage: 'A stage batch', migrate: 'A migration' }[p.kind];
      const lines = [`${what} over ${p.sources.join(', ')}: ${p.scopeText}, about ${n(p.records)} records.`];
      const d = p.lastDryRun;
      lines.push(
        d
          ? `The last dry run (batch ${d.batch}, ${when(d.createdAt)}, ${d.scopeText}): ${n(d.wouldMigrate)} would migrate, ${n(d.missing)} missing, ${n(d.skipped)} skipped, ${n(d.failed)} failed.`
          : 'No dry run yet: consider one first.',
      );
      lines.push(p.canStart ? `${n(p.workers)} worker${p.workers === 1 ? '' : 's'} connected to do it.` : `Cannot start: ${p.refusal}`);
      out.textContent = lines.join('\n');
      $('#start-btn').disabled = !p.canStart;
    } catch (err) {
      out.textContent = `Cannot plan: ${err.message}`;
      $('#start-btn').disabled = true;
    }
  });
  $('#start-btn').addEventListener('click', async (e) => {
    const v = formValue();
    if (!confirm(`${$('.plan-text').textContent}\n\nStart it?`)) return;
    const button = e.currentTarget;
    const out = $('#action-result');
    button.disabled = true;
    out.className = 'action-result';
    out.textContent = 'Starting…';
    try {
      const body = { kind: v.kind, ...(v.limit ? { limit: Number(v.limit) } : {}), ...(v.only.length ? { only: v.only } : {}), ...(v.pkFrom ? { pkFrom: v.pkFrom } : {}), ...(v.pkTo ? { pkTo: v.pkTo } : {}) };
      const r = await api('api/batches', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      out.textContent = r.message;
      $('#start-panel').hidden = true;
      select_('latest');
    } catch (err) {
      out.className = 'action-result error';
      out.textContent = `Failed: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  });

  await tick(true);
  setInterval(() => void tick(), POLL_MS);
}

void start();
