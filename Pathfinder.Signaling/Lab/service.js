"use strict";
// The session lab's side of the service: its settings (path, key, the replica that served the page), peers opened
// against it with the real peerjs client, the replica holding an id, round trips, the log — and the self-test (two
// peers in this page through the service, PASS or FAIL with timings). lab.js runs the session on top of it.
window.labService = (() => {
  const WAIT_MS = 20000;
  const $ = (id) => document.getElementById(id);
  const now = () => performance.now();
  const started = now();
  const log = [];
  let config = null;
  let selfTestResult = null;

  const note = (text) => {
    const line = `${Math.round(now() - started)} ms  ${text}`;
    log.push(line);
    const item = document.createElement("li");
    item.textContent = line;
    $("log").prepend(item);
    console.log(`[lab] ${line}`);
  };
  const ms = (value) => (value == null ? "–" : `${Math.round(value)} ms`);
  const describe = (e) => `${e && e.type ? e.type + ": " : ""}${e && e.message ? e.message : e}`;
  const randomCode = () => {
    const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    const bytes = crypto.getRandomValues(new Uint8Array(6));
    return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
  };

  // ---- the service -------------------------------------------------------------------------------------------------
  async function loadConfig() {
    const response = await fetch("lab/config.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`GET lab/config.json: HTTP ${response.status}`);
    config = await response.json();
    $("service").textContent = `Service ${location.origin}${config.path || "/"} (WebSocket ${config.path}/peerjs), `
      + `this page from replica ${config.replica}.`;
  }

  function peerOptions(token) {
    const secure = location.protocol === "https:";
    const ice = $("ice").value.trim();
    const options = {
      host: location.hostname,
      port: location.port ? Number(location.port) : secure ? 443 : 80,
      path: config.path || "/",
      key: config.key,
      secure,
      debug: 1,
      config: { iceServers: ice ? [{ urls: ice }] : [] },
    };
    if (token) options.token = token;
    return options;
  }

  // Resolves with the id once the service said OPEN; rejects on the first error (unavailable-id, server-error, …).
  function openPeer(id, token) {
    const p = id ? new Peer(id, peerOptions(token)) : new Peer(peerOptions(token));
    const opened = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no OPEN from the service within ${WAIT_MS} ms`)), WAIT_MS);
      p.once("open", (openId) => { clearTimeout(timer); resolve(openId); });
      p.once("error", (e) => { clearTimeout(timer); reject(e); });
    });
    return { peer: p, opened };
  }

  async function replicaOf(id) {
    try {
      const response = await fetch(`lab/replica?id=${encodeURIComponent(id)}`, { cache: "no-store" });
      return response.ok ? (await response.json()).replica : null;
    } catch {
      return null;
    }
  }

  // HTTP round trip to the service's API (GET {path}): median of three.
  async function httpRtt() {
    const times = [];
    for (let i = 0; i < 3; i++) {
      const t = now();
      await fetch(`${config.path || ""}/`, { cache: "no-store" });
      times.push(now() - t);
    }
    return times.sort((a, b) => a - b)[1];
  }

  function whenOpen(conn) {
    if (conn.open) return Promise.resolve(conn);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`data channel with ${conn.peer} not open within ${WAIT_MS} ms`)), WAIT_MS);
      conn.once("open", () => { clearTimeout(timer); resolve(conn); });
      conn.once("error", (e) => { clearTimeout(timer); reject(e); });
    });
  }

  // ---- self-test: two peers in this page, through the service --------------------------------------------------------
  async function selfTest() {
    const steps = [];
    const peers = [];
    const result = { pass: false, steps, error: null, presenter: null, attendee: null, replicas: {} };
    const step = async (name, action) => {
      const t = now();
      const value = await action();
      steps.push({ name, ms: Math.round(now() - t) });
      return value;
    };
    selfTestResult = null;
    showSelfTest(null);
    try {
      if (!config) await loadConfig();
      const codeToken = $("token").value.trim();
      const presenterId = codeToken ? $("code").value.trim() : `lab-selftest-${randomCode()}`;
      const a = openPeer(presenterId, codeToken);
      peers.push(a.peer);
      result.presenter = await step("presenter: WebSocket + OPEN", () => a.opened);
      const attendeeToken = $("attendee-token").value.trim();
      const b = openPeer(attendeeToken ? $("attendee-id").value.trim() : null, attendeeToken);
      peers.push(b.peer);
      result.attendee = await step(attendeeToken ? "attendee: WebSocket + OPEN" : "attendee: GET id + WebSocket + OPEN", () => b.opened);
      const incoming = new Promise((resolve) => a.peer.once("connection", resolve));
      const outgoing = b.peer.connect(result.presenter, { reliable: true, serialization: "json" });
      const accepted = await step("data channel open (OFFER, ANSWER, CANDIDATEs relayed by the service)", async () => {
        await whenOpen(outgoing);
        return whenOpen(await incoming);
      });
      accepted.on("data", (m) => { if (m && m.type === "ping") accepted.send({ type: "pong", t: m.t }); });
      await step("data channel round trip (ping/pong)", () => new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no pong within ${WAIT_MS} ms`)), WAIT_MS);
        outgoing.on("data", (m) => { if (m && m.type === "pong") { clearTimeout(timer); resolve(); } });
        outgoing.send({ type: "ping", t: now() });
      }));
      await step("HTTP round trip (GET {path}, median of 3)", () => httpRtt());
      result.replicas = { presenter: await replicaOf(result.presenter), attendee: await replicaOf(result.attendee) };
      result.pass = true;
    } catch (e) {
      result.error = describe(e);
    } finally {
      for (const p of peers) p.destroy();
    }
    selfTestResult = result;
    note(`self-test ${result.pass ? "PASSED" : "FAILED"}${result.error ? ": " + result.error : ""}`);
    showSelfTest(result);
    return result;
  }

  function showSelfTest(result) {
    const box = $("selftest-result");
    box.hidden = false;
    if (!result) {
      box.className = "result";
      box.textContent = "Self-test running…";
      return;
    }
    box.className = `result ${result.pass ? "pass" : "fail"}`;
    const lines = [result.pass ? "PASS" : `FAIL: ${result.error}`];
    for (const s of result.steps) lines.push(`${s.name}: ${s.ms} ms`);
    if (result.pass) lines.push(`replicas: presenter ${result.replicas.presenter}, attendee ${result.replicas.attendee}`);
    box.textContent = lines.join("\n");
  }

  return { WAIT_MS, log, note, ms, describe, randomCode, loadConfig, config: () => config, openPeer, replicaOf, httpRtt, whenOpen, selfTest, selfTestResult: () => selfTestResult };
})();
