// The load generator: ONE program that drives every server the benchmark compares (the reference `peer` and
// Pathfinder, one replica or several). It speaks the PeerJS client protocol (PEERJS-PROTOCOL.md §4-7) over plain
// WebSockets and measures the server processes it is given through /proc:
//
//   warmup   connect a few peers, relay some messages, close them (JIT, pools, heaps reach a steady state)
//   connect  N peers (each heartbeating every 5 s): RSS growth per peer, first-batch CPU per connect
//   relay    after an unmeasured warm-up relay, every peer sends CANDIDATE-sized messages (~300 B payload) to its
//            partner, windowed, until M messages are delivered: server CPU per relayed message, saturated
//            messages/s, lost / reordered / corrupted
//   connect2 N more peers with everything warm: server CPU per connect (steady state), connect rate
//   latency  light load (R msgs/s, timestamped one-way) on a few pairs: p50 / p99 in ms
//
// Usage: node loadgen.mjs --config '<json>'   (prints one JSON result line on stdout; progress on stderr)
// Peers are assigned to the given URLs round-robin by index, so with two URLs peer 2i and its partner 2i+1 always
// sit on different replicas and every relay crosses the backplane.

import { createRequire } from 'node:module';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '.work', 'gen', 'package.json'));
const WebSocket = require('ws');

const cfg = JSON.parse(process.argv[process.argv.indexOf('--config') + 1]);
const {
  urls,                 // ["ws://127.0.0.1:P/pathfinder/peerjs", ...]
  key,
  pids,                 // server processes (measured for CPU and memory)
  auxPids = [],         // e.g. redis-server: counted in CPU (and reported separately)
  clkTck = 100,
  tag = 'x',
  peers: N = 1000,
  messages: M = 200000,
  window: W = 4,        // messages in flight per sender
  connectConcurrency = 32,
  settleMs = 6000,      // after connecting, before reading RSS (peers keep heartbeating)
  warmupPeers = 50,
  warmupMessages = 5000,
  latencyRate = 200,
  latencySeconds = 10,
  latencyPairs = 10,
  sameReplicaLatency = false, // cluster: also measure pairs that share a replica
  heartbeatMs = 5000,
  drainMs = 10000,
  relayWarmup = Math.min(20000, Math.ceil(M / 5)),
  warmConnect = true,   // a second batch of N connects once everything is warm
} = cfg;

