// The abuse bench (issue 14): attacks a Release build of Pathfinder.Signaling and, side by side, the reference PeerJS
// server (npm `peer` 1.0.2) the way an attacker holding the public key would, and prints what each attack cost the
// server. Every attack runs on fresh server processes, over loopback, with every loop bounded in count and time:
//
//   ping      200,000 WebSocket pings from a client that never reads: server RSS growth, was the client cut
//   large     400 OFFERs of the largest message each server accepts to a paused reader: RSS growth, who was closed
//             with which code; then one 500 KB OFFER on a fresh socket (accepted or refused)
//   offline   5,000 × 60 KB OFFERs to absent ids: RSS growth; on two replicas + redis-server also Redis used_memory
//             growth; EXPIREs late (> ExpireTimeout + 2 sweep periods after the send) or never (bounded wait)
//   offline100  the same from 100 sockets (3 MB each: inside a per-connection relay rate, so the offline budgets and
//             the expiry sweep are what is tested)
//   slow      one peer floods a paused reader with 50,000 × 2 KB OFFERs while 20 pairs ping-pong OFFERs: their relay
//             latency p50/p99 during the flood, server RSS growth
//   twice     two replicas on one redis-server: peers hold ids on replica 1, redis-server is SIGSTOPped for 2.5 s,
//             meanwhile other tokens connect to the same ids on replica 2; after SIGCONT and one lease: sockets that
//             got OPEN for an id another socket still holds
//   upgrade   upgrades with '(' in a header name and with a 17 KB request line: the HTTP status
//
// Started by `bash bench/run.sh --abuse [--only ping,offline] [--no-build]` (which publishes and installs first);
// bench/README.md describes the figures and targets.
// Flags: --only LIST, --strict (exit 3 on a MISS), --pf-env NAME=VALUE (extra environment for Pathfinder, repeatable),
// --pf-max-message BYTES (the largest message Pathfinder accepts; default the shipped MaxMessageBytes, 65536),
// --service DIR (a published Pathfinder.Signaling to attack instead of bench/.work/service; pair with --no-build),
// --stalls MS,MS,... (the Redis stalls of the 'twice' attack; default 2500,2500,4000,4000).
// Internal: --flooder JSON (the slow-consumer flooder, run as its own process so it does not skew the latency clock).

import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { sleep, freePort, redisCommand, createProcesses } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const work = path.join(here, '.work');
const repo = path.dirname(here);
const argv = process.argv.slice(2);
const opt = (name, def) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : def; };
const now = () => performance.now();
const say = (s) => process.stderr.write(`[abuse] ${s}\n`);

// ------------------------------------------------------------------ a raw WebSocket client
// Raw sockets give the attacks what a library hides: pausing the reader for real (the kernel buffers fill), writing
// control frames in bulk, and seeing whether the server cut us while we were not reading (/proc/net/tcp).

