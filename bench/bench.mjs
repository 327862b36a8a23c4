// Side-by-side benchmark: the reference PeerJS server (npm `peer` 1.0.2) vs Pathfinder.Signaling (one replica,
// in-memory) vs Pathfinder.Signaling (two replicas sharing a private redis-server, every relay crossing Redis).
// Runs A B C A B C … (interleaved rounds), each run on fresh server processes driven by the same load generator
// (loadgen.mjs), prints one table per server with the MEDIAN over the rounds, the ratios Pathfinder ÷ reference and
// a PASS/MISS line per target of issue 8 item 2. Started by bench/run.sh, which builds and installs everything first.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, freePort, createProcesses } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const work = path.join(here, '.work');
const repo = path.dirname(here);

// ------------------------------------------------------------------ options
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const opt = (name, def) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : def; };
const quick = flag('--quick');
const O = {
  rounds: Number(opt('--rounds', quick ? 2 : 3)),
  peers: Number(opt('--peers', 1000)), // fewer peers make memory per peer meaningless (heap slack)
  messages: Number(opt('--messages', quick ? 30000 : 200000)),
  latencySeconds: Number(opt('--latency-seconds', quick ? 3 : 10)),
  latencyRate: Number(opt('--latency-rate', 200)),
  settleMs: Number(opt('--settle-ms', quick ? 3000 : 6000)),
  window: Number(opt('--window', 4)),
  servers: opt('--servers', 'ref,pf1,pf2').split(','),
  env: opt('--env', 'Production'), // Production (strong generated key, rate limiting off) or Development
  strict: flag('--strict'),
  // Extra environment for the Pathfinder processes, for experiments: --pf-env NAME=VALUE (repeatable).
  pfExtraEnv: Object.fromEntries(argv.flatMap((a, i) => (a === '--pf-env' ? [argv[i + 1].split(/=(.*)/s).slice(0, 2)] : []))),
};
const clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const logDir = path.join(work, 'logs', stamp);
mkdirSync(logDir, { recursive: true });
const say = (s) => process.stderr.write(`[bench] ${s}\n`);

// ------------------------------------------------------------------ processes
const { children, start, stop, runLoadgen, killAll, waitHttp, startRedis, stopTagged } = createProcesses({ logDir, cwd: work, say, stopTimeoutMs: 8000 });

// ------------------------------------------------------------------ servers
const refBin = path.join(work, 'ref', 'node_modules', 'peer', 'dist', 'bin', 'peerjs.js');
const serviceDll = path.join(work, 'service', 'Pathfinder.Signaling.dll');
const strongKey = randomBytes(24).toString('base64url'); // passes the Production key guard
let pfEnv = O.env; // may fall back to Development once (recorded in the output)

async function startPathfinder(name, port, extraEnv) {
  const key = pfEnv === 'Production' ? strongKey : 'pathfinder';
  const env = {
    ASPNETCORE_URLS: `http://127.0.0.1:${port}`,
    ASPNETCORE_ENVIRONMENT: pfEnv,
    PEERJS_KEY: key,
    RATE_LIMIT_ENABLED: 'false',      // all bench sockets come from 127.0.0.1
    MAX_CONNECTIONS_PER_PEER: '0',    // idem: no per-IP socket cap
    ...(2 * O.peers > 4500 ? { CONCURRENT_LIMIT: String(2 * O.peers + 1000) } : {}), // two batches of peers
    ...extraEnv,
    ...O.pfExtraEnv,
  };
  // Content root = the publish folder, so the shipped appsettings.json (log levels) applies.
  const child = start(name, 'dotnet', [serviceDll], { env, cwd: path.dirname(serviceDll) });
  await waitHttp(child, `http://127.0.0.1:${port}/health`);
  return { child, key };
}

