// The capacity bench (issue 17): what one replica and one Redis shard carry, as inputs to docs/scaling.md.
//
//   relay     loadgen.mjs over R replicas (peers round-robin, so with R >= 2 every relay crosses Redis): relayed
//             messages/s, CPU per relayed message on the replicas, and on each Redis shard (INFO cpu, whole run)
//   presence  P peers connected across the replicas: Redis memory per connected peer (INFO memory used_memory,
//             summed over the shards, before/after)
//   queued    Q CANDIDATE-sized messages (~300 B payload) sent to absent ids from Q/200 senders: Redis memory per
//             queued message (offline queues, their budget hashes and expiry index)
//
// Usage (via bench/run.sh --capacity): --replicas R (2) --peers N (1000, relay phase) --messages M (100000)
//   --presence-peers P (2000) --queued Q (5000) --window W (4) --idle-ms T (10000: idle Redis load per peer)
//   --redis host:port[,host:port…]   use these Redis endpoints (e.g. every primary of a Redis Cluster) instead of a
//                                    private redis-server; the replicas get the list as ConnectionStrings__redis and
//                                    every endpoint is read with INFO as one shard
// Prints one table; raw JSON goes to bench/.work/logs/<stamp>/capacity.json. Loopback only; every process it starts
// is stopped by PID.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, freePort, createProcesses, redisCommand } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const work = path.join(here, '.work');
const WebSocket = createRequire(path.join(work, 'gen', 'package.json'))('ws');

const argv = process.argv.slice(2);
const opt = (name, def) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : def; };
const O = {
  replicas: Number(opt('--replicas', 2)),
  peers: Number(opt('--peers', 1000)),
  messages: Number(opt('--messages', 100000)),
  presencePeers: Number(opt('--presence-peers', 2000)),
  queued: Number(opt('--queued', 5000)),
  window: Number(opt('--window', 4)),
  idleMs: Number(opt('--idle-ms', 10000)),
  redis: opt('--redis', ''),
};
const clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const logDir = path.join(work, 'logs', new Date().toISOString().replace(/[:.]/g, '-'));
mkdirSync(logDir, { recursive: true });
const say = (s) => process.stderr.write(`[capacity] ${s}\n`);
const { children, start, stop, runLoadgen, waitHttp, startRedis } = createProcesses({ logDir, cwd: work, say, stopTimeoutMs: 8000 });
const serviceDll = path.join(work, 'service', 'Pathfinder.Signaling.dll');
const KEY = 'pathfinder';

// ------------------------------------------------------------------ Redis INFO, per shard
async function info(port, host, section) {
  const text = await redisCommand(port, `INFO ${section}`, 5000);
  if (text == null || text.startsWith('-')) throw new Error(`INFO ${section} on ${host}:${port}: ${text}`);
  return Object.fromEntries(text.split('\r\n').filter((l) => l.includes(':')).map((l) => l.split(/:(.*)/s).slice(0, 2)));
}
async function shardsSnapshot(shards) {
  const out = [];
  for (const s of shards) {
    const [m, c, st] = [await info(s.port, s.host, 'memory'), await info(s.port, s.host, 'cpu'), await info(s.port, s.host, 'stats')];
    out.push({
      usedMemory: Number(m.used_memory),
      cpuSec: Number(c.used_cpu_user) + Number(c.used_cpu_sys),
      commands: Number(st.total_commands_processed),
      dbsize: Number((await redisCommand(s.port, 'DBSIZE', 5000) ?? ':0').slice(1)),
    });
  }
  return out;
}
const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0);

