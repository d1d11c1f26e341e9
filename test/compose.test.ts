import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildProgram } from '../src/cli/main.ts';
import { SETTING_NAMES } from '../src/config/settings.ts';

/**
 * No Docker engine runs here, so the stack is checked statically: every service that runs our image
 * runs a command the CLI has, with options it accepts, on the ports it publishes, with settings the
 * tool reads. `docker compose config` runs too wherever the compose plugin exists.
 */

const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
  services: Record<string, { build?: string; image?: string; command?: string[]; environment?: Record<string, string>; ports?: string[]; healthcheck?: { test: string[] }; profiles?: string[] }>;
};
const sink = new Writable({ write: (_c, _e, cb) => cb() });
const program = buildProgram({ env: {}, stdout: sink, stderr: sink, isTTY: false }, () => {});
const commands = new Map(program.commands.map((c) => [c.name(), c]));
const ours = Object.entries(compose.services).filter(([, s]) => s.image === 'media-migrate:local');

describe('docker-compose.yml', () => {
  it('has the whole stack: redis, postgres, the emulator, a worker, the dashboard and a one-shot demo', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['dashboard', 'demo', 'emulator', 'postgres', 'redis', 'worker']);
    expect(compose.services.demo?.profiles).toEqual(['demo']);
    for (const name of ['redis', 'postgres', 'emulator', 'dashboard']) expect(compose.services[name]?.healthcheck?.test.length).toBeGreaterThan(0);
  });

  it('runs only commands the CLI has, with options they accept', () => {
    expect(ours.map(([n]) => n).sort()).toEqual(['dashboard', 'demo', 'emulator', 'worker']);
    for (const [name, s] of ours) {
      const [cmd, ...args] = s.command ?? [];
      const c = commands.get(cmd ?? '');
      expect(c, `${name}: unknown command ${cmd}`).toBeDefined();
      const longs = new Set(c!.options.map((o) => o.long));
      for (const a of args.filter((x) => x.startsWith('--'))) expect(longs.has(a), `${name}: ${cmd} has no option ${a}`).toBe(true);
    }
  });

  it('publishes the port each server listens on, and health-checks that port', () => {
    for (const name of ['emulator', 'dashboard']) {
      const s = compose.services[name]!;
      const port = s.command![s.command!.indexOf('--port') + 1];
      expect(s.ports?.[0]).toBe(`127.0.0.1:${port}:${port}`);
      expect(s.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${port}/`);
      expect(s.command).toContain('0.0.0.0');
    }
    expect(compose.services.dashboard?.environment?.DASHBOARD_PASSWORD).toMatch(/^\$\{DASHBOARD_PASSWORD/);
  });

  it('sets only settings the tool reads', () => {
    for (const [name, s] of ours) {
      for (const key of Object.keys(s.environment ?? {})) expect(SETTING_NAMES.has(key), `${name}: ${key} is read by nothing`).toBe(true);
    }
  });

  it('passes `docker compose config` wherever the compose plugin exists', () => {
    const probe = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      // No plugin on this machine: the static checks above are what we have.
      expect(probe.status).not.toBe(0);
      return;
    }
    const out = execFileSync('docker', ['compose', 'config', '--quiet'], { env: { ...process.env, DASHBOARD_PASSWORD: 'x' }, encoding: 'utf8' });
    expect(out).toBe('');
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync('Dockerfile', 'utf8');
  const stages = dockerfile.split(/^(?=FROM )/m).filter((s) => s.startsWith('FROM '));
  const build = stages.find((s) => / AS build$/m.test(s.split('\n')[0] ?? ''));
  const runtime = stages.at(-1) ?? '';
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { files: string[]; bin: Record<string, string> };

  it('compiles in a build stage, installs production dependencies only and runs as a non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build, 'a stage named build').toBeDefined();
    expect(build).toMatch(/^RUN npm run build$/m);
    for (const file of ['package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) expect(build).toContain(file);
    for (const dir of ['src', 'workers', 'dashboard', 'scripts']) {
      expect(build).toContain(`COPY ${dir} ./${dir}`);
      expect(existsSync(dir)).toBe(true);
    }
    // Without --ignore-scripts, `prepare` would try to build with the dev dependencies left out.
    expect(dockerfile).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toContain(`ENTRYPOINT ["node", "${pkg.bin['media-migrate']}"]`);
  });

  it('runs the compiled code: the image holds what the package ships, no TypeScript sources', () => {
    for (const f of pkg.files) expect(runtime, `the image lacks ${f}`).toMatch(new RegExp(`^COPY (--from=build /app/)?${f} \\./${f}$`, 'm'));
    expect(runtime).toMatch(/^COPY package\.json \.\/$/m);
    expect(runtime).not.toMatch(/^COPY (--from=\w+ \S+\/)?(src|workers|test|bench)\b/m);
  });
});

describe('.env.example', () => {
  it('lists every setting the tool reads, and nothing else', () => {
    const keys = readFileSync('.env.example', 'utf8')
      .split('\n')
      .map((l) => /^#?\s*([A-Z][A-Z0-9_]+)=/.exec(l)?.[1])
      .filter((k): k is string => Boolean(k));
    for (const k of keys) expect(SETTING_NAMES.has(k), `${k} is read by nothing`).toBe(true);
    expect(new Set(keys)).toEqual(SETTING_NAMES);
  });
});