const SERVERS = {
  ref: {
    title: 'reference peer 1.0.2 (node)',
    async up(tag) {
      const port = await freePort();
      const args = [refBin, '--port', String(port), '--host', '127.0.0.1', '--path', '/pathfinder', '--key', 'pathfinder'];
      if (2 * O.peers > 4500) args.push('--concurrent_limit', String(2 * O.peers + 1000));
      const child = start(`ref-${tag}`, process.execPath, args);
      await waitHttp(child, `http://127.0.0.1:${port}/pathfinder`);
      return { procs: [child], pids: [child.pid], auxPids: [], key: 'pathfinder', urls: [`ws://127.0.0.1:${port}/pathfinder/peerjs`] };
    },
  },
  pf1: {
    title: 'Pathfinder, 1 replica (in-memory)',
    async up(tag) {
      const port = await freePort();
      const { child, key } = await withFallback(() => startPathfinder(`pf1-${tag}`, port, {}));
      return { procs: [child], pids: [child.pid], auxPids: [], key, urls: [`ws://127.0.0.1:${port}/pathfinder/peerjs`] };
    },
  },
  // The framing comparison (issue 15): the same single replica with .NET's WebSocket instead of our RFC 6455 framing,
  // over the fast path's pipes (pf1plat), or through the plain ASP.NET Core WebSocket middleware (pf1pipe).
  pf1plat: singleReplica('Pathfinder, 1 replica, .NET WebSocket.CreateFromStream over the fast path', { PATHFINDER_BENCH_FRAMING: 'platform' }),
  pf1pipe: singleReplica('Pathfinder, 1 replica, ASP.NET Core WebSocket middleware (no fast path)', { PATHFINDER_BENCH_FRAMING: 'platform', Signaling__UpgradeFastPath: 'false' }),
  pf2: {
    title: 'Pathfinder, 2 replicas + redis (every relay crosses Redis)',
    sameReplicaLatency: true,
    async up(tag) {
      const { redis, rport } = await startRedis(`redis-${tag}`, { pingTimeoutMs: 1000 });
      const env = { ConnectionStrings__redis: `127.0.0.1:${rport}` };
      const [p1, p2] = [await freePort(), await freePort()];
      const a = await withFallback(() => startPathfinder(`pf2a-${tag}`, p1, env));
      const b = await startPathfinder(`pf2b-${tag}`, p2, env);
      return {
        procs: [a.child, b.child, redis], pids: [a.child.pid, b.child.pid], auxPids: [redis.pid], key: a.key,
        urls: [`ws://127.0.0.1:${p1}/pathfinder/peerjs`, `ws://127.0.0.1:${p2}/pathfinder/peerjs`],
      };
    },
  },
};

function singleReplica(title, extraEnv) {
  return {
    title,
    async up(tag) {
      const port = await freePort();
      const { child, key } = await withFallback(() => startPathfinder(`pf1-${tag}`, port, extraEnv));
      return { procs: [child], pids: [child.pid], auxPids: [], key, urls: [`ws://127.0.0.1:${port}/pathfinder/peerjs`] };
    },
  };
}

async function withFallback(fn) {
  try { return await fn(); } catch (e) {
    if (pfEnv !== 'Production') throw e;
    say(`Pathfinder did not start in Production (${e.message}); falling back to Development for the rest of the run`);
    pfEnv = 'Development';
    return fn();
  }
}

async function runOne(server, round) {
  const def = SERVERS[server];
  const tag = `${server}r${round}`;
  let s;
  try {
    s = await def.up(tag);
    await sleep(1000); // let start-up work finish before measuring
    const res = await runLoadgen({
      urls: s.urls, key: s.key, pids: s.pids, auxPids: s.auxPids, clkTck, tag,
      peers: O.peers, messages: O.messages, window: O.window, settleMs: O.settleMs,
      latencyRate: O.latencyRate, latencySeconds: O.latencySeconds, sameReplicaLatency: !!def.sameReplicaLatency,
    });
    res.server = server; res.round = round;
    return res;
  } catch (e) {
    return { server, round, failed: e.message };
  } finally {
    if (s) for (const c of s.procs) await stop(c);
    await stopTagged(tag); // a half-started run
  }
}

// ------------------------------------------------------------------ main
const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const get = (o, p) => p.split('.').reduce((a, k) => (a == null ? undefined : a[k]), o);

