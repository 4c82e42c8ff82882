import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { onCleanup, removeDir, trackChild, trackDir } from './cleanup.js';
import { freePort, log, sleep } from './util.js';

const run = promisify(execFile);
/** LAPI 1.4.6 answers 401 to a login whose User-Agent has no '/' (Node's default is "node"). */
export const crowdsecUserAgent = 'crowdsec/v1.4.6-bulwark-bench';

export interface CrowdSec {
  url: string;
  pid: number;
  version: string;
  /** watcher JWT from POST /v1/watchers/login */
  token: string;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

const exists = (bin: string) => run('sh', ['-c', `command -v ${bin}`]).then(() => true, () => false);

/**
 * Installs the Debian package if it is missing, with the offline workaround from the toolchain
 * notes (the postinst registers with the Central API and fails without internet; a non-empty
 * online_api_credentials.yaml skips that, then `dpkg --configure`).
 */
async function ensureInstalled(): Promise<void> {
  if ((await exists('crowdsec')) && (await exists('cscli'))) return;
  if (process.getuid?.() !== 0) throw new Error('crowdsec is not installed and the bench is not root (apt-get install -y crowdsec)');
  log('installing crowdsec (apt-get install -y crowdsec, CAPI registration disabled)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = () => run('apt-get', ['install', '-y', 'crowdsec'], { env, timeout: 300_000 }).then(() => true, (e: { stderr?: string }) => String(e.stderr ?? e));
  let r = await apt();
  if (typeof r === 'string' && /Unable to locate package|has no installation candidate/.test(r)) {
    await run('apt-get', ['update'], { env, timeout: 300_000 });
    r = await apt();
  }
  if (r !== true) {
    if (!fs.existsSync('/etc/crowdsec')) throw new Error(`apt-get install crowdsec failed: ${String(r).slice(-400)}`);
    fs.writeFileSync('/etc/crowdsec/online_api_credentials.yaml', '# CAPI disabled (offline; bulwark bench)\n');
    await run('dpkg', ['--configure', 'crowdsec'], { env, timeout: 300_000 });
  }
  if (!(await exists('crowdsec'))) throw new Error('crowdsec is still not installed after apt-get');
}

/**
 * Starts CrowdSec's Local API alone (`crowdsec -no-cs -no-capi`) from a private config: free
 * loopback ports, SQLite with WAL, no online_client, and `flush.max_items` left out (with it the
 * LAPI stalls after about a minute of sustained load). Adds a machine and logs in.
 */
export async function startCrowdSec(): Promise<CrowdSec> {
  await ensureInstalled();
  const dir = trackDir(fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-bench-crowdsec-')));
  fs.mkdirSync(path.join(dir, 'data'));
  fs.mkdirSync(path.join(dir, 'log'));
  const port = await freePort();
  const metricsPort = await freePort();
  const config = path.join(dir, 'config.yaml');
  const credentials = path.join(dir, 'local_api_credentials.yaml');
  fs.writeFileSync(
    config,
    `common:
  daemonize: false
  log_media: file
  log_level: info
  log_dir: ${dir}/log/
  working_dir: .
config_paths:
  config_dir: ${dir}/
  data_dir: ${dir}/data/
  simulation_path: /etc/crowdsec/simulation.yaml
  hub_dir: /var/lib/crowdsec/hub/
  index_path: /var/lib/crowdsec/hub/.index.json
  notification_dir: /etc/crowdsec/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
crowdsec_service:
  acquisition_path: /etc/crowdsec/acquis.yaml
  parser_routines: 1
plugin_config:
  user: nobody
  group: nogroup
db_config:
  log_level: info
  type: sqlite
  db_path: ${dir}/data/crowdsec.db
  use_wal: true
  flush:
    max_age: 7d
api:
  client:
    insecure_skip_verify: false
    credentials_path: ${credentials}
  server:
    log_level: info
    listen_uri: 127.0.0.1:${port}
    profiles_path: /etc/crowdsec/profiles.yaml
    trusted_ips:
      - 127.0.0.1
      - ::1
prometheus:
  enabled: true
  level: full
  listen_addr: 127.0.0.1
  listen_port: ${metricsPort}
`,
  );
  const version = (await run('crowdsec', ['-version']).then((r) => r.stdout + r.stderr, () => '')).match(/version:\s*(\S+)/i)?.[1] ?? 'unknown';
  await run('cscli', ['-c', config, 'machines', 'add', 'bulwark-bench', '--auto', '-f', credentials], { timeout: 60_000 });
  const creds = parseYaml(fs.readFileSync(credentials, 'utf8')) as { login: string; password: string };

  const child: ChildProcess = spawn('crowdsec', ['-c', config, '-no-cs', '-no-capi'], { stdio: ['ignore', 'ignore', 'pipe'] });
  trackChild(child);
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-5000)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    removeDir(dir);
  };
  onCleanup('crowdsec', stop);

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  let token: string | undefined;
  while (!token) {
    if (child.exitCode !== null) throw new Error(`crowdsec exited (${child.exitCode}): ${stderr.slice(-800)}`);
    const r = await fetch(`${url}/v1/watchers/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': crowdsecUserAgent },
      body: JSON.stringify({ machine_id: creds.login, password: creds.password, scenarios: [] }),
    }).then(async (res) => (res.ok ? ((await res.json()) as { token?: string }).token : undefined), () => undefined);
    token = r;
    if (!token) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`crowdsec LAPI did not accept a login on ${url}: ${stderr.slice(-800)}`);
      }
      await sleep(100);
    }
  }
  return {
    url,
    pid: child.pid!,
    version,
    token,
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    stop,
  };
}

/** What `cscli decisions add --ip … --duration 4h` sends: one alert carrying one ban decision. */
export function crowdsecAlert(ip: string, at: string): string {
  return JSON.stringify([
    {
      capacity: 0,
      decisions: [{ duration: '4h', origin: 'cscli', scenario: 'bulwark bench', scope: 'Ip', type: 'ban', value: ip }],
      events: [],
      events_count: 1,
      leakspeed: '0',
      message: 'bulwark bench',
      scenario: 'bulwark bench',
      scenario_hash: '',
      scenario_version: '',
      simulated: false,
      source: { scope: 'Ip', value: ip, ip },
      start_at: at,
      stop_at: at,
    },
  ]);
}