const log = (...a) => process.stderr.write(`[loadgen ${tag}] ${a.join(' ')}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowNs = () => process.hrtime.bigint();
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// ---------------------------------------------------------------- /proc
function cpuTicks(pid, which = 'both') {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  const [u, k] = [Number(f[11]), Number(f[12])]; // utime, stime (fields 14, 15)
  return which === 'sys' ? k : u + k;
}
function status(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) || [])[1] || 0);
  return { rssKb: get('VmRSS'), threads: get('Threads') };
}
function ctxSwitches(pid) {
  let vol = 0, invol = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      vol += Number(s.match(/^voluntary_ctxt_switches:\s+(\d+)/m)[1]);
      invol += Number(s.match(/^nonvoluntary_ctxt_switches:\s+(\d+)/m)[1]);
    } catch { /* thread exited */ }
  }
  return { vol, invol };
}
// CPU by thread name (comm), for "what dominates": threads that exit during a phase are not counted here.
function threadTicks() {
  const out = new Map();
  for (const pid of pids) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
        const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
        out.set(`${pid}/${tid}`, { comm, ticks: Number(f[11]) + Number(f[12]) });
      } catch { /* exited */ }
    }
  }
  return out;
}
function threadBreakdown(a, b, perCount) {
  const byName = new Map();
  for (const [k, v] of b) {
    const d = v.ticks - (a.get(k)?.ticks ?? 0);
    if (d > 0) byName.set(v.comm, (byName.get(v.comm) ?? 0) + d);
  }
  return Object.fromEntries([...byName].sort((x, y) => y[1] - x[1]).slice(0, 6).map(([n, t]) => [n, ticksToUs(t) / perCount]));
}

function snapshot() {
  const snap = { t: nowMs(), cpu: 0, sys: 0, auxCpu: 0, rssKb: 0, auxRssKb: 0, threads: 0, vol: 0, invol: 0 };
  for (const pid of pids) {
    snap.cpu += cpuTicks(pid);
    snap.sys += cpuTicks(pid, 'sys');
    const st = status(pid); snap.rssKb += st.rssKb; snap.threads += st.threads;
    const cs = ctxSwitches(pid); snap.vol += cs.vol; snap.invol += cs.invol;
  }
  for (const pid of auxPids) { snap.auxCpu += cpuTicks(pid); snap.auxRssKb += status(pid).rssKb; }
  snap.gen = process.cpuUsage();
  return snap;
}
const ticksToUs = (t) => (t * 1e6) / clkTck;
function delta(a, b) {
  return {
    wallMs: b.t - a.t,
    serverUs: ticksToUs(b.cpu - a.cpu),
    serverSysUs: ticksToUs(b.sys - a.sys),
    auxUs: ticksToUs(b.auxCpu - a.auxCpu),
    genUs: (b.gen.user - a.gen.user) + (b.gen.system - a.gen.system),
    rssKb: b.rssKb - a.rssKb,
    auxRssKb: b.auxRssKb - a.auxRssKb,
    vol: b.vol - a.vol,
    invol: b.invol - a.invol,
  };
}

// ---------------------------------------------------------------- peers
// A CANDIDATE as the peerjs client sends it; payload ~300 bytes with seq and send time.
const CAND = 'candidate:842163049 1 udp 1677729535 192.0.2.10 54321 typ srflx raddr 10.0.0.5 rport 54321 generation 0 ufrag sK5a network-id 1 network-cost 10';
const msg = (type, dst, seq, t) =>
  `{"type":"${type}","dst":"${dst}","payload":{"candidate":{"candidate":"${CAND}","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"sK5a"},"type":"data","connectionId":"dc_0123456789abcde","seq":${seq},"t":${t}}}`;
const PAYLOAD_BYTES = Buffer.byteLength(JSON.stringify(JSON.parse(msg('CANDIDATE', 'x', 1000000, 1234567.123)).payload));

const stats = { received: 0, lost: 0, reordered: 0, corrupt: 0, unexpected: 0, closedUnexpectedly: 0 };
let onDeliver = null; // (receiver, sender, seq, t) per phase

class Peer {
  constructor(index, id, url) {
    this.index = index; this.id = id; this.url = url;
    this.token = Math.random().toString(36).slice(2);
    this.lastSeq = new Map(); // src -> last seq seen
    this.ws = null; this.hb = null; this.closing = false;
  }
  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${this.url}?key=${encodeURIComponent(key)}&id=${this.id}&token=${this.token}`, { perMessageDeflate: false });
      this.ws = ws;
      let opened = false;
      const fail = (why) => { if (!opened) { opened = true; try { ws.terminate(); } catch { } reject(new Error(`${this.id}: ${why}`)); } };
      ws.on('error', (e) => fail(e.message));
      ws.on('close', (code) => { fail(`closed ${code} before OPEN`); if (!this.closing) stats.closedUnexpectedly++; clearInterval(this.hb); });
      ws.on('message', (data) => {
        const text = data.toString();
        if (!opened) {
          if (text === '{"type":"OPEN"}') {
            opened = true;
            // Heartbeat every 5 s like the peerjs client, with a random phase so they do not come in bursts.
            setTimeout(() => {
              if (this.closing) return;
              this.beat();
              this.hb = setInterval(() => this.beat(), heartbeatMs);
            }, Math.random() * heartbeatMs);
            resolve(this);
          } else fail(`first frame ${text.slice(0, 120)}`);
          return;
        }
        this.receive(text);
      });
    });
  }
  beat() { if (this.ws.readyState === WebSocket.OPEN) this.ws.send('{"type":"HEARTBEAT"}'); }
  receive(text) {
    let m;
    try { m = JSON.parse(text); } catch { stats.corrupt++; return; }
    if ((m.type !== 'CANDIDATE' && m.type !== 'OFFER') || m.dst !== this.id || typeof m.src !== 'string' || !m.payload
      || m.payload.candidate?.candidate !== CAND || typeof m.payload.seq !== 'number') {
      stats.unexpected++; log(`unexpected frame at ${this.id}: ${text.slice(0, 200)}`); return;
    }
    const seq = m.payload.seq;
    const last = this.lastSeq.get(m.src) ?? 0;
    if (seq === last + 1) this.lastSeq.set(m.src, seq);
    else if (seq > last + 1) { stats.reordered++; this.lastSeq.set(m.src, seq); } // a gap: overtaken or lost
    else stats.reordered++; // late (or duplicate)
    stats.received++;
    if (onDeliver) onDeliver(this, m.src, seq, m.payload.t);
  }
  close() {
    this.closing = true; clearInterval(this.hb);
    return new Promise((resolve) => {
      if (!this.ws || this.ws.readyState === WebSocket.CLOSED) return resolve();
      const timer = setTimeout(() => { try { this.ws.terminate(); } catch { } resolve(); }, 3000);
      this.ws.once('close', () => { clearTimeout(timer); resolve(); });
      try { this.ws.close(1000); } catch { resolve(); }
    });
  }
}

async function connectAll(list) {
  let next = 0, failures = 0;
  const errors = [];
  async function worker() {
    while (next < list.length) {
      const p = list[next++];
      try { await p.connect(); } catch (e) { failures++; if (errors.length < 5) errors.push(e.message); }
    }
  }
  await Promise.all(Array.from({ length: Math.min(connectConcurrency, list.length) }, worker));
  return { failures, errors };
}

function makePeers(n, prefix) {
  return Array.from({ length: n }, (_, i) => new Peer(i, `${prefix}${i}`, urls[i % urls.length]));
}

// Every peer sends `perSender` messages to its partner (2i <-> 2i+1), at most W in flight per sender.
async function relay(list, total) {
  const senders = list.length;
  const perSender = Math.ceil(total / senders);
  const byId = new Map(list.map((p) => [p.id, p]));
  const st = list.map(() => ({ sent: 0, acked: 0 }));
  const partner = (i) => list[i ^ 1];
  const seqBase = list.map((p) => partner(p.index).lastSeq.get(p.id) ?? 0); // continue the receiver's counters
  let delivered = 0, expected = perSender * senders, lastProgress = nowMs();
  let done;
  const finished = new Promise((r) => { done = r; });
  const send = (i) => {
    const s = st[i]; s.sent++;
    list[i].ws.send(msg('CANDIDATE', partner(i).id, seqBase[i] + s.sent, 0));
  };
  onDeliver = (receiver, src) => {
    const sender = byId.get(src);
    if (!sender) return;
    const s = st[sender.index];
    s.acked++; delivered++; lastProgress = nowMs();
    if (s.sent < perSender) send(sender.index);
    if (delivered === expected) done();
  };
  const watchdog = setInterval(() => { if (nowMs() - lastProgress > drainMs) done(); }, 250);
  const t0 = nowMs();
  for (let i = 0; i < senders; i++) for (let k = 0; k < Math.min(W, perSender); k++) send(i);
  await finished;
  const t1 = nowMs();
  clearInterval(watchdog);
  onDeliver = null;
  const sent = st.reduce((a, s) => a + s.sent, 0);
  return { sent, delivered, lost: sent - delivered, ms: t1 - t0 };
}

// Light load: `rate` timestamped one-way messages per second, spread over `pairs` (from, to).
async function latency(pairs, rate, seconds) {
  const samples = [];
  const seq = new Map();
  let sent = 0, delivered = 0;
  onDeliver = (receiver, src, s, t) => { delivered++; samples.push(nowMs() - t); };
  const t0 = nowMs();
  const end = t0 + seconds * 1000;
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const now = nowMs();
      const due = Math.min(Math.floor(((Math.min(now, end) - t0) / 1000) * rate), Math.floor(seconds * rate));
      while (sent < due) {
        const [from, to] = pairs[sent % pairs.length];
        const k = `${from.id}>${to.id}`;
        const n = (seq.get(k) ?? (to.lastSeq.get(from.id) ?? 0)) + 1;
        seq.set(k, n);
        from.ws.send(msg('OFFER', to.id, n, nowMs()));
        sent++;
      }
      if (now >= end) { clearInterval(timer); resolve(); }
    }, 2);
  });
  const deadline = nowMs() + 3000;
  while (delivered < sent && nowMs() < deadline) await sleep(20);
  onDeliver = null;
  samples.sort((a, b) => a - b);
  const q = (p) => samples.length ? samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] : NaN;
  return { sent, delivered, lost: sent - delivered, p50: q(0.5), p99: q(0.99), max: samples[samples.length - 1] ?? NaN };
}

async function main() {
  const result = { tag, peers: N, messages: M, payloadBytes: PAYLOAD_BYTES, servers: pids.length };

  // ---- warmup
  if (warmupPeers > 0) {
    const wp = makePeers(Math.max(2, warmupPeers - (warmupPeers % 2)), `w${tag}`);
    const c = await connectAll(wp);
    if (c.failures) throw new Error(`warmup: ${c.failures} connects failed: ${c.errors.join('; ')}`);
    await relay(wp, warmupMessages);
    await Promise.all(wp.map((p) => p.close()));
    stats.received = 0;
    await sleep(1500);
  }

  // ---- connect
  const list = makePeers(N - (N % 2), `p${tag}`);
  const s0 = snapshot();
  const c = await connectAll(list);
  const s1 = snapshot();
  await sleep(300);
  const s1b = snapshot();
  if (c.failures) log(`${c.failures} connects failed: ${c.errors.join('; ')}`);
  const conn = delta(s0, s1b);
  result.connect = {
    ok: list.length - c.failures, failures: c.failures, errors: c.errors,
    perSec: (list.length - c.failures) / ((s1.t - s0.t) / 1000),
    serverCpuUs: (conn.serverUs + conn.auxUs) / list.length,
    auxCpuUs: conn.auxUs / list.length,
  };
  log(`connected ${list.length - c.failures}/${list.length} at ${result.connect.perSec.toFixed(0)}/s`);
  if (c.failures) throw new Error(`connect: ${c.failures} failures: ${c.errors.join('; ')}`);

  await sleep(settleMs);
  const s2 = snapshot();
  result.memory = {
    rssBaseKb: s0.rssKb, rssIdleKb: s2.rssKb,
    perPeerKb: (s2.rssKb - s0.rssKb) / list.length,
    auxPerPeerKb: (s2.auxRssKb - s0.auxRssKb) / list.length,
    threads: s2.threads,
  };

  // ---- relay (saturated)
  // Unmeasured warm-up relay on the same peers (JIT tiering, pools), then the measured one.
  const pre = await relay(list, relayWarmup);
  if (pre.lost) log(`relay warm-up: ${pre.lost} messages not delivered`);
  await sleep(1000);
  const t0 = threadTicks();
  const r0 = snapshot();
  const rel = await relay(list, M);
  const r1 = snapshot();
  const t1 = threadTicks();
  const rd = delta(r0, r1);
  result.relay = {
    sent: rel.sent, delivered: rel.delivered, lost: rel.lost,
    msgsPerSec: rel.delivered / (rel.ms / 1000),
    serverCpuUs: (rd.serverUs + rd.auxUs) / rel.delivered,
    auxCpuUs: rd.auxUs / rel.delivered,
    sysCpuUs: rd.serverSysUs / rel.delivered, // kernel share of the server processes (not redis)
    genCpuUs: rd.genUs / rel.delivered,
    serverCpuShare: (rd.serverUs + rd.auxUs) / 1000 / rel.ms, // cores busy on average
    ctxPerMsg: (rd.vol + rd.invol) / rel.delivered,
    volCtxPerMsg: rd.vol / rel.delivered,
    threads: r1.threads,
    byThreadUs: threadBreakdown(t0, t1, rel.delivered), // µs per message by thread name
  };
  await sleep(1000);
  const s3 = snapshot();
  result.memory.busyPerPeerKb = (s3.rssKb - s0.rssKb) / list.length;
  log(`relayed ${rel.delivered}/${rel.sent} in ${rel.ms.toFixed(0)} ms`);

  // ---- connect again, everything warm (steady state): N more peers while the first N stay connected
  if (warmConnect) {
    const more = makePeers(list.length, `q${tag}`);
    const k0 = snapshot();
    const c2 = await connectAll(more);
    const k1 = snapshot();
    await sleep(300);
    const k1b = snapshot();
    const kd = delta(k0, k1b);
    result.connectWarm = {
      ok: more.length - c2.failures, failures: c2.failures, errors: c2.errors,
      perSec: (more.length - c2.failures) / ((k1.t - k0.t) / 1000),
      serverCpuUs: (kd.serverUs + kd.auxUs) / more.length,
    };
    log(`connected ${more.length - c2.failures}/${more.length} more at ${result.connectWarm.perSec.toFixed(0)}/s`);
    await Promise.all(more.map((p) => p.close()));
    await sleep(500);
  }

  // ---- latency (light load)
  const pairsCross = [];
  for (let i = 0; i < latencyPairs && 2 * i + 1 < list.length; i++) pairsCross.push([list[2 * i], list[2 * i + 1]]);
  result.latency = await latency(pairsCross, latencyRate, latencySeconds);
  if (sameReplicaLatency) {
    // peers 4i and 4i+2 both sit on the first replica
    const pairsSame = [];
    for (let i = 0; i < latencyPairs && 4 * i + 2 < list.length; i++) pairsSame.push([list[4 * i], list[4 * i + 2]]);
    result.latencySame = await latency(pairsSame, latencyRate, latencySeconds);
  }

  result.errors = { ...stats, connectFailures: c.failures + (result.connectWarm?.failures ?? 0), lost: pre.lost + rel.lost + result.latency.lost + (result.latencySame?.lost ?? 0) };
  delete result.errors.received;
  await Promise.all(list.map((p) => p.close()));
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
}

main().catch((e) => { log(`FAILED: ${e.stack || e}`); process.stdout.write(JSON.stringify({ tag, failed: String(e.message || e) }) + '\n'); process.exit(1); });