function upgradeHead(port, target, extra = '') {
  return `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
    + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

// Sends `head` and resolves with the HTTP status (0 = no answer / connection closed without one) and the socket.
function rawUpgrade(port, head, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (status, rest) => {
      if (done) return; done = true;
      clearTimeout(timer);
      sock.removeListener('data', onData);
      resolve({ status, sock, rest });
    };
    const timer = setTimeout(() => finish(0, null), timeoutMs);
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = Number(/^HTTP\/1\.\d (\d{3})/.exec(buf.subarray(0, end).toString('latin1'))?.[1] ?? 0);
      finish(status, buf.subarray(end + 4));
    };
    sock.on('data', onData);
    sock.on('error', () => finish(0, null));
    sock.on('close', () => finish(0, null));
    sock.on('connect', () => sock.write(head));
  });
}

function frame(op, payload) {
  const len = payload.length;
  let h;
  if (len < 126) { h = Buffer.alloc(6); h[1] = 0x80 | len; } else if (len < 65536) { h = Buffer.alloc(8); h[1] = 0x80 | 126; h.writeUInt16BE(len, 2); } else { h = Buffer.alloc(14); h[1] = 0x80 | 127; h.writeBigUInt64BE(BigInt(len), 2); }
  h[0] = 0x80 | op; // FIN + opcode; the mask key is zero (legal, and the payload needs no XOR)
  return Buffer.concat([h, payload]);
}

class RawPeer {
  // Connects and waits for OPEN (or anything else first): resolves with the peer; .openError says why not.
  static async connect(server, urlIndex, id, token = `t${randomBytes(4).toString('hex')}`, timeoutMs = 10000) {
    const { port, key } = server;
    const target = `${server.path}?key=${encodeURIComponent(key)}&id=${encodeURIComponent(id)}&token=${token}`;
    const up = await rawUpgrade(port[urlIndex], upgradeHead(port[urlIndex], target), timeoutMs);
    const p = new RawPeer(id, up.sock, port[urlIndex]);
    if (up.status !== 101) { p.openError = `HTTP ${up.status}`; p.destroy(); return p; }
    p.first = new Promise((resolve) => { p.onFirst = resolve; });
    if (up.rest?.length) p.feed(up.rest);
    up.sock.on('data', (d) => p.feed(d));
    const first = await Promise.race([p.first, sleep(timeoutMs).then(() => 'timeout')]);
    if (first !== 'OPEN') p.openError = first;
    return p;
  }
  constructor(id, sock, serverPort) {
    this.id = id; this.sock = sock; this.serverPort = serverPort;
    this.buf = Buffer.alloc(0); this.frag = null;
    this.closeCode = null; this.closeReason = ''; this.ended = false; this.types = {}; this.pongs = 0; this.bytesIn = 0;
    this.onText = null;
    this.closed = new Promise((r) => { this.onClosed = r; });
    sock.on('error', () => { });
    sock.on('close', () => { this.ended = true; this.closedAt = now(); this.onClosed(); });
    sock.on('end', () => { this.ended = true; });
    this.localPort = sock.localPort;
  }
  feed(d) {
    this.bytesIn += d.length;
    let buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let o = 0;
    for (;;) {
      const rem = buf.length - o;
      if (rem < 2) break;
      const b0 = buf[o], b1 = buf[o + 1];
      let len = b1 & 127, h = 2;
      if (len === 126) { if (rem < 4) break; len = buf.readUInt16BE(o + 2); h = 4; } else if (len === 127) { if (rem < 10) break; len = Number(buf.readBigUInt64BE(o + 2)); h = 10; }
      if (b1 & 0x80) h += 4;
      if (rem < h + len) break;
      this.onFrame(b0 & 15, (b0 & 0x80) !== 0, buf.subarray(o + h, o + h + len));
      o += h + len;
    }
    this.buf = o === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(o));
  }
  onFrame(op, fin, payload) {
    if (op === 1 || op === 0) {
      if (!fin) { this.frag = this.frag ? Buffer.concat([this.frag, payload]) : Buffer.from(payload); return; }
      const whole = this.frag ? Buffer.concat([this.frag, payload]) : payload;
      this.frag = null;
      const head = whole.subarray(0, 300).toString();
      const type = /"type":"([A-Z-]+)"/.exec(head)?.[1] ?? '?';
      this.types[type] = (this.types[type] ?? 0) + 1;
      if (this.onFirst) { const f = this.onFirst; this.onFirst = null; f(type === 'OPEN' ? 'OPEN' : `${type} ${head.slice(0, 160)}`); }
      if (this.onText) this.onText(type, head, whole);
    } else if (op === 8) {
      this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.closeReason = payload.subarray(2).toString();
      if (this.onFirst) { const f = this.onFirst; this.onFirst = null; f(`close ${this.closeCode} ${this.closeReason}`); }
    } else if (op === 9) {
      this.write(frame(10, payload));
    } else if (op === 10) this.pongs++;
  }
  write(buf) { try { return this.sock.write(buf); } catch { return false; } }
  send(text) { return this.write(frame(1, Buffer.from(text))); }
  // Writes with backpressure; false once the socket is gone or the deadline passed.
  async sendBounded(buf, deadline) {
    if (this.ended || this.sock.destroyed) return false;
    if (this.write(buf)) return true;
    const left = deadline - now();
    if (left <= 0) return false;
    const r = await Promise.race([
      new Promise((res) => this.sock.once('drain', () => res('drain'))),
      this.closed.then(() => 'closed'),
      sleep(left).then(() => 'timeout'),
    ]);
    return r === 'drain';
  }
  pause() { this.sock.pause(); }
  // Whether the server still has us, as the kernel sees the server's end of the connection (both ends are in
  // /proc/net/tcp on loopback): this works while we are not reading, when a close or FIN from the server may sit
  // behind megabytes the server could not send yet.
  tcpState() {
    if (this.ended || this.sock.destroyed) return 'closed';
    const hex = (n) => n.toString(16).toUpperCase().padStart(4, '0');
    const local = `:${hex(this.serverPort)}`, remote = `:${hex(this.localPort)}`;
    for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text = '';
      try { text = readFileSync(f, 'utf8'); } catch { continue; }
      for (const line of text.split('\n')) {
        const c = line.trim().split(/\s+/);
        if (c.length > 3 && c[1].endsWith(local) && c[2].endsWith(remote)) return c[3] === '01' ? 'open' : 'closed';
      }
    }
    return 'closed';
  }
  // Bytes we wrote that the server has not read yet (ours in Node, then our end's kernel send queue).
  unsent() {
    if (this.ended || this.sock.destroyed) return 0;
    const hex = (n) => n.toString(16).toUpperCase().padStart(4, '0');
    const local = `:${hex(this.localPort)}`, remote = `:${hex(this.serverPort)}`;
    for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text = '';
      try { text = readFileSync(f, 'utf8'); } catch { continue; }
      for (const line of text.split('\n')) {
        const c = line.trim().split(/\s+/);
        if (c.length > 4 && c[1].endsWith(local) && c[2].endsWith(remote)) return this.sock.writableLength + parseInt(c[4].split(':')[0], 16);
      }
    }
    return 0;
  }
  // Waits (bounded) until the server has read all we sent, or cut us.
  async flushed(ms = 20000) {
    const end = now() + ms;
    while (now() < end && this.unsent() > 0 && this.tcpState() === 'open') await sleep(100);
  }
  // Reads whatever the server left for us, for at most ms: the close code if there was one.
  async drain(ms = 4000) {
    this.sock.resume();
    if (this.ended) return;
    let last = this.bytesIn, idle = 0;
    const end = now() + ms;
    while (now() < end && !this.ended && this.closeCode === null) {
      await sleep(100);
      idle = this.bytesIn === last ? idle + 100 : 0; last = this.bytesIn;
      if (idle >= 1000) break; // nothing more is coming
    }
  }
  outcome() {
    if (this.closeCode !== null) return `closed ${this.closeCode}${this.closeReason ? ` "${this.closeReason.slice(0, 60)}"` : ''}`;
    if (this.ended) return 'cut (no close frame)';
    return 'open';
  }
  destroy() { try { this.sock.destroy(); } catch { } }
}

// What happened to a socket, once drained: the close code if the server sent one before closing.
const closedBy = (stateBefore, p) => (stateBefore === 'closed' || p.closeCode !== null || p.ended ? (p.outcome() === 'open' ? 'closed (close frame not read)' : p.outcome()) : 'open');

const offer = (dst, totalBytes, extra = '') => {
  const base = `{"type":"OFFER","dst":"${dst}","payload":{${extra}"type":"media","sdp":""}}`;
  const pad = Math.max(0, totalBytes - Buffer.byteLength(base));
  return `{"type":"OFFER","dst":"${dst}","payload":{${extra}"type":"media","sdp":"${'v'.repeat(pad)}"}}`;
};

// ------------------------------------------------------------------ the flooder process (slow-consumer attack)
if (argv.includes('--flooder')) {
  const c = JSON.parse(opt('--flooder'));
  const p = await RawPeer.connect(c.server, c.urlIndex, c.id);
  const res = { sent: 0, open: !p.openError, outcome: '', errors: 0, ms: 0 };
  if (!p.openError) {
    p.onText = (type) => { if (type === 'ERROR') res.errors++; };
    // Started and connected before the measured window: the flood starts when the bench says "go" (one stdin line).
    process.stdout.write('ready\n');
    await new Promise((resolve) => process.stdin.once('data', resolve));
    const t0 = now(), deadline = t0 + c.maxMs;
    const msg = frame(1, Buffer.from(offer(c.dst, c.bytes)));
    while (res.sent < c.count && now() < deadline) {
      if (!(await p.sendBounded(msg, deadline))) break;
      res.sent++;
    }
    await p.flushed();
    res.ms = now() - t0;
    await sleep(500);
    res.outcome = p.outcome();
  } else res.outcome = p.openError;
  process.stdout.write(JSON.stringify(res) + '\n');
  p.destroy();
  process.exit(0);
}

const require = createRequire(path.join(work, 'gen', 'package.json'));
const WebSocket = require('ws');

// ------------------------------------------------------------------ options
const ATTACKS = ['ping', 'large', 'offline', 'offline100', 'slow', 'twice', 'upgrade'];
const only = opt('--only', ATTACKS.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
for (const a of only) if (!ATTACKS.includes(a)) { say(`unknown attack '${a}' (known: ${ATTACKS.join(', ')})`); process.exit(2); }
const strict = argv.includes('--strict');
const pfExtraEnv = Object.fromEntries(argv.flatMap((a, i) => (a === '--pf-env' ? [argv[i + 1].split(/=(.*)/s).slice(0, 2)] : [])));
const PF_MAX_MESSAGE = Number(opt('--pf-max-message', 65536)); // shipped MaxMessageBytes
const REF_MAX_MESSAGE = 500_000;                                // the issue's figure; `ws` accepts up to 100 MiB
const EXPIRE_TIMEOUT = 5000, SWEEP_MS = 1000;                   // shipped defaults of both servers
const LEASE_MS = 15000;                                         // Signaling:Cluster:LeaseMilliseconds default
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const logDir = path.join(work, 'logs', `abuse-${stamp}`);
mkdirSync(logDir, { recursive: true });

// ------------------------------------------------------------------ processes
// stop/killAll send SIGCONT first: a stopped redis-server must be able to die.
const { children, start, stop, killAll, waitHttp, startRedis, stopTagged } = createProcesses({ logDir, cwd: work, say, stopTimeoutMs: 5000, sigcont: true });
const redisUsedMemory = async (port) => Number(/used_memory:(\d+)/.exec((await redisCommand(port, 'INFO memory')) ?? '')?.[1] ?? NaN);
const rssKb = (pid) => { try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]); } catch { return NaN; } };

// ------------------------------------------------------------------ servers
const refBin = path.join(work, 'ref', 'node_modules', 'peer', 'dist', 'bin', 'peerjs.js');
// --service DIR: another published build (e.g. of a branch under review) instead of bench/.work/service.
const serviceDll = path.resolve(opt('--service', path.join(work, 'service')), 'Pathfinder.Signaling.dll');
const strongKey = randomBytes(24).toString('base64url'); // passes the Production key guard
const PF_ENV = {
  ASPNETCORE_ENVIRONMENT: 'Production',
  PEERJS_KEY: strongKey,
  RATE_LIMIT_ENABLED: 'false',        // every attack socket comes from 127.0.0.1: the per-IP upgrade rate limit would cut the attacks short
  MAX_CONNECTIONS_PER_PEER: '1000',   // idem: the slow-consumer attack holds 42 sockets from one IP
};
let serial = 0;
async function startPathfinder(name, port, extraEnv) {
  const env = { ASPNETCORE_URLS: `http://127.0.0.1:${port}`, ...PF_ENV, ...extraEnv, ...pfExtraEnv };
  const child = start(name, 'dotnet', [serviceDll], { env, cwd: path.dirname(serviceDll) });
  await waitHttp(child, `http://127.0.0.1:${port}/health`);
  return child;
}
const KINDS = {
  ref: {
    title: 'reference',
    async up(tag) {
      const port = await freePort();
      const child = start(`ref-${tag}`, process.execPath, [refBin, '--port', String(port), '--host', '127.0.0.1', '--path', '/pathfinder', '--key', 'pathfinder']);
      await waitHttp(child, `http://127.0.0.1:${port}/pathfinder`);
      return { kind: 'ref', procs: [child], pids: [child.pid], port: [port], key: 'pathfinder', path: '/pathfinder/peerjs', maxMessage: REF_MAX_MESSAGE };
    },
  },
  pf1: {
    title: 'pathfinder (1 replica)',
    async up(tag) {
      const port = await freePort();
      const child = await startPathfinder(`pf1-${tag}`, port, {});
      return { kind: 'pf1', procs: [child], pids: [child.pid], port: [port], key: strongKey, path: '/pathfinder/peerjs', maxMessage: PF_MAX_MESSAGE };
    },
  },
  pf2: {
    title: 'pathfinder (2 replicas + Redis)',
    async up(tag) {
      const { redis, rport } = await startRedis(`redis-${tag}`, { pingTimeoutMs: 500 });
      const env = { ConnectionStrings__redis: `127.0.0.1:${rport}` };
      const [p1, p2] = [await freePort(), await freePort()];
      const procs = [redis];
      try {
        procs.unshift(await startPathfinder(`pf2a-${tag}`, p1, env));
        procs.unshift(await startPathfinder(`pf2b-${tag}`, p2, env));
      } catch (e) { for (const c of procs) await stop(c); throw e; }
      const [b, a] = procs;
      return { kind: 'pf2', procs: [a, b, redis], pids: [a.pid, b.pid], redis, rport, port: [p1, p2], key: strongKey, path: '/pathfinder/peerjs', maxMessage: PF_MAX_MESSAGE };
    },
  },
};
const rssMb = (s) => s.pids.reduce((a, pid) => a + rssKb(pid), 0) / 1024;
const alive = (s) => s.procs.every((c) => children.has(c));

