// Helpers shared by the bench scripts (bench.mjs, abuse.mjs, fdcap.mjs, capacity.mjs): a scrubbed environment for the servers, free
// loopback ports, HTTP readiness polling, a minimal Redis client, and the bookkeeping of the child processes a script
// starts (log files, stop, kill everything on exit or on a signal).

import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The servers must not inherit the caller's Redis, telemetry or Signaling settings.
export function cleanEnv() {
  const e = { ...process.env };
  for (const k of Object.keys(e)) {
    if (/^(ConnectionStrings__|OTEL_|Signaling__|ASPNETCORE_|DOTNET_|PEERJS_|PEERSERVER_|RATE_LIMIT|MAX_CONNECTIONS|CONCURRENT_LIMIT|ALIVE_TIMEOUT|EXPIRE_TIMEOUT|ALLOW_DISCOVERY|CORS_ORIGINS|PROXIED|KNOWN_PROXIES|TLS_|LOG_FORMAT|PORT$)/.test(k)) delete e[k];
  }
  return e;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// The HTTP status of a GET, 0 when there is no answer within a second.
export function httpStatus(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 1000 }, (res) => { res.resume(); resolve(res.statusCode); });
    req.on('error', () => resolve(0));
    req.on('timeout', () => { req.destroy(); resolve(0); });
  });
}

// One Redis command over a fresh connection: the simple/error/integer reply (trimmed) or the bulk string's body;
// null on a connection error or after timeoutMs.
export function redisCommand(port, cmd, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const t = setTimeout(() => { s.destroy(); resolve(null); }, timeoutMs);
    s.on('connect', () => s.write(`${cmd}\r\n`));
    s.on('data', (d) => {
      buf += d;
      const m = /^\$(\d+)\r\n/.exec(buf);
      if (buf.startsWith('+') || buf.startsWith('-') || buf.startsWith(':')) { if (buf.includes('\r\n')) { clearTimeout(t); s.destroy(); resolve(buf.trim()); } } else if (m && Buffer.byteLength(buf) >= m[0].length + Number(m[1])) { clearTimeout(t); s.destroy(); resolve(buf.slice(m[0].length)); }
    });
    s.on('error', () => { clearTimeout(t); resolve(null); });
  });
}

// The child processes of one script. Each gets a log file `${logDir}/${name}.log` (stdout and stderr, appended), the
// scrubbed environment plus `env`, and `cwd` (default `cwd`). `stop` sends SIGTERM, then SIGKILL after stopTimeoutMs;
// with `sigcont` it first sends SIGCONT (a SIGSTOPped redis-server must be able to die), in killAll too. Every child
// left is killed on exit and on SIGINT/SIGTERM/SIGHUP (which `say` and exit 130).
export function createProcesses({ logDir, cwd: defaultCwd, say, stopTimeoutMs, sigcont = false }) {
  const children = new Set();
  function start(name, cmd, args, { env = {}, cwd = defaultCwd } = {}) {
    const out = openSync(path.join(logDir, `${name}.log`), 'a');
    const child = spawn(cmd, args, { cwd, env: { ...cleanEnv(), ...env }, stdio: ['ignore', out, out] });
    child.exited = new Promise((r) => child.once('exit', (code, sig) => { children.delete(child); child.exitCode_ = code ?? sig; r(code ?? sig); }));
    child.name = name;
    children.add(child);
    return child;
  }
  async function stop(child) {
    if (!child || !children.has(child)) return;
    if (sigcont) { try { child.kill('SIGCONT'); } catch { } }
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
    await child.exited;
    clearTimeout(t);
  }
  function killAll() { for (const c of children) { try { if (sigcont) c.kill('SIGCONT'); c.kill('SIGKILL'); } catch { } } }
  process.on('exit', killAll);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => { say(`${s}: stopping`); killAll(); process.exit(130); });

  // Polls url until it answers 200; throws when the child exits first, or stops it and throws after timeoutMs.
  async function waitHttp(child, url, timeoutMs = 40000) {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (!children.has(child)) throw new Error(`${child.name} exited (${child.exitCode_}) before it was ready; see ${logDir}/${child.name}.log`);
      if (await httpStatus(url) === 200) return;
      await sleep(150);
    }
    await stop(child);
    throw new Error(`${child.name}: ${url} not ready after ${timeoutMs} ms`);
  }

  // A private redis-server on a free port (no persistence), once it answers PING (each PING waits pingTimeoutMs).
  async function startRedis(name, { pingTimeoutMs }) {
    const rport = await freePort();
    const redis = start(name, 'redis-server', ['--port', String(rport), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
    const end = Date.now() + 10000;
    while ((await redisCommand(rport, 'PING', pingTimeoutMs)) !== '+PONG') {
      if (Date.now() > end || !children.has(redis)) throw new Error(`redis-server did not start; see ${logDir}/${name}.log`);
      await sleep(100);
    }
    return { redis, rport };
  }

  // Runs the load generator (loadgen.mjs) with a config; resolves with the JSON of its last stdout line.
  function runLoadgen(config) {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(import.meta.dirname, 'loadgen.mjs'), '--config', JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.add(child);
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.on('exit', () => {
        children.delete(child);
        try { resolve(JSON.parse(out.trim().split('\n').pop())); } catch { resolve({ failed: `no result (${out.slice(0, 200)})` }); }
      });
    });
  }

  // Stops the children whose name ends with tag (what a half-started run left).
  async function stopTagged(tag) {
    for (const c of [...children]) if (c.name?.endsWith(tag)) await stop(c);
  }

  return { children, start, stop, killAll, waitHttp, startRedis, stopTagged, runLoadgen };
}
