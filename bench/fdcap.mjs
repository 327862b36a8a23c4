// The open-file limit, demonstrated (issue 8 item 3): one Pathfinder replica started with `ulimit -n LIMIT`
// (default 20000) and ConcurrentLimit far above it, so only the cap derived from the open-file limit applies. Client
// processes (each has its own descriptor limit, so the peers are split over several) open more peers than the cap,
// spread over several 127.0.0.x source addresses (one address has too few ephemeral ports), and count: OPEN (held),
// the protocol's concurrent-limit ERROR (refused cleanly), anything else (failures). Then held peers must still
// relay, /health must answer, and the server's memory is reported. Loopback only; every process is stopped.
//   node bench/fdcap.mjs [--limit 20000] [--peers 20500] [--clients 3] [--addresses 8] [--concurrency 32 (connects in flight per client)]
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { sleep, freePort } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
mkdirSync(path.join(here, '.work', 'logs'), { recursive: true });
const work = path.join(here, '.work');
const argv = process.argv.slice(2);
const opt = (n, d) => { const i = argv.indexOf(n); return i >= 0 ? argv[i + 1] : d; };

if (argv.includes('--client')) {
  // One client process: connect peers [from, to), report, keep them open, relay on request, exit on "quit".
  const { default: WebSocket } = await import(path.join(work, 'gen', 'node_modules', 'ws', 'index.js'));
  const [url, key, from, to, addresses, inFlight] = [opt('--url'), opt('--key'), Number(opt('--from')), Number(opt('--to')), Number(opt('--addresses', '8')), Number(opt('--concurrency', '32'))];
  const held = []; let refused = 0, failed = 0; const reasons = {};
  const connect = (i) => new Promise((resolve) => {
    const ws = new WebSocket(`${url}?key=${key}&id=fd${i}&token=t${i}`, { localAddress: `127.0.0.${2 + (i % addresses)}`, perMessageDeflate: false });
    let done = false;
    const finish = (kind, why) => {
      if (done) return; done = true;
      if (kind === 'held') held.push({ i, ws }); else if (kind === 'refused') refused++; else { failed++; reasons[why] = (reasons[why] ?? 0) + 1; }
      resolve();
    };
    ws.on('message', (m) => {
      const x = JSON.parse(m.toString());
      if (x.type === 'OPEN') finish('held');
      else if (x.type === 'ERROR' && x.payload?.msg === 'Server has reached its concurrent user limit') finish('refused');
      else finish('other', x.type);
    });
    ws.on('error', (e) => finish('other', e.code ?? e.message));
    ws.on('close', () => finish('other', 'closed before OPEN'));
  });
  let next = from;
  await Promise.all(Array.from({ length: inFlight }, async () => { while (next < to) await connect(next++); }));
  for (const { ws } of held) ws.send('{"type":"HEARTBEAT"}');
  console.log(JSON.stringify({ held: held.length, refused, failed, reasons }));
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line === 'relay') {
      let relayed = 0; const pairs = Math.min(25, held.length >> 1);
      await Promise.all(Array.from({ length: pairs }, (_, k) => new Promise((resolve) => {
        const a = held[k], b = held[held.length - 1 - k];
        const t = setTimeout(resolve, 5000);
        b.ws.once('message', (m) => { if (JSON.parse(m.toString()).src === `fd${a.i}`) relayed++; clearTimeout(t); resolve(); });
        a.ws.send(JSON.stringify({ type: 'CANDIDATE', dst: `fd${b.i}`, payload: { k } }));
      })));
      console.log(JSON.stringify({ relayed, pairs }));
    } else break;
  }
  for (const { ws } of held) ws.terminate();
  process.exit(0);
}

const limit = Number(opt('--limit', '20000'));
const peers = Number(opt('--peers', String(limit + 500)));
const clients = Number(opt('--clients', '3'));
const addresses = Number(opt('--addresses', '8'));
const concurrency = Number(opt('--concurrency', '32')); // connects in flight per client process
const say = (m) => process.stderr.write(`[fdcap] ${m}\n`);

