"use strict";
// The session lab: a Pathfinder live session with the real peerjs client (window.Peer, bundled from npm at build time)
// through the service that served this page. A presenter's peer id is the session code; attendees connect to it and the
// session's messages (session_start, navigation, hand_raise, leave, session_end, ping/pong) flow over WebRTC data
// channels. No framework, no inline script (the page is served with a strict Content-Security-Policy), no secrets: the
// page knows only what every client of the service knows (path, key) and the tokens typed into it.
// The service side (settings, opening peers, replica lookups, round trips, the self-test) is service.js.
// window.lab.state() returns everything shown, for scripts and tests.
(() => {
  const STEPS = [
    { title: "Welcome", url: "/a/grafana-pathfinder-app" },
    { title: "Explore your metrics", url: "/explore" },
    { title: "Build a dashboard", url: "/dashboard/new" },
    { title: "Add an alert rule", url: "/alerting/new" },
    { title: "Wrap-up", url: "/a/grafana-pathfinder-app?done=1" },
  ];
  const PING_MS = 2000;
  const $ = (id) => document.getElementById(id);
  const now = () => performance.now();
  const { note, ms, describe, randomCode, loadConfig, openPeer, replicaOf, httpRtt, whenOpen, selfTest } = window.labService;

  const state = {
    role: null,
    me: { id: null, status: "idle", replica: null, openMs: null, httpRttMs: null, error: null },
    session: { code: null, started: false, ended: false, step: -1, title: null, presenter: null, presenterReplica: null, navigations: 0 },
    attendees: [], // presenter: { id, name, status, replica, hand, rttMs, setupMs, step }
    presenterLink: { status: null, setupMs: null, rttMs: null },
    hand: false,
  };
  let peer = null;
  let presenterConn = null;
  const conns = new Map(); // attendee id -> DataConnection (presenter side)
  let pinger = null;

  // ---- this tab as a peer ------------------------------------------------------------------------------------------
  async function connectMe(role, id, token) {
    state.role = role;
    state.me.status = "connecting";
    state.me.error = null;
    render();
    const t = now();
    const opening = openPeer(id, token);
    peer = opening.peer;
    peer.on("error", (e) => {
      note(`peer error ${describe(e)}`);
      state.me.error = describe(e);
      render();
    });
    peer.on("disconnected", () => { note("signaling socket closed"); if (state.me.status === "open") state.me.status = "disconnected"; render(); });
    peer.on("close", () => { state.me.status = state.session.ended ? "ended" : "closed"; render(); });
    try {
      state.me.id = await opening.opened;
    } catch (e) {
      state.me.status = "refused";
      state.me.error = describe(e);
      note(`the service refused ${id || "a server-assigned id"}: ${describe(e)}`);
      peer.destroy();
      render();
      throw e;
    }
    state.me.openMs = now() - t;
    state.me.status = "open";
    note(`OPEN as ${state.me.id} after ${ms(state.me.openMs)}`);
    render();
    state.me.replica = await replicaOf(state.me.id);
    state.me.httpRttMs = await httpRtt();
    note(`on replica ${state.me.replica}; HTTP round trip ${ms(state.me.httpRttMs)}`);
    render();
  }

  // ---- presenter ---------------------------------------------------------------------------------------------------
  async function startSession() {
    const code = $("code").value.trim() || randomCode();
    $("code").value = code;
    state.session.code = code;
    await connectMe("presenter", code, $("token").value.trim());
    state.session.step = 0;
    state.session.title = STEPS[0].title;
    state.session.started = true;
    peer.on("connection", acceptAttendee);
    const link = new URL(location.href);
    link.search = new URLSearchParams({ role: "attendee", code }).toString();
    $("attendee-link").href = link.toString();
    startPinging();
    render();
  }

  function acceptAttendee(conn) {
    const t = now();
    const attendee = { id: conn.peer, name: (conn.metadata && String(conn.metadata.name || "")).slice(0, 40), status: "connecting", replica: null, hand: false, rttMs: null, setupMs: null, step: -1 };
    state.attendees = state.attendees.filter((a) => a.id !== conn.peer).concat(attendee);
    conns.set(conn.peer, conn);
    note(`attendee ${conn.peer} is connecting`);
    render();
    conn.on("data", (message) => onPresenterMessage(attendee, conn, message));
    conn.on("close", () => {
      if (attendee.status !== "left") attendee.status = "closed";
      conns.delete(conn.peer);
      render();
    });
    whenOpen(conn).then(async () => {
      attendee.setupMs = now() - t;
      attendee.status = "joined";
      sendSessionStart(conn);
      note(`attendee ${conn.peer} joined; session_start sent`);
      render();
      attendee.replica = await replicaOf(conn.peer);
      render();
    }, (e) => { attendee.status = "failed"; note(`attendee ${conn.peer}: ${describe(e)}`); render(); });
  }

  function sendSessionStart(conn) {
    conn.send({ type: "session_start", code: state.session.code, presenter: $("name").value.trim() || "Presenter", step: state.session.step, title: state.session.title, url: STEPS[state.session.step].url, steps: STEPS.length });
  }

  function onPresenterMessage(attendee, conn, message) {
    if (!message || typeof message.type !== "string") return;
    switch (message.type) {
      case "ping": conn.send({ type: "pong", t: message.t }); break;
      // An attendee still waiting for session_start asks again (with each ping): a message sent the moment a data
      // channel opens can be lost (seen in Chromium under load: the pongs arrived, the first session_start never did).
      case "join": sendSessionStart(conn); return;
      case "pong": attendee.rttMs = now() - Number(message.t); break;
      case "hand_raise":
        attendee.hand = Boolean(message.raised);
        note(`${attendee.id} ${attendee.hand ? "raised" : "lowered"} a hand`);
        break;
      case "step_seen": attendee.step = Number(message.step); break;
      case "leave":
        attendee.status = "left";
        note(`${attendee.id} left`);
        break;
      default: return;
    }
    render();
  }

  function navigate(delta) {
    const step = Math.min(STEPS.length - 1, Math.max(0, state.session.step + delta));
    if (step === state.session.step) return;
    state.session.step = step;
    state.session.title = STEPS[step].title;
    let sent = 0;
    for (const conn of conns.values()) {
      if (conn.open) {
        conn.send({ type: "navigation", step, title: STEPS[step].title, url: STEPS[step].url });
        sent++;
      }
    }
    note(`navigation to step ${step + 1} (${STEPS[step].title}) sent to ${sent} attendee(s)`);
    render();
  }

  async function endSession() {
    for (const conn of conns.values()) {
      if (conn.open) conn.send({ type: "session_end" });
    }
    // Let the data channels drain before the peer (and every channel) closes.
    const deadline = now() + 2000;
    while (now() < deadline && [...conns.values()].some((c) => c.open && c.dataChannel && c.dataChannel.bufferedAmount > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    state.session.ended = true;
    note("session ended");
    stop();
  }

  // ---- attendee ----------------------------------------------------------------------------------------------------
  async function joinSession() {
    const code = $("code").value.trim();
    if (!code) throw new Error("enter the presenter's session code");
    state.session.code = code;
    await connectMe("attendee", $("attendee-id").value.trim() || null, $("attendee-token").value.trim());
    const t = now();
    state.presenterLink.status = "connecting";
    render();
    const conn = peer.connect(code, { reliable: true, serialization: "json", metadata: { name: $("name").value.trim() || "Attendee" } });
    presenterConn = conn;
    conn.on("data", (message) => onAttendeeMessage(conn, message));
    conn.on("close", () => { if (state.presenterLink.status === "open") state.presenterLink.status = "closed"; render(); });
    await whenOpen(conn);
    state.presenterLink.setupMs = now() - t;
    state.presenterLink.status = "open";
    note(`data channel to ${code} open after ${ms(state.presenterLink.setupMs)}`);
    startPinging();
    render();
    state.session.presenterReplica = await replicaOf(code);
    render();
  }

  function onAttendeeMessage(conn, message) {
    if (!message || typeof message.type !== "string") return;
    switch (message.type) {
      case "ping": conn.send({ type: "pong", t: message.t }); break;
      case "pong": state.presenterLink.rttMs = now() - Number(message.t); break;
      case "session_start":
      case "navigation":
        if (message.type === "session_start") {
          state.session.started = true;
          state.session.presenter = String(message.presenter || "").slice(0, 40);
        } else {
          state.session.navigations++;
        }
        state.session.step = Number(message.step);
        state.session.title = String(message.title || "").slice(0, 80);
        conn.send({ type: "step_seen", step: state.session.step });
        note(`${message.type}: step ${state.session.step + 1} (${state.session.title})`);
        break;
      case "session_end":
        state.session.ended = true;
        note("the presenter ended the session");
        stop();
        break;
      default: return;
    }
    render();
  }

  function raiseHand() {
    if (!presenterConn || !presenterConn.open) return;
    state.hand = !state.hand;
    presenterConn.send({ type: "hand_raise", raised: state.hand });
    note(state.hand ? "hand raised" : "hand lowered");
    render();
  }

  function leave() {
    if (presenterConn && presenterConn.open) presenterConn.send({ type: "leave" });
    state.session.ended = true;
    note("left the session");
    // The leave message is queued on the channel; closing the channel delivers what was queued first.
    stop();
  }

  // ---- both --------------------------------------------------------------------------------------------------------
  function startPinging() {
    clearInterval(pinger);
    const ping = () => {
      const targets = state.role === "presenter" ? [...conns.values()] : [presenterConn];
      for (const conn of targets) {
        if (conn && conn.open) conn.send({ type: "ping", t: now() });
      }
      if (state.role === "attendee" && !state.session.started && presenterConn && presenterConn.open) {
        presenterConn.send({ type: "join" });
      }
    };
    ping();
    pinger = setInterval(ping, PING_MS);
  }

  function stop() {
    clearInterval(pinger);
    state.me.status = state.session.ended ? "ended" : "closed";
    if (presenterConn) presenterConn.close();
    for (const conn of conns.values()) conn.close();
    if (peer) peer.destroy();
    render();
  }

  // ---- rendering ---------------------------------------------------------------------------------------------------
  function render() {
    const me = state.me;
    $("me-role").textContent = state.role || "–";
    $("me-id").textContent = me.id || "–";
    $("me-status").textContent = me.status;
    $("me-replica").textContent = me.replica || "–";
    $("me-signaling").textContent = me.openMs == null ? "–" : `OPEN after ${ms(me.openMs)}; HTTP round trip ${ms(me.httpRttMs)}`;
    $("me-data").textContent = state.role === "attendee" && state.presenterLink.status
      ? `${state.presenterLink.status}; set up in ${ms(state.presenterLink.setupMs)}; round trip ${ms(state.presenterLink.rttMs)}`
      : state.role === "presenter" ? `${state.attendees.filter((a) => a.status === "joined").length} channel(s) open` : "–";
    $("me-error").hidden = !me.error;
    $("me-error").textContent = me.error || "";

    const connected = peer !== null && !state.session.ended && me.status !== "refused";
    for (const id of ["start", "join"]) $(id).disabled = connected || state.session.ended;
    $("presenter-card").hidden = state.role !== "presenter" || me.status === "refused";
    $("attendee-card").hidden = state.role !== "attendee" || me.status === "refused";
    $("session-code").textContent = state.session.code || "";
    $("attending-code").textContent = state.session.code || "";
    const stepText = state.session.step < 0 ? null : `${state.session.step + 1}/${STEPS.length} — ${state.session.title}`;
    $("presenter-step").textContent = stepText || "–";
    $("attendee-step").textContent = state.session.ended ? "session over" : stepText || "waiting for session_start…";
    $("presenter-name").textContent = state.session.presenter || "–";
    $("presenter-replica").textContent = state.session.presenterReplica || "–";
    $("hand").textContent = state.hand ? "Lower hand" : "Raise hand";
    for (const id of ["hand", "leave"]) $(id).disabled = state.session.ended || state.presenterLink.status !== "open";
    for (const id of ["prev", "next", "end"]) $(id).disabled = state.session.ended || me.status !== "open";

    const rows = $("attendees");
    rows.replaceChildren();
    if (state.attendees.length === 0) {
      const row = rows.insertRow();
      const cell = row.insertCell();
      cell.colSpan = 7;
      cell.className = "muted";
      cell.textContent = "No attendees yet.";
    }
    for (const a of state.attendees) {
      const row = rows.insertRow();
      for (const text of [a.id, a.name || "–", a.status, a.replica || "–", a.hand ? "raised" : "", ms(a.rttMs), a.step < 0 ? "–" : String(a.step + 1)]) {
        row.insertCell().textContent = text;
      }
    }
  }

  const guarded = (action) => () => action().catch((e) => {
    state.me.error = describe(e);
    note(`error: ${describe(e)}`);
    render();
  });

  window.lab = {
    state: () => JSON.parse(JSON.stringify({
      ...state,
      config: window.labService.config(),
      selfTest: window.labService.selfTestResult(),
      log: window.labService.log,
    })),
    selfTest,
  };

  (async () => {
    const query = new URLSearchParams(location.search);
    if (query.get("role") === "attendee") $("role-attendee").checked = true;
    for (const field of ["code", "token", "name"]) {
      if (query.get(field)) $(field).value = query.get(field);
    }
    $("start").addEventListener("click", guarded(startSession));
    $("join").addEventListener("click", guarded(joinSession));
    $("selftest").addEventListener("click", guarded(selfTest));
    $("prev").addEventListener("click", () => navigate(-1));
    $("next").addEventListener("click", () => navigate(1));
    $("end").addEventListener("click", guarded(endSession));
    $("hand").addEventListener("click", raiseHand);
    $("leave").addEventListener("click", leave);
    const syncRole = () => {
      const attendee = $("role-attendee").checked;
      $("start").hidden = attendee;
      $("join").hidden = !attendee;
    };
    $("role-presenter").addEventListener("change", syncRole);
    $("role-attendee").addEventListener("change", syncRole);
    syncRole();
    render();
    try {
      await loadConfig();
      document.body.dataset.ready = "true";
    } catch (e) {
      $("service").textContent = `Could not load the service's settings: ${describe(e)}`;
    }
  })();
})();