const METRICS = [
  ['relay.serverCpuUs', 'server CPU per relayed message', 'µs', 2],
  ['relay.auxCpuUs', '  of which redis-server', 'µs', 2],
  ['relay.sysCpuUs', '  of which kernel time (server processes)', 'µs', 2],
  ['connectWarm.serverCpuUs', 'server CPU per connect (warm, 2nd batch)', 'µs', 0],
  ['connect.serverCpuUs', '  first batch, after a 50-peer warm-up', 'µs', 0],
  ['memory.perPeerKb', 'memory per connected peer (idle, heartbeating)', 'KB', 1],
  ['memory.auxPerPeerKb', '  plus redis-server (not in the line above)', 'KB', 1],
  ['memory.busyPerPeerKb', 'memory per peer after the relay phase', 'KB', 1],
  ['relay.msgsPerSec', 'saturated relay throughput', 'msg/s', 0],
  ['connectWarm.perSec', 'connect rate (warm, 32 in flight)', 'conn/s', 0],
  ['latency.p50', 'light-load latency p50', 'ms', 3],
  ['latency.p99', 'light-load latency p99', 'ms', 3],
  ['latencySame.p50', '  same-replica p50 (cluster)', 'ms', 3],
  ['latencySame.p99', '  same-replica p99 (cluster)', 'ms', 3],
  ['relay.ctxPerMsg', 'server context switches per message', '', 2],
  ['relay.serverCpuShare', 'server cores busy during relay', 'cores', 2],
  ['relay.genCpuUs', 'load generator CPU per message', 'µs', 2],
  ['memory.threads', 'server threads (idle)', '', 0],
];
const fmt = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : '-');

