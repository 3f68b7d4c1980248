/**
 * The HTTP mode checked by the real consumers: `promtool check metrics` (Debian `prometheus`)
 * accepts `/metrics`, a real Prometheus scrapes it, and headless Chromium renders the
 * progress page (flags per the machine notes: no sandbox as root, no background networking).
 */
import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@agent-runner/testkit/loopback';
import { scenario } from '../test/fixtures/scenario.js';
import { startHttpMonitor } from './http-monitor.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

t.test('http mode against the real tools', async (t) => {
  const p = scenario('echo "agent says: step <b>done</b>"\necho RESULT ok', 'narrative_file = ".state/NARRATIVE.md"');
  t.teardown(p.cleanup);
  p.write('.state/NARRATIVE.md', '# Narrative\nRefactored the parser.\n');
  t.equal((await p.serve(['--max-rounds', '2'])).code, 0);
  p.write('.state/logs/.agent-done', 'research wrapped up\n');

  const { port, base } = await startHttpMonitor(t, p);
  for (let i = 0; i < 100; i++) {
    const s = (await (await fetch(`${base}/api/state`)).json()) as { hosts: Array<{ snapshot: unknown }> };
    if (s.hosts[0]?.snapshot) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  t.test('promtool check metrics accepts /metrics', async (t) => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    t.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
    t.match(text, /agent_runner_rounds_24h\{host="local",project="proj",classification="ok"\} 2/);
    t.match(text, /agent_runner_agent_done\{host="local",project="proj"\} 1/);
  });

  t.test('a real Prometheus scrapes it', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ar-prom-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const promPort = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: agent-runner\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`,
    );
    const prom = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: 'ignore' },
    );
    t.teardown(() => prom.kill('SIGKILL'));
    let value: string | undefined;
    const end = Date.now() + 40_000;
    while (value === undefined && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 500));
      try {
        const q = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=agent_runner_up`)).json()) as {
          data?: { result?: Array<{ metric: Record<string, string>; value: [number, string] }> };
        };
        const hit = q.data?.result?.find((r) => r.metric['host'] === 'local');
        if (hit) value = hit.value[1];
      } catch {
        // not up yet
      }
    }
    t.equal(value, '1', 'agent_runner_up{host="local"} scraped and queried back');
  });

  t.test('headless Chromium renders the progress page', async (t) => {
    const profile = mkdtempSync(join(tmpdir(), 'ar-chromium-'));
    t.teardown(() => rmSync(profile, { recursive: true, force: true }));
    const dom = execFileSync(
      'chromium',
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile}`,
        '--dump-dom',
        `${base}/`,
      ],
      { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    t.match(dom, /<td id="project">proj<\/td>/, 'round state: project');
    t.match(dom, /<td id="round-num">2<\/td>/, 'round state: newest round');
    t.match(dom, /<td id="last-outcome">ok \(exit 0/, 'round state: last outcome');
    t.match(dom, /Refactored the parser\./, 'narrative');
    t.match(dom, /<td>round_end<\/td>|round_end/, 'recent events');
    t.match(dom, /agent says: step &lt;b&gt;done&lt;\/b&gt;/, 'round log tail, escaped');
    t.match(dom, /<b id="flag-done">yes — research wrapped up<\/b>/, '.agent-done flag');
    t.match(dom, /<b id="flag-stop">no<\/b>/, 'stop flag');
    t.notMatch(dom, /<b>done<\/b>/, 'agent output is never interpreted as HTML');
    t.equal((dom.match(/<rect class="round ok"/g) ?? []).length, 2, 'the timeline: both rounds, coloured as ok');
    t.match(dom, /<svg id="daily"[^]*\$0\.00 · 2 r/, "per day: today's two rounds");
    t.match(dom, /<input type="radio" name="evf-local" id="evf-local-round" class="evf-round">/, 'event filters');
    // A screenshot for a human to look at, kept with the CI run's files.
    const dir = process.env['AR_ARTIFACTS_DIR'] ?? join(ROOT, '.cache', 'artifacts');
    mkdirSync(dir, { recursive: true });
    const png = join(dir, 'monitor-page.png');
    execFileSync(
      'chromium',
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile}`,
        '--hide-scrollbars',
        '--window-size=1280,1800',
        `--screenshot=${png}`,
        `${base}/`,
      ],
      { timeout: 60_000, stdio: 'ignore' },
    );
    const head = readFileSync(png).subarray(0, 8);
    t.ok(
      head.equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) && statSync(png).size > 20_000,
      `a PNG of the page: ${png}`,
    );
    t.comment(`screenshot: ${png} (${statSync(png).size} bytes)`);
  });
});