// JIT, pools and heaps reach a steady state before the baseline: a few peers relay a few messages and ping, then go.
async function warmup(s) {
  const peers = [];
  try {
    for (let i = 0; i < 4; i++) {
      const p = await RawPeer.connect(s, i % s.port.length, `warm${i}x${randomBytes(3).toString('hex')}`);
      if (p.openError) throw new Error(`warm-up peer not opened: ${p.openError}`);
      peers.push(p);
    }
    for (let k = 0; k < 200; k++) {
      peers[k % 4].send(offer(peers[(k + 1) % 4].id, 2048));
      if (k % 20 === 0) peers[k % 4].write(frame(9, Buffer.from('warm')));
    }
    const deadline = now() + 5000;
    while (now() < deadline && peers.reduce((a, p) => a + (p.types.OFFER ?? 0), 0) < 200) await sleep(50);
  } finally { for (const p of peers) p.destroy(); }
  await sleep(1000);
}

// Fresh server processes for one attack; `fn` gets them and returns the attack's figures.
async function withServer(kind, attack, fn) {
  const tag = `${attack}-${kind}-${++serial}`;
  let s;
  const t0 = Date.now();
  try {
    s = await KINDS[kind].up(tag);
    await warmup(s);
    const r = await fn(s);
    r.serverAlive = alive(s);
    say(`${attack} on ${kind}: ${JSON.stringify(r)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    return r;
  } catch (e) {
    say(`${attack} on ${kind}: FAILED ${e.stack || e}`);
    return { failed: String(e.message || e) };
  } finally {
    if (s) for (const c of s.procs) await stop(c);
    await stopTagged(tag);
  }
}
const uid = () => randomBytes(4).toString('hex');

// ------------------------------------------------------------------ attacks
async function attackPing(s) {
  const COUNT = 200_000, PER_WRITE = 500;
  const p = await RawPeer.connect(s, 0, `ping${uid()}`);
  if (p.openError) throw new Error(`attacker not opened: ${p.openError}`);
  p.pause();
  await sleep(300);
  const rss0 = rssMb(s);
  let peak = rss0;
  const sampler = setInterval(() => { peak = Math.max(peak, rssMb(s)); }, 200);
  const batch = Buffer.concat(Array.from({ length: PER_WRITE }, () => frame(9, Buffer.alloc(125, 0x70)))); // the largest control payload
  const deadline = now() + 30000;
  let sent = 0;
  while (sent < COUNT && now() < deadline) {
    if (!(await p.sendBounded(batch, deadline))) break;
    sent += PER_WRITE;
  }
  const sendMs = now() - (deadline - 30000);
  await p.flushed();
  await sleep(2000); // settle
  clearInterval(sampler);
  const rss1 = rssMb(s);
  const state = p.tcpState();
  await p.drain(5000);
  const r = { pingsWritten: sent, sendMs: Math.round(sendMs), rssGrowthMb: rss1 - rss0, peakGrowthMb: Math.max(peak, rss1) - rss0, rss0, rss1, cut: state === 'closed', clientOutcome: p.outcome(), pongsRead: p.pongs };
  p.destroy();
  return r;
}

async function attackLarge(s) {
  const COUNT = 400, size = s.maxMessage;
  const reader = await RawPeer.connect(s, 0, `lr${uid()}`);
  const sender = await RawPeer.connect(s, 0, `ls${uid()}`);
  if (reader.openError || sender.openError) throw new Error(`peers not opened: ${reader.openError ?? ''} ${sender.openError ?? ''}`);
  reader.pause();
  let errors = 0;
  sender.onText = (type) => { if (type === 'ERROR') errors++; };
  await sleep(300);
  const rss0 = rssMb(s);
  let peak = rss0;
  const sampler = setInterval(() => { peak = Math.max(peak, rssMb(s)); }, 200);
  const msg = frame(1, Buffer.from(offer(reader.id, size)));
  const deadline = now() + 30000;
  let sent = 0;
  while (sent < COUNT && now() < deadline) {
    if (!(await sender.sendBounded(msg, deadline))) break;
    sent++;
  }
  await sender.flushed();
  await sleep(2000);
  clearInterval(sampler);
  const rss1 = rssMb(s);
  const readerState = reader.tcpState(), senderState = sender.tcpState();
  await Promise.all([reader.drain(4000), sender.drain(1000)]);
  const r = {
    size, sent, rssGrowthMb: rss1 - rss0, peakGrowthMb: Math.max(peak, rss1) - rss0, senderErrors: errors,
    reader: closedBy(readerState, reader), sender: closedBy(senderState, sender),
  };
  reader.destroy(); sender.destroy();
  // One 500 KB OFFER on a fresh socket: accepted, or refused with which close code.
  const probe = await RawPeer.connect(s, 0, `lp${uid()}`);
  if (probe.openError) r.probe500k = `not opened: ${probe.openError}`;
  else {
    let errs = 0;
    probe.onText = (type) => { if (type === 'ERROR') errs++; };
    probe.send(offer(`absent${uid()}`, 500_000));
    const end = now() + 3000;
    while (now() < end && !probe.ended && probe.closeCode === null) await sleep(50);
    r.probe500k = probe.closeCode !== null || probe.ended ? `refused (${probe.outcome()})` : errs ? 'refused (ERROR)' : 'accepted';
  }
  probe.destroy();
  return r;
}

// `senders` sockets share the 5,000 messages (message i from socket i % senders, each socket in order, all at once):
// one socket is the issue's attack; 100 sockets (50 messages, 3 MB each) stay inside a per-connection relay rate and
// so reach the offline budgets and the expiry sweep.
async function attackOffline(s, senders = 1) {
  const COUNT = 5000, SIZE = 60 * 1024, LATE_MS = EXPIRE_TIMEOUT + 2 * SWEEP_MS, WAIT_MS = LATE_MS + 10000;
  const prefix = `od${uid()}n`;
  const sentAt = new Array(COUNT).fill(0), gotAt = new Array(COUNT).fill(0);
  const socks = [];
  let strays = 0;
  try {
    for (let k = 0; k < senders; k++) {
      const p = await RawPeer.connect(s, 0, `os${k}x${uid()}`);
      if (p.openError) throw new Error(`sender ${k} not opened: ${p.openError}`);
      p.errors = 0; p.sent = 0; p.mine = [];
      p.onText = (type, head) => {
        if (type === 'ERROR') { p.errors++; return; }
        if (type !== 'EXPIRE') return;
        const src = /"src":"([^"]*)"/.exec(head)?.[1] ?? '';
        const i = src.startsWith(prefix) ? Number(src.slice(prefix.length)) : -1;
        if (i >= 0 && i < COUNT && !gotAt[i]) gotAt[i] = now(); else strays++;
      };
      socks.push(p);
    }
    await sleep(300);
    const rss0 = rssMb(s);
    const mem0 = s.rport ? await redisUsedMemory(s.rport) : NaN;
    let peakRss = rss0, peakMem = mem0;
    let sampling = false;
    const sampler = setInterval(async () => {
      peakRss = Math.max(peakRss, rssMb(s));
      if (s.rport && !sampling) { sampling = true; const m = await redisUsedMemory(s.rport, 1000); if (Number.isFinite(m)) peakMem = Math.max(peakMem, m); sampling = false; }
    }, 250);
    const pad = 'v'.repeat(SIZE - Buffer.byteLength(offer(`${prefix}${COUNT}`, 0)));
    const deadline = now() + 60000;
    const t0 = now();
    await Promise.all(socks.map(async (p, k) => {
      for (let i = k; i < COUNT && now() < deadline; i += senders) {
        const m = frame(1, Buffer.from(`{"type":"OFFER","dst":"${prefix}${i}","payload":{"type":"media","sdp":"${pad}"}}`));
        sentAt[i] = now();
        if (!(await p.sendBounded(m, deadline))) break;
        p.mine.push(i); p.sent++;
      }
    }));
    const sendMs = now() - t0;
    const lastSend = now();
    for (const p of socks) await p.flushed(Math.max(0, lastSend + 20000 - now()));
    await sleep(2000);
    const rss1 = rssMb(s);
    const mem1 = s.rport ? await redisUsedMemory(s.rport) : NaN;
    // Wait (bounded) for every EXPIRE; stop early when all came or every sender is gone.
    while (now() < lastSend + WAIT_MS && socks.some((p) => !p.ended)) {
      if (socks.every((p) => p.ended || p.mine.every((i) => gotAt[i]))) break;
      await sleep(250);
    }
    clearInterval(sampler);
    // Late: the EXPIRE came more than ExpireTimeout + 2 sweep periods after the send. Never: none came although it
    // was due while its sender was still connected, for a message the server must have taken (a socket's messages are
    // handled in order, so everything before that socket's last EXPIREd one; all of them while the socket is open and
    // got no ERROR); a refused message (ERROR) owes no EXPIRE, so each socket's ERRORs are taken off.
    let onTime = 0, late = 0, never = 0, unknown = 0, maxMs = 0, errors = 0, sent = 0, closedWithoutError = 0;
    const outcomes = {};
    for (const p of socks) {
      const closedAt = p.ended ? (p.closedAt ?? now()) : Infinity;
      let taken = p.mine.length;
      if (Number.isFinite(closedAt) || p.errors) { taken = 0; p.mine.forEach((i, n) => { if (gotAt[i]) taken = n + 1; }); }
      let missing = 0;
      p.mine.forEach((i, n) => {
        if (!gotAt[i]) { if (n < taken && sentAt[i] + LATE_MS < closedAt) missing++; else unknown++; return; }
        const d = gotAt[i] - sentAt[i];
        maxMs = Math.max(maxMs, d);
        if (d > LATE_MS) late++; else onTime++;
      });
      never += Math.max(0, missing - p.errors);
      errors += p.errors; sent += p.sent;
      if (closedBy(p.tcpState(), p) !== 'open' && p.errors === 0) closedWithoutError++;
      const o = `${closedBy(p.tcpState(), p)}${Number.isFinite(closedAt) ? ` after ${((closedAt - t0) / 1000).toFixed(1)} s` : ''}`;
      outcomes[o] = (outcomes[o] ?? 0) + 1;
    }
    // Late for certain: counted from the latest moment the server can have read the message instead of from its send.
    // A socket's messages are read in order, and a later message of the same socket whose EXPIRE came sooner than
    // ExpireTimeout after its send was refused at once, so the server had read this one before that EXPIRE arrived.
    // Messages without such a later one are counted from their send (as above).
    let lateFromRead = 0;
    for (const p of socks) {
      let bound = Infinity;
      for (let n = p.mine.length - 1; n >= 0; n--) {
        const i = p.mine[n];
        const readBy = bound === Infinity ? sentAt[i] : Math.max(sentAt[i], bound);
        if (gotAt[i] && gotAt[i] - readBy > LATE_MS) lateFromRead++;
        if (gotAt[i] && gotAt[i] - sentAt[i] < EXPIRE_TIMEOUT) bound = Math.min(bound, gotAt[i]);
      }
    }
    // For reading lateness: when the last EXPIRE that came at once (< 1 s: refused by a budget, so read by the server
    // then) arrived, i.e. about when the server had read the flood; and the earliest queued EXPIRE since the flood began.
    const immediate = gotAt.map((g, i) => (g && g - sentAt[i] < 1000 ? g - t0 : -1)).filter((x) => x >= 0);
    const queued = gotAt.map((g, i) => (g && g - sentAt[i] >= 1000 ? g - t0 : -1)).filter((x) => x >= 0);
    const readEndMs = immediate.length ? Math.round(Math.max(...immediate)) : null;
    const firstQueuedExpireMs = queued.length ? Math.round(Math.min(...queued)) : null;
    return {
      readEndMs, firstQueuedExpireMs, expireLateFromRead: lateFromRead,
      senders, sent, sendMs: Math.round(sendMs), rssGrowthMb: rss1 - rss0, peakGrowthMb: Math.max(peakRss, rss1) - rss0,
      redisGrowthMb: (mem1 - mem0) / 1048576, redisPeakGrowthMb: (Math.max(peakMem, mem1) - mem0) / 1048576,
      expireOnTime: onTime, expireLate: late, expireNever: never, expireUnknown: unknown, expireMaxMs: Math.round(maxMs), errors, strays,
      sender: senders === 1 ? Object.keys(outcomes)[0] : Object.entries(outcomes).map(([o, n]) => `${n} ${o}`).join('; '),
      closedWithoutError, sendersOpen: socks.filter((p) => closedBy(p.tcpState(), p) === 'open').length,
    };
  } finally {
    for (const p of socks) p.destroy();
  }
}

// Starts the flooder process and waits (bounded) until it is connected; go() starts the flood and resolves with its
// result. The process's start-up (node's boot, the upgrade) stays out of the measured window: it is the bench's cost,
// not the attack's.
async function startFlooder(cfg) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--flooder', JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  let out = '';
  const t = setTimeout(() => child.kill('SIGKILL'), cfg.maxMs + 30000);
  const result = new Promise((resolve) => {
    child.on('exit', () => {
      clearTimeout(t);
      children.delete(child);
      try { resolve(JSON.parse(out.trim().split('\n').pop())); } catch { resolve({ failed: `flooder: no result (${out.slice(0, 200)})` }); }
    });
  });
  const ready = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.startsWith('ready\n')) { clearTimeout(timer); out = out.slice(6); resolve(true); }
    });
    child.on('exit', () => { clearTimeout(timer); resolve(false); });
  });
  return { ready, go: () => { if (ready) child.stdin.write('go\n'); return result; } };
}

async function attackSlow(s) {
  const PAIRS = 20, GAP_MS = 20;
  const two = s.port.length > 1;
  const reader = await RawPeer.connect(s, two ? 1 : 0, `sr${uid()}`);
  if (reader.openError) throw new Error(`reader not opened: ${reader.openError}`);
  reader.pause();
  // Well-behaved pairs (the `ws` library, like a browser): A on replica 1, B on replica 2 when there are two.
  const url = (i) => `ws://127.0.0.1:${s.port[i]}${s.path}?key=${encodeURIComponent(s.key)}`;
  const pairs = [];
  let measuring = false, stopped = false, closedPairs = 0;
  const samples = [], when = [];
  let floodAt = 0;
  const openWs = (i, id) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url(i)}&id=${id}&token=t${uid()}`, { perMessageDeflate: false });
    const t = setTimeout(() => { ws.terminate(); reject(new Error(`${id}: no OPEN`)); }, 10000);
    ws.once('message', (d) => { clearTimeout(t); if (d.toString().includes('"OPEN"')) resolve(ws); else reject(new Error(`${id}: ${d}`)); });
    ws.on('error', () => { });
    ws.on('close', () => { if (!stopped) closedPairs++; });
  });
  try {
    for (let k = 0; k < PAIRS; k++) {
      const a = { id: `pa${k}x${uid()}` }, b = { id: `pb${k}x${uid()}` };
      a.ws = await openWs(0, a.id); b.ws = await openWs(two ? 1 : 0, b.id);
      pairs.push([a, b]);
    }
    const filler = 'x'.repeat(400);
    for (const [a, b] of pairs) {
      for (const [me, other] of [[a, b], [b, a]]) {
        me.ws.on('message', (d) => {
          const m = JSON.parse(d.toString());
          if (m.type !== 'OFFER' || typeof m.payload?.t !== 'number') return;
          if (measuring) { const at = now(); samples.push(at - m.payload.t); when.push(at - floodAt); }
          if (!stopped) setTimeout(() => { if (!stopped && me.ws.readyState === 1) me.ws.send(JSON.stringify({ type: 'OFFER', dst: other.id, payload: { t: now(), sdp: filler } })); }, GAP_MS);
        });
      }
      a.ws.send(JSON.stringify({ type: 'OFFER', dst: b.id, payload: { t: now(), sdp: filler } }));
    }
    const flooder = await startFlooder({ server: { port: s.port, key: s.key, path: s.path }, urlIndex: 0, id: `sf${uid()}`, dst: reader.id, count: 50000, bytes: 2048, maxMs: 60000 });
    await sleep(1500); // the pairs warm up
    const rss0 = rssMb(s);
    let peak = rss0;
    const sampler = setInterval(() => { peak = Math.max(peak, rssMb(s)); }, 200);
    measuring = true;
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const t0 = now();
    floodAt = t0;
    const fl = await flooder.go();
    await sleep(Math.max(1000, 4000 - (now() - t0))); // measure at least 4 s, and 1 s past the flood
    measuring = false;
    lag.disable();
    await sleep(1000);
    clearInterval(sampler);
    const rss1 = rssMb(s);
    const readerState = reader.tcpState();
    stopped = true;
    await reader.drain(3000);
    const sorted = samples.slice().sort((x, y) => x - y);
    // Where the slowest samples fell, in ms since the flood started (negative: before it), for reading the timeline.
    const worst = samples.map((v, i) => [when[i], v]).sort((x, y) => y[1] - x[1]).slice(0, 12).map(([t, v]) => `${t.toFixed(0)}:${v.toFixed(1)}`);
    const pct = (q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN);
    return {
      generatorLagMaxMs: lag.max / 1e6, samples: sorted.length, p50: pct(0.5), p99: pct(0.99), max: sorted[sorted.length - 1], rssGrowthMb: rss1 - rss0, peakGrowthMb: Math.max(peak, rss1) - rss0,
      flooder: fl, reader: closedBy(readerState, reader), pairSocketsClosed: closedPairs, worst,
    };
  } finally {
    stopped = true;
    for (const [a, b] of pairs) { a.ws.terminate(); b.ws.terminate(); }
    reader.destroy();
  }
}

async function attackTwice(s) {
  // A claim waiting on a stalled Redis times out (AsyncTimeout, 2 s) only when the client's heartbeat notices, so a
  // 2.5 s stall may or may not cross it: stalls of 2.5 s (the issue's) and of 4 s, challengers at staggered offsets.
  const STALLS = (opt('--stalls', '2500,2500,4000,4000')).split(',').map(Number), PER_ROUND = 3, OFFSET_MS = 150;
  const holders = [], challengers = new Map(), answers = new Map(), stallOf = new Map();
  let resumed = 0;
  try {
    for (let round = 0; round < STALLS.length; round++) {
      const mine = [];
      for (let i = 0; i < PER_ROUND; i++) {
        const h = await RawPeer.connect(s, 0, `tw${round}n${i}x${uid()}`, `holder${round}n${i}`);
        if (h.openError) throw new Error(`holder not opened: ${h.openError}`);
        h.closed.then(() => { h.closedMs = now() - (h.stalledAt ?? now()); });
        holders.push(h); mine.push(h); stallOf.set(h.id, STALLS[round]);
      }
      await sleep(500);
      process.kill(s.redis.pid, 'SIGSTOP');
      const stalledAt = now();
      for (const h of mine) h.stalledAt = stalledAt;
      const resume = sleep(STALLS[round]).then(() => { process.kill(s.redis.pid, 'SIGCONT'); resumed = now(); });
      const got = await Promise.all(mine.map(async (h, i) => {
        await sleep(i * OFFSET_MS);
        const c = await RawPeer.connect(s, 1, h.id, `challenger${round}n${i}`, 15000);
        c.answeredMs = now() - stalledAt;
        challengers.set(h.id, c);
        answers.set(h.id, c.openError ? c.openError.slice(0, 60) : 'OPEN');
        if (!c.openError) c.closed.then(() => { c.closedMs = now() - stalledAt; });
        return `${answers.get(h.id).slice(0, 24)} after ${Math.round(c.answeredMs)} ms`;
      }));
      await resume;
      say(`twice: stall ${round + 1}/${STALLS.length} (${STALLS[round]} ms): challengers answered ${JSON.stringify(got)}`);
      await sleep(1000);
    }
    say(`twice: waiting one lease (${LEASE_MS} ms) + 2 s after the last stall`);
    const end = resumed + LEASE_MS + 2000;
    while (now() < end) await sleep(250);
    const by = {};
    for (const h of holders) {
      const c = challengers.get(h.id), stall = stallOf.get(h.id);
      const o = (by[stall] ??= { ids: 0, opened: 0, heldTwiceAfterLease: 0, detail: [] });
      o.ids++;
      if (answers.get(h.id) === 'OPEN') o.opened++;
      const both = c && !c.openError && !c.ended && c.closeCode === null && !h.ended && h.closeCode === null;
      if (both) o.heldTwiceAfterLease++;
      // How long both held the id after Redis answered again (a holder that lost it ends the double hold too).
      if (answers.get(h.id) === 'OPEN') {
        const ends = [c.closedMs, h.ended ? (h.closedMs ?? Infinity) : Infinity].filter(Number.isFinite);
        const double = ends.length ? Math.min(...ends) - stall : Infinity;
        o.longestDoubleMs = Math.max(o.longestDoubleMs ?? 0, double);
      }
      o.detail.push(`${answers.get(h.id)?.slice(0, 40)} after ${Math.round(c?.answeredMs)} ms; holder ${h.outcome()}; challenger ${c?.openError ? 'refused' : `${c?.outcome()}${c?.closedMs ? ` at ${Math.round(c.closedMs)} ms` : ''}`}`);
    }
    const sum = (k) => Object.values(by).reduce((a, o) => a + o[k], 0);
    return { stalls: STALLS, byStall: by, ids: holders.length, handedOutTwice: sum('opened'), heldTwiceAfterLease: sum('heldTwiceAfterLease') };
  } finally {
    try { process.kill(s.redis.pid, 'SIGCONT'); } catch { }
    for (const p of [...holders, ...challengers.values()]) p.destroy();
  }
}

async function attackUpgrade(s) {
  const port = s.port[0];
  const q = `key=${encodeURIComponent(s.key)}&token=t${uid()}`;
  const a = await rawUpgrade(port, upgradeHead(port, `${s.path}?${q}&id=bu1x${uid()}`, 'X-Bad(Name: 1\r\n'), 4000);
  a.sock?.destroy();
  const b = await rawUpgrade(port, upgradeHead(port, `${s.path}?${q}&id=bu2x${uid()}&pad=${'p'.repeat(17 * 1024)}`), 4000);
  b.sock?.destroy();
  return { badHeaderName: a.status, longRequestLine: b.status };
}

// ------------------------------------------------------------------ main
const PLAN = {
  ping: { kinds: ['ref', 'pf1'], fn: attackPing },
  large: { kinds: ['ref', 'pf1'], fn: attackLarge },
  offline: { kinds: ['ref', 'pf1', 'pf2'], fn: (s) => attackOffline(s, 1) },
  offline100: { kinds: ['ref', 'pf1', 'pf2'], fn: (s) => attackOffline(s, 100) },
  slow: { kinds: ['ref', 'pf1', 'pf2'], fn: attackSlow },
  twice: { kinds: ['pf2'], fn: attackTwice },
  upgrade: { kinds: ['ref', 'pf1'], fn: attackUpgrade },
};

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');

async function main() {
  for (const f of [refBin, serviceDll]) if (!existsSync(f)) throw new Error(`missing ${f}: run bash bench/run.sh --abuse`);
  const load0 = os.loadavg();
  const started = Date.now();
  say(`attacks: ${only.join(', ')}; logs: ${path.relative(repo, logDir)}`);
  const R = {};
  for (const attack of ATTACKS.filter((a) => only.includes(a))) {
    R[attack] = {};
    for (const kind of PLAN[attack].kinds) R[attack][kind] = await withServer(kind, attack, PLAN[attack].fn);
  }

  // One row per figure: [attack, metric, ref, pf1, pf2, target, verdict]. The verdict looks at the Pathfinder columns.
  const rows = [];
  const cell = (r, fmt) => (!r ? '' : r.failed ? 'FAILED' : fmt(r));
  const row = (attack, metric, fmt, target = '', ok = null) => {
    const x = R[attack];
    if (!x) return;
    const pfs = ['pf1', 'pf2'].map((k) => x[k]).filter(Boolean);
    let verdict = '';
    if (ok) verdict = pfs.length === 0 ? 'n/a' : pfs.some((r) => r.failed) ? 'MISS' : pfs.every(ok) ? 'PASS' : 'MISS';
    rows.push([attack, metric, cell(x.ref, fmt), cell(x.pf1, fmt), cell(x.pf2, fmt), target, verdict]);
  };
  const mem = (r) => `${f1(r.rssGrowthMb)} (peak ${f1(r.peakGrowthMb)})`;
  const under = (mb) => (r) => r.rssGrowthMb < mb && r.peakGrowthMb < mb;
  row('ping', 'RSS growth, 200k pings never read (MB)', mem, '< 32 MB', under(32));
  row('ping', 'client cut? (how)', (r) => (r.cut ? `yes, ${r.clientOutcome}` : `no, ${r.pingsWritten} pings written`));
  row('large', 'largest accepted message (bytes)', (r) => String(r.size));
  row('large', 'RSS growth, 400 of them to a paused reader (MB)', mem, '< 96 MB', under(96));
  row('large', 'paused reader', (r) => r.reader);
  row('large', 'sender (of 400 sent)', (r) => `${r.sender}, ${r.sent} sent${r.senderErrors ? `, ${r.senderErrors} ERROR` : ''}`);
  row('large', 'one 500 KB OFFER', (r) => r.probe500k, 'refused', (r) => r.probe500k?.startsWith('refused'));
  for (const [attack, what] of [['offline', 'from 1 socket'], ['offline100', 'from 100 sockets']]) {
    row(attack, `service RSS growth, 5000 x 60 KB to absent ids ${what} (MB)`, mem, '< 96 MB', under(96));
    if (R[attack]?.pf2) row(attack, 'Redis used_memory growth, peak (MB)', (r) => (r.redisPeakGrowthMb === undefined || !Number.isFinite(r.redisPeakGrowthMb) ? 'n/a' : f1(r.redisPeakGrowthMb)), '< 96 MB', (r) => !Number.isFinite(r.redisPeakGrowthMb) || r.redisPeakGrowthMb < 96);
    row(attack, `EXPIRE late (> ${EXPIRE_TIMEOUT + 2 * SWEEP_MS} ms) / never`, (r) => `${r.expireLate} / ${r.expireNever} of ${r.sent}${r.expireUnknown ? ` (${r.expireUnknown} not due while the sender was open)` : ''}`, '0 / 0', (r) => r.expireLate === 0 && r.expireNever === 0);
    row(attack, '  late counted from the latest the server can have read it', (r) => `${r.expireLateFromRead ?? '?'} of ${r.sent}; flood read by ${r.readEndMs ?? '?'} ms`);
    row(attack, attack === 'offline' ? 'sender' : 'senders', (r) => `${r.sender}, ${r.errors} ERROR${attack === 'offline' ? `, ${r.sent} sent` : ''}`, 'open, or ERROR first', (r) => r.closedWithoutError === 0);
  }
  row('slow', "others' relay latency p50 / p99 (ms)", (r) => `${f2(r.p50)} / ${f2(r.p99)}`, 'p99 < 10 ms', (r) => r.p99 < 10);
  row('slow', "  the bench's own event-loop delay, max (ms)", (r) => f1(r.generatorLagMaxMs));
  row('slow', 'RSS growth, 50k x 2 KB to a paused reader (MB)', mem, '< 96 MB', under(96));
  row('slow', 'flooder (sent of 50000) / paused reader', (r) => `${r.flooder?.outcome ?? '?'}, ${r.flooder?.sent ?? '?'} sent / ${r.reader}`);
  const stallCells = (r, k) => Object.entries(r.byStall ?? {}).map(([ms, o]) => `${o[k]}/${o.ids} (${(ms / 1000).toFixed(1)} s)`).join(', ');
  row('twice', 'OPEN for an id held on the other replica, during Redis stalls', (r) => stallCells(r, 'opened'), '0', (r) => r.handedOutTwice === 0);
  const longest = (r) => Math.max(0, ...Object.values(r.byStall ?? {}).map((o) => o.longestDoubleMs ?? 0));
  row('twice', `ids still held twice one lease (${LEASE_MS / 1000} s) after Redis answers`, (r) => `${stallCells(r, 'heldTwiceAfterLease')}; longest double hold ${Number.isFinite(longest(r)) ? `${(longest(r) / 1000).toFixed(1)} s` : '> lease'}`, '0', (r) => r.heldTwiceAfterLease === 0);
  row('upgrade', "'(' in a header name (HTTP status)", (r) => String(r.badHeaderName), '4xx', (r) => r.badHeaderName >= 400 && r.badHeaderName < 500);
  row('upgrade', '17 KB request line (HTTP status)', (r) => String(r.longRequestLine), '4xx', (r) => r.longRequestLine >= 400 && r.longRequestLine < 500);

  const head = ['attack', 'metric', 'reference', 'pathfinder (1 replica)', 'pathfinder (2 replicas + Redis)', 'target', 'PASS/MISS'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  const out = [];
  const commit = (() => { try { return execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD']).toString().trim(); } catch { return '?'; } })();
  out.push(`Pathfinder abuse bench — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${commit} (working tree), ${os.cpus().length} cores, load avg ${load0[0].toFixed(2)} → ${os.loadavg()[0].toFixed(2)}, wall time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  out.push(`Reference: npm peer 1.0.2 (its CLI, key 'pathfinder'). Pathfinder: ${opt('--service') ? `the build in ${opt('--service')}` : 'Release build'}, Production, generated strong key, shipped limits`);
  out.push(`except RATE_LIMIT_ENABLED=false (every attack comes from 127.0.0.1; the per-IP upgrade rate limit would cut the attacks short)`);
  out.push(`and MAX_CONNECTIONS_PER_PEER=1000${Object.keys(pfExtraEnv).length ? `; EXPERIMENT env ${JSON.stringify(pfExtraEnv)}` : ''}. Fresh server processes per attack, loopback only; RSS growth = VmRSS of the`);
  out.push(`server process(es) once it read all we sent + a 2 s settle, minus before the attack (peak: sampled every 200 ms; both replicas summed`);
  out.push(`for 2 replicas); a memory target needs both under it. Details: ${path.relative(repo, path.join(logDir, 'results.json'))}`);
  out.push('');
  out.push(line(head));
  out.push(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) out.push(line(r));
  const text = out.join('\n');
  process.stdout.write(text + '\n');
  writeFileSync(path.join(logDir, 'results.json'), JSON.stringify({ only, results: R }, null, 2));
  writeFileSync(path.join(logDir, 'summary.txt'), text + '\n');
  const anyFailed = Object.values(R).some((x) => Object.values(x).some((r) => r.failed));
  const anyMiss = rows.some((r) => r[6] === 'MISS');
  process.exit(anyFailed ? 1 : strict && anyMiss ? 3 : 0);
}

main().catch((e) => { say(`FAILED: ${e.stack || e}`); killAll(); process.exit(1); });
