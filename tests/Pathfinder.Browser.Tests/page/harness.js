"use strict";
// Test harness around the real peerjs client (window.Peer from peerjs.min.js).
// The .NET tests drive it through page.EvaluateAsync. Every wait is bounded by a timeout given in
// milliseconds and settles from events, never from polling or sleeping; results are plain objects.
(() => {
  const started = performance.now();
  const log = [];
  const note = (text) => {
    const line = `${Math.round(performance.now() - started)}ms ${text}`;
    log.push(line);
    console.log(`[harness] ${line}`);
  };

  const state = {
    peer: null,
    openId: null,
    errors: [],
    outgoing: null,
    incoming: [],
    received: [],
  };

  // Waiters re-check their condition whenever the state changes.
  const waiters = new Set();
  const changed = () => {
    for (const waiter of [...waiters]) {
      waiter();
    }
  };

  function until(check, ms, what) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const done = () => {
        clearTimeout(timer);
        waiters.delete(waiter);
      };
      const waiter = () => {
        let value;
        try {
          value = check();
        } catch (e) {
          done();
          reject(e);
          return;
        }
        if (value !== undefined) {
          done();
          resolve(value);
        }
      };
      timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; harness log:\n${log.join("\n")}`));
      }, ms);
      waiters.add(waiter);
      waiter();
    });
  }

  const describeError = (e) => ({ type: String(e && e.type ? e.type : "unknown"), message: String(e && e.message ? e.message : e) });

  function wire(conn, direction) {
    note(`${direction} DataConnection ${conn.connectionId} with ${conn.peer} created`);
    conn.on("open", () => {
      note(`${direction} DataConnection ${conn.connectionId} with ${conn.peer} open`);
      changed();
    });
    conn.on("data", (data) => {
      note(`received from ${conn.peer}: ${JSON.stringify(data)}`);
      state.received.push({ from: conn.peer, data: typeof data === "string" ? data : JSON.stringify(data) });
      changed();
    });
    conn.on("close", () => {
      note(`${direction} DataConnection ${conn.connectionId} closed`);
      changed();
    });
    conn.on("error", (e) => {
      const error = describeError(e);
      note(`${direction} DataConnection error ${error.type}: ${error.message}`);
      state.errors.push(error);
      changed();
    });
  }

  window.pf = {
    // Creates the Peer: with an id (claimed as is) or without (the client fetches one from {path}{key}/id).
    start({ id, host, port, path, key }) {
      if (state.peer) {
        throw new Error("pf.start called twice on one page");
      }
      const options = { host, port, path, key, secure: false, config: { iceServers: [] }, debug: 0 };
      const peer = id ? new Peer(id, options) : new Peer(options);
      state.peer = peer;
      note(`new Peer(${id ? JSON.stringify(id) : "<server-assigned>"}, ${JSON.stringify(options)})`);
      peer.on("open", (openId) => {
        for (const entry of performance.getEntriesByType("resource").filter((e) => e.name.includes("/id?"))) {
          note(`GET ${entry.name} started at ${Math.round(entry.startTime)}ms, took ${Math.round(entry.duration)}ms`);
        }
        note(`peer open as ${openId}`);
        state.openId = openId;
        changed();
      });
      peer.on("error", (e) => {
        const error = describeError(e);
        note(`peer error ${error.type}: ${error.message}`);
        state.errors.push(error);
        changed();
      });
      peer.on("connection", (conn) => {
        state.incoming.push(conn);
        wire(conn, "incoming");
        changed();
      });
      peer.on("disconnected", () => {
        note("peer disconnected from the server");
        changed();
      });
      peer.on("close", () => {
        note("peer closed");
        changed();
      });
    },

    // {id} once 'open' fired, or {error} if an error came first.
    waitOpenOrError(ms) {
      return until(() => {
        if (state.openId !== null) {
          return { id: state.openId };
        }
        if (state.errors.length > 0) {
          return { error: state.errors[0] };
        }
        return undefined;
      }, ms, "the peer's 'open' event (or an error)");
    },

    // The first error the peer (or one of its connections) reported.
    waitError(ms) {
      return until(() => (state.errors.length > 0 ? state.errors[0] : undefined), ms, "a peer error");
    },

    errors() {
      return state.errors;
    },

    status() {
      const peer = state.peer;
      return { id: peer ? peer.id : null, open: !!(peer && peer.open), disconnected: !!(peer && peer.disconnected), destroyed: !!(peer && peer.destroyed) };
    },

    connect(remoteId) {
      if (state.outgoing) {
        throw new Error("pf.connect called twice on one page");
      }
      const conn = state.peer.connect(remoteId, { reliable: true });
      state.outgoing = conn;
      wire(conn, "outgoing");
    },

    // {peer} once the outgoing DataConnection is open; fails fast on a peer error.
    waitOutgoingOpen(ms) {
      return until(() => {
        if (state.outgoing && state.outgoing.open) {
          return { peer: state.outgoing.peer };
        }
        if (state.errors.length > 0) {
          throw new Error(`peer error while connecting: ${JSON.stringify(state.errors)}`);
        }
        return undefined;
      }, ms, "the outgoing DataConnection to open");
    },

    // {peer} once an incoming DataConnection is open.
    waitIncomingOpen(ms) {
      return until(() => {
        const conn = state.incoming.find((c) => c.open);
        if (conn) {
          return { peer: conn.peer };
        }
        if (state.errors.length > 0) {
          throw new Error(`peer error while waiting for a connection: ${JSON.stringify(state.errors)}`);
        }
        return undefined;
      }, ms, "an incoming DataConnection to open");
    },

    // Sends on the outgoing connection if there is one, else on the first open incoming one.
    send(text) {
      const conn = state.outgoing || state.incoming.find((c) => c.open);
      if (!conn || !conn.open) {
        throw new Error("no open DataConnection to send on");
      }
      note(`sending to ${conn.peer}: ${JSON.stringify(text)}`);
      conn.send(text);
    },

    // The index-th message received (0-based): {from, data}.
    waitMessage(index, ms) {
      return until(() => (state.received.length > index ? state.received[index] : undefined), ms, `message #${index}`);
    },

    destroy() {
      if (state.peer && !state.peer.destroyed) {
        state.peer.destroy();
      }
    },
  };
  note("harness ready");
})();