const port = await freePort();
const key = randomBytes(24).toString('base64url');
const dll = path.join(work, 'service', 'Pathfinder.Signaling.dll');
const serverLog = path.join(work, 'logs', 'fdcap-server.log'); // the service's console output
const server = spawn('bash', ['-c', `ulimit -n ${limit} && exec dotnet "${dll}"`], {
  cwd: path.dirname(dll), stdio: ['ignore', openSync(serverLog, 'w'), 'inherit'],
  env: {
    ...process.env, ASPNETCORE_URLS: `http://127.0.0.1:${port}`, ASPNETCORE_ENVIRONMENT: 'Production', PEERJS_KEY: key,
    RATE_LIMIT_ENABLED: 'false', MAX_CONNECTIONS_PER_PEER: '0', CONCURRENT_LIMIT: String(peers * 4),
  },
});
const procs = [];
const rssMb = () => { try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))[1]) / 1024; } catch { return NaN; } };
const health = async () => { try { return (await fetch(`http://127.0.0.1:${port}/health`)).status; } catch (e) { return `error ${e.cause?.code ?? e.message}`; } };
const line = (child) => new Promise((resolve) => { const rl = readline.createInterface({ input: child.stdout }); rl.once('line', (l) => { rl.close(); resolve(JSON.parse(l)); }); });
try {
  for (let i = 0; ; i++) { if ((await health()) === 200) break; if (i > 200) throw new Error('service did not start'); await sleep(100); }
  const rss0 = rssMb();
  const started = Date.now();
  const per = Math.ceil(peers / clients);
  for (let c = 0; c < clients; c++) {
    procs.push(spawn(process.execPath, [fileURLToPath(import.meta.url), '--client', '--url', `ws://127.0.0.1:${port}/pathfinder/peerjs`, '--key', key,
      '--from', String(c * per), '--to', String(Math.min(peers, (c + 1) * per)), '--addresses', String(addresses), '--concurrency', String(concurrency)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  }
  const counts = await Promise.all(procs.map(line));
  say(`connected in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const sum = (k) => counts.reduce((a, c) => a + c[k], 0);
  for (const p of procs) p.stdin.write('relay\n');
  const relays = await Promise.all(procs.map(line));
  const relayed = relays.reduce((a, r) => a + r.relayed, 0), pairs = relays.reduce((a, r) => a + r.pairs, 0);
  const h = await health();
  const rss = rssMb();
  // The caps as the service derived them (its start-up log line).
  const caps = /Open-file limit (\d+) \((\d+) in use at start\): up to (\d+) peers, (\S+) connections/.exec(readFileSync(serverLog, 'utf8'));
  const capText = caps ? `${caps[2]} descriptors in use at start; caps ${caps[3]} peers, ${caps[4]} connections` : 'caps not logged';
  const held = sum('held'), failed = sum('failed');
  const reasons = Object.assign({}, ...counts.map((c) => c.reasons));
  console.log(`open-file limit ${limit} (ulimit -n of the server): ${capText}`);
  console.log(`  attempted                            ${peers} peers from ${clients} client processes (${concurrency} connects in flight each), ${addresses} source addresses`);
  console.log(`  held (OPEN)                          ${held}`);
  console.log(`  refused (concurrent-limit ERROR)     ${sum('refused')}`);
  console.log(`  other failures                       ${failed}${failed ? ' ' + JSON.stringify(reasons) : ''}`);
  console.log(`  relays between held peers afterwards ${relayed}/${pairs}`);
  console.log(`  /health afterwards                   ${h}`);
  console.log(`  server RSS                           ${rss0.toFixed(0)} MB → ${rss.toFixed(0)} MB (${(((rss - rss0) * 1024) / Math.max(1, held)).toFixed(1)} KB per held peer)`);
  console.log(`  server still running                 ${server.exitCode === null ? 'yes' : `no (exit ${server.exitCode})`}`);
  const ok = held >= Math.floor(19500 * (limit / 20000)) && failed === 0 && relayed === pairs && h === 200 && server.exitCode === null;
  console.log(ok ? 'PASS the open-file limit holds: at least 19,500 idle peers at 20,000, the rest refused cleanly' : 'MISS the open-file limit');
  process.exitCode = ok ? 0 : 3;
} finally {
  for (const p of procs) { try { p.stdin.end('quit\n'); } catch { } }
  await sleep(500);
  for (const p of procs) p.kill('SIGKILL');
  server.kill('SIGKILL');
}