// ------------------------------------------------------------------ peers for the memory phases
function connectPeer(url, id) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?key=${KEY}&id=${id}&token=t${id}`, { perMessageDeflate: false });
    ws.refused = 0;
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`${id}: no OPEN in 15 s`)); }, 15000);
    ws.on('message', (d) => {
      const t = d.toString();
      if (t === '{"type":"OPEN"}') { clearTimeout(timer); resolve(ws); } else if (/"type":"(EXPIRE|ERROR)"/.test(t)) ws.refused++;
    });
    ws.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}
async function connectMany(urls, prefix, n, concurrency = 32) {
  const list = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < n; i = next++) list[i] = await connectPeer(urls[i % urls.length], `${prefix}-${i}`);
  }));
  return list;
}
const closeAll = (list) => Promise.all(list.map((ws) => new Promise((r) => { ws.once('close', r); ws.close(1000); setTimeout(r, 3000); })));
const CAND = 'candidate:842163049 1 udp 1677729535 192.0.2.10 54321 typ srflx raddr 10.0.0.5 rport 54321 generation 0 ufrag sK5a network-id 1 network-cost 10';

// ------------------------------------------------------------------ main
async function main() {
  if (!existsSync(serviceDll)) throw new Error(`missing ${serviceDll}: run bench/run.sh --capacity`);
  const procs = [];
  let shards, auxPids = [];
  if (O.redis) {
    shards = O.redis.split(',').map((e) => { const [host, port] = e.trim().split(':'); return { host, port: Number(port) }; });
  } else {
    const { redis, rport } = await startRedis('redis', { pingTimeoutMs: 1000 });
    procs.push(redis); auxPids = [redis.pid];
    shards = [{ host: '127.0.0.1', port: rport }];
  }
  const connection = shards.map((s) => `${s.host}:${s.port}`).join(',');
  say(`replicas=${O.replicas} shards=${shards.length} (${connection}) peers=${O.peers} messages=${O.messages} presence=${O.presencePeers} queued=${O.queued} logs=${logDir}`);

  const urls = [], pids = [];
  for (let r = 0; r < O.replicas; r++) {
    const port = await freePort();
    const child = start(`pf${r}`, 'dotnet', [serviceDll], {
      cwd: path.dirname(serviceDll),
      env: {
        ASPNETCORE_URLS: `http://127.0.0.1:${port}`, ASPNETCORE_ENVIRONMENT: 'Development', PEERJS_KEY: KEY,
        ConnectionStrings__redis: connection,
        RATE_LIMIT_ENABLED: 'false', MAX_CONNECTIONS_PER_PEER: '0', CONCURRENT_LIMIT: String(4 * Math.max(O.peers, O.presencePeers) + 1000),
        Signaling__ExpireTimeout: '600000', // queued messages stay until measured
      },
    });
    procs.push(child); pids.push(child.pid);
    await waitHttp(child, `http://127.0.0.1:${port}/health`);
    urls.push(`ws://127.0.0.1:${port}/pathfinder/peerjs`);
  }
  await sleep(1000);
  const result = { options: O, shards: shards.length, replicas: O.replicas, endpoints: connection, loadavg: os.loadavg() };

  // Redis's own idle load with the replicas connected and no peers (serverCron; on a cluster also the cluster bus and
  // replication): subtracted below, so the per-peer figures are what peers add.
  const b0 = await shardsSnapshot(shards); const tb0 = Date.now();
  await sleep(O.idleMs);
  const b1 = await shardsSnapshot(shards); const tb1 = Date.now();
  const baseCpuUsPerMs = ((sum(b1, (s) => s.cpuSec) - sum(b0, (s) => s.cpuSec)) * 1e6) / (tb1 - tb0);
  result.baselineRedisCpuMsPerSecond = baseCpuUsPerMs;

  // presence: Redis bytes per connected peer
  const p0 = await shardsSnapshot(shards); const t0 = Date.now();
  const present = await connectMany(urls, `cap${Date.now().toString(36)}p`, O.presencePeers);
  await sleep(1500);
  const p1 = await shardsSnapshot(shards); const t1 = Date.now();
  await sleep(O.idleMs); // leases renewed (every lease/3) and heartbeats (local): Redis's idle load per peer
  const p2 = await shardsSnapshot(shards); const t2 = Date.now();
  result.presence = {
    peers: present.length,
    redisCpuUsPerConnect: ((sum(p1, (s) => s.cpuSec) - sum(p0, (s) => s.cpuSec)) * 1e6 - baseCpuUsPerMs * (t1 - t0)) / present.length,
    commandsPerConnect: (sum(p1, (s) => s.commands) - sum(p0, (s) => s.commands)) / present.length,
    idleRedisCpuUsPerPeerSecond: ((sum(p2, (s) => s.cpuSec) - sum(p1, (s) => s.cpuSec)) * 1e6 - baseCpuUsPerMs * (t2 - t1)) / present.length / ((t2 - t1) / 1000),
    bytesPerPeer: (sum(p1, (s) => s.usedMemory) - sum(p0, (s) => s.usedMemory)) / present.length,
    keysPerPeer: (sum(p1, (s) => s.dbsize) - sum(p0, (s) => s.dbsize)) / present.length,
    perShardPeers: p1.map((s, i) => s.dbsize - p0[i].dbsize),
  };
  say(`presence: ${result.presence.bytesPerPeer.toFixed(0)} B of Redis per connected peer`);
  await closeAll(present);
  await sleep(1500);

  // queued: Redis bytes per message waiting for an absent peer (200 per sender, 100 per destination)
  const senders = await connectMany(urls, `cap${Date.now().toString(36)}s`, Math.ceil(O.queued / 200));
  const q0 = await shardsSnapshot(shards);
  const absent = `cap${Date.now().toString(36)}a`;
  let sent = 0;
  for (const [i, ws] of senders.entries()) {
    for (let k = 0; k < 200 && sent < O.queued; k++, sent++) {
      const dst = `${absent}-${i}-${k % 2}`;
      ws.send(`{"type":"CANDIDATE","dst":"${dst}","payload":{"candidate":{"candidate":"${CAND}","sdpMid":"0","sdpMLineIndex":0},"type":"data","connectionId":"dc_0123456789abcde","seq":${k}}}`);
    }
  }
  await sleep(3000);
  const q1 = await shardsSnapshot(shards);
  const refused = sum(senders, (ws) => ws.refused);
  result.queued = {
    messages: sent - refused, refused,
    bytesPerMessage: (sum(q1, (s) => s.usedMemory) - sum(q0, (s) => s.usedMemory)) / Math.max(1, sent - refused),
  };
  say(`queued: ${result.queued.bytesPerMessage.toFixed(0)} B of Redis per queued message (${refused} refused)`);
  await closeAll(senders);

  // relay: replicas' and shards' CPU per relayed message
  const r0 = await shardsSnapshot(shards);
  const lg = await runLoadgen({
    urls, key: KEY, pids, auxPids, clkTck, tag: 'capacity', peers: O.peers, messages: O.messages, window: O.window,
    settleMs: 2000, latencyRate: 100, latencySeconds: 2, warmConnect: false,
  });
  const r1 = await shardsSnapshot(shards);
  if (lg.failed) throw new Error(`loadgen: ${lg.failed}`);
  const delivered = lg.relay.delivered;
  result.relay = {
    msgsPerSec: lg.relay.msgsPerSec,
    replicaCpuUsPerMsg: lg.relay.serverCpuUs - lg.relay.auxCpuUs, // all replicas together
    replicaCpuUsPerMsgEach: (lg.relay.serverCpuUs - lg.relay.auxCpuUs) / O.replicas,
    localRedisCpuUsPerMsg: auxPids.length ? lg.relay.auxCpuUs : null, // relay phase only, from /proc
    shardCpuUsPerMsg: r1.map((s, i) => ((s.cpuSec - r0[i].cpuSec) * 1e6) / delivered), // whole loadgen run, from INFO
    shardCommandsPerMsg: r1.map((s, i) => (s.commands - r0[i].commands) / delivered),
    coresBusy: lg.relay.serverCpuShare,
    lost: lg.errors?.lost, latencyP50: lg.latency?.p50, latencyP99: lg.latency?.p99,
  };
  writeFileSync(path.join(logDir, 'capacity.json'), JSON.stringify({ ...result, loadgen: lg }, null, 2));

  const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const rel = result.relay;
  const lines = [
    `| figure (${O.replicas} replicas, ${shards.length} shard${shards.length > 1 ? 's' : ''}) | value |`,
    '|---|---|',
    `| relayed messages/s (saturated, all replicas, ${f(rel.coresBusy, 2)} cores busy incl. Redis) | ${f(rel.msgsPerSec, 0)} |`,
    `| replica CPU per relayed message (sender's + receiver's replica) | ${f(rel.replicaCpuUsPerMsg)} µs |`,
    `| … per replica | ${f(rel.replicaCpuUsPerMsgEach)} µs |`,
    ...(rel.localRedisCpuUsPerMsg != null ? [`| Redis CPU per relayed message (relay phase, /proc) | ${f(rel.localRedisCpuUsPerMsg)} µs |`] : []),
    ...rel.shardCpuUsPerMsg.map((c, i) => `| shard ${i + 1} CPU per relayed message (INFO cpu, whole run) · commands per message | ${f(c)} µs · ${f(rel.shardCommandsPerMsg[i], 2)} |`),
    `| Redis memory per connected peer (${result.presence.peers} peers, ${f(result.presence.keysPerPeer, 2)} keys each) | ${f(result.presence.bytesPerPeer, 0)} B |`,
    `| Redis CPU per connect (claim; Redis's own idle load subtracted) · commands per connect | ${f(result.presence.redisCpuUsPerConnect)} µs · ${f(result.presence.commandsPerConnect, 2)} |`,
    `| Redis CPU per connected peer per second, idle (lease renewal; Redis's own idle load subtracted) | ${f(result.presence.idleRedisCpuUsPerPeerSecond, 2)} µs |`,
    `| Redis's own idle load (no peers, replicas connected; all shards) | ${f(result.baselineRedisCpuMsPerSecond, 2)} ms/s |`,
    `| Redis memory per queued message (~300 B payload, ${result.queued.messages} queued) | ${f(result.queued.bytesPerMessage, 0)} B |`,
    `| light-load latency p50 / p99 (cross-replica) | ${f(rel.latencyP50, 3)} / ${f(rel.latencyP99, 3)} ms |`,
    `| lost messages | ${rel.lost ?? '-'} |`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  say(`load average at start ${result.loadavg.map((x) => x.toFixed(2)).join(' ')} (CPU figures move with the machine's load)`);
  for (const c of procs.reverse()) await stop(c);
}

main().catch(async (e) => { say(`FAILED: ${e.stack || e.message}`); for (const c of [...children]) await stop(c); process.exit(1); });