async function main() {
  for (const f of [refBin, serviceDll]) if (!existsSync(f)) throw new Error(`missing ${f}: run bench/run.sh`);
  const load0 = os.loadavg();
  const started = Date.now();
  say(`rounds=${O.rounds} peers=${O.peers} messages=${O.messages} latency=${O.latencyRate}/s x ${O.latencySeconds}s servers=${O.servers.join(',')} logs=${logDir}`);
  const results = [];
  for (let r = 1; r <= O.rounds; r++) {
    for (const s of O.servers) {
      const t = Date.now();
      say(`round ${r}/${O.rounds}: ${s} …`);
      const res = await runOne(s, r);
      results.push(res);
      say(res.failed ? `round ${r} ${s}: FAILED ${res.failed}` : `round ${r} ${s}: ${fmt(res.relay.serverCpuUs, 2)} µs/msg, ${fmt(res.connectWarm?.serverCpuUs, 0)} µs/connect, ${fmt(res.memory.perPeerKb, 1)} KB/peer, ${fmt(res.relay.msgsPerSec, 0)} msg/s, p50 ${fmt(res.latency.p50, 3)} ms (${((Date.now() - t) / 1000).toFixed(0)} s)`);
    }
  }

  const lines = [];
  const p = (s = '') => lines.push(s);
  const commit = (() => { try { return execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD']).toString().trim(); } catch { return '?'; } })();
  p(`Pathfinder signaling benchmark — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${commit} (working tree), ${os.cpus().length} cores, load avg ${load0[0].toFixed(2)} → ${os.loadavg()[0].toFixed(2)}`);
  p(`${O.rounds} interleaved rounds (${O.servers.join(' ')} …), median shown; ${O.peers} peers heartbeating every 5 s, ${O.messages} relayed CANDIDATE messages (~${results.find((r) => r.payloadBytes)?.payloadBytes ?? '?'} B payload, ${O.window} in flight per sender), latency ${O.latencyRate} msg/s for ${O.latencySeconds} s; Pathfinder in ${pfEnv}${pfEnv === 'Production' ? ' (generated 32-char key, rate limiting and per-IP cap off)' : ''}, Release build${Object.keys(O.pfExtraEnv).length ? `; EXPERIMENT env ${JSON.stringify(O.pfExtraEnv)}` : ''}`);
  const med = {};
  const errs = {};
  for (const s of O.servers) {
    const rs = results.filter((r) => r.server === s && !r.failed);
    const failed = results.filter((r) => r.server === s && r.failed);
    med[s] = Object.fromEntries(METRICS.map(([k]) => [k, median(rs.map((r) => get(r, k)))]));
    errs[s] = { runs: rs.length, failed: failed.length, lost: 0, reordered: 0, corrupt: 0, unexpected: 0, closedUnexpectedly: 0, connectFailures: 0 };
    for (const r of rs) {
      for (const k of ['lost', 'reordered', 'corrupt', 'unexpected', 'closedUnexpectedly']) errs[s][k] += r.errors[k];
      errs[s].connectFailures += r.errors.connectFailures;
    }
    p();
    p(`== ${SERVERS[s].title}: median of ${rs.length} run(s)${failed.length ? `, ${failed.length} FAILED: ${failed.map((f) => f.failed).join(' | ')}` : ''}`);
    for (const [k, label, unit, d] of METRICS) {
      if (!Number.isFinite(med[s][k])) continue;
      if ((k === 'relay.auxCpuUs' || k === 'memory.auxPerPeerKb') && !SERVERS[s].sameReplicaLatency) continue;
      const per = rs.map((r) => fmt(get(r, k), d)).join(' / ');
      p(`  ${label.padEnd(48)} ${fmt(med[s][k], d).padStart(10)} ${unit.padEnd(6)}  (runs: ${per})`);
    }
    // Where the server CPU went during the relay phase (first run, by thread name).
    const bt = rs[0]?.relay?.byThreadUs;
    if (bt) p(`  ${'relay CPU by server thread (run 1), µs/msg'.padEnd(48)} ${Object.entries(bt).map(([n, v]) => `${n} ${fmt(v, 1)}`).join(', ')}`);
    const e = errs[s];
    p(`  ${'lost / reordered / corrupt+unexpected messages'.padEnd(48)} ${`${e.lost} / ${e.reordered} / ${e.corrupt + e.unexpected}`.padStart(10)}         (sum over runs; connect failures ${e.connectFailures}, unexpected closes ${e.closedUnexpectedly})`);
  }

  // Ratios Pathfinder ÷ reference: ratio of the medians, and the per-round ratios (interleaved neighbours).
  const perRound = (s, k) => {
    const out = [];
    for (let r = 1; r <= O.rounds; r++) {
      const a = results.find((x) => x.server === s && x.round === r && !x.failed);
      const b = results.find((x) => x.server === 'ref' && x.round === r && !x.failed);
      if (a && b) out.push(get(a, k) / get(b, k));
    }
    return out;
  };
  const ratio = (s, k, kRef = k) => med[s]?.[k] / med.ref?.[kRef];
  const targets = [];
  const T = (ok, text) => targets.push(`${Number.isFinite(ok) || typeof ok === 'boolean' ? (ok ? 'PASS' : 'MISS') : 'n/a '} ${text}`);
  if (med.ref) {
    p();
    p('== Ratios Pathfinder ÷ reference (ratio of medians; per-round ratios in brackets)');
    const rows = [
      ['relay.serverCpuUs', 'CPU per relayed message'],
      ['connectWarm.serverCpuUs', 'CPU per connect'],
      ['memory.perPeerKb', 'memory per connected peer'],
      ['relay.msgsPerSec', 'saturated throughput'],
      ['latency.p50', 'latency p50'],
      ['latency.p99', 'latency p99'],
    ];
    for (const s of O.servers.filter((x) => x !== 'ref')) {
      for (const [k, label] of rows) {
        const x = ratio(s, k);
        if (!Number.isFinite(x)) continue;
        p(`  ${s.padEnd(7)} ${label.padEnd(28)} ${fmt(x, 2).padStart(6)}×  [${perRound(s, k).map((v) => fmt(v, 2)).join(', ')}]`);
      }
    }
    const chk = (s, k, max, label) => {
      const x = ratio(s, k);
      T(Number.isFinite(x) ? x <= max : NaN, `${label}: ${fmt(x, 2)}× (target ≤ ${max}×)`);
    };
    if (med.pf1) {
      chk('pf1', 'relay.serverCpuUs', 0.5, '1 replica CPU per relayed message');
      chk('pf1', 'connectWarm.serverCpuUs', 0.5, '1 replica CPU per connect');
      chk('pf1', 'memory.perPeerKb', 1.0, '1 replica memory per connected peer');
    }
    // Per layer (issue 15 item 1): what our hand-written code saves against the platform, measured in the same run.
    const layers = [['pf1', 'pf1plat', 'our RFC 6455 framing vs WebSocket.CreateFromStream on the fast path'],
      ['pf1plat', 'pf1pipe', 'the upgrade fast path vs the ASP.NET Core WebSocket middleware (both .NET WebSocket)'],
      ['pf1', 'pf1pipe', 'everything hand-written vs the plain platform']];
    for (const [ours, platform, what] of layers.filter(([a, b]) => med[a] && med[b])) {
      p();
      p(`== Layer: ${what} — ${ours} ÷ ${platform} (keep when ≤ 0.85×; per-round ratios in brackets)`);
      for (const [k, label] of rows.filter(([k]) => k === 'relay.serverCpuUs' || k === 'memory.perPeerKb' || k === 'connectWarm.serverCpuUs')) {
        const rounds = [];
        for (let r = 1; r <= O.rounds; r++) {
          const a = results.find((x) => x.server === ours && x.round === r && !x.failed);
          const b = results.find((x) => x.server === platform && x.round === r && !x.failed);
          if (a && b) rounds.push(get(a, k) / get(b, k));
        }
        const x = med[ours][k] / med[platform][k];
        p(`  ${label.padEnd(28)} ${fmt(x, 2).padStart(6)}×  [${rounds.map((v) => fmt(v, 2)).join(', ')}]  (${fmt(med[ours][k], 2)} vs ${fmt(med[platform][k], 2)})`);
      }
    }
    if (med.pf2) chk('pf2', 'relay.serverCpuUs', 1.5, 'cross-replica CPU per relayed message (2 replicas + redis vs reference single node)');
  }
  if (med.pf1) T(med.pf1['latency.p50'] <= 1, `1 replica latency p50: ${fmt(med.pf1['latency.p50'], 3)} ms (target ≤ 1 ms)`);
  if (med.pf2) {
    T(med.pf2['latency.p50'] <= 2, `cross-replica latency p50: ${fmt(med.pf2['latency.p50'], 3)} ms (target ≤ 2 ms)`);
    T(med.pf2['latency.p99'] <= 5, `cross-replica latency p99: ${fmt(med.pf2['latency.p99'], 3)} ms (target ≤ 5 ms)`);
  }
  for (const s of O.servers.filter((x) => x !== 'ref')) {
    const e = errs[s];
    const bad = e.lost + e.reordered + e.corrupt + e.unexpected;
    T(bad === 0 && e.runs > 0 && e.failed === 0, `${s} zero lost or reordered messages: lost ${e.lost}, reordered ${e.reordered}, corrupt ${e.corrupt + e.unexpected}, failed runs ${e.failed}`);
  }
  p();
  p('== Targets (issue 8 item 2)');
  for (const t of targets) p(`  ${t}`);
  p();
  p(`Absolute numbers vary run to run on shared machines; the ratios are what we claim. Wall time ${((Date.now() - started) / 1000).toFixed(0)} s. Raw results: ${path.relative(repo, path.join(logDir, 'results.json'))}`);

  const text = lines.join('\n');
  process.stdout.write(text + '\n');
  writeFileSync(path.join(logDir, 'results.json'), JSON.stringify({ options: O, pathfinderEnvironment: pfEnv, clkTck, results }, null, 2));
  writeFileSync(path.join(logDir, 'summary.txt'), text + '\n');
  const anyFailed = results.some((r) => r.failed);
  const anyMiss = targets.some((t) => t.startsWith('MISS'));
  process.exit(anyFailed ? 1 : (O.strict && anyMiss ? 3 : 0));
}

main().catch((e) => { say(`FAILED: ${e.stack || e}`); killAll(); process.exit(1); });
