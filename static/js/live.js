/* Live updates for a signed-in member's pages (issue 12). No framework.
 *
 * A WebSocket to /ws/ carries the member's own events (the server picks the group from the
 * session): {"type": "balance", ...} after every committed balance change and
 * {"type": "notifications", "unread": n}. What it updates:
 *   - [data-live="balance"] (the header): the spendable balance; [data-live="balance-total"],
 *     [data-live="held"] where a page shows them;
 *   - [data-live="unread"]: the unread notification count (hidden at 0);
 *   - the dashboard (figures and history) and any [data-live-refresh][id] region: the page is
 *     fetched again and those parts swapped in, unless the member is typing in one;
 *   - the checkout (#checkout) and download job (#job) pages: their status endpoint is asked at
 *     once and the page reloads when the status moved (their own polling keeps running).
 * The socket reconnects with backoff (1 s doubling to 30 s). While it is down, the state endpoint
 * (data-state-url) is polled every 15 s instead. Without JavaScript, pages show what was true when
 * they loaded and a reload shows the rest.
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-state-url]");
  if (!script || !window.fetch) return;
  var stateUrl = script.getAttribute("data-state-url");
  var POLL_MS = 15000;
  var MAX_BACKOFF_MS = 30000;
  var SIGNED_OUT = 4401; // core/live.py: the session this page was opened under has ended
  var lastMinor = null;
  var pollTimer = null;
  var backoff = 1000;

  function setAll(selector, text) {
    document.querySelectorAll(selector).forEach(function (el) { el.textContent = text; });
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    });
  }

  function typingIn(region) {
    var active = document.activeElement;
    return active && region.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
  }

  function onDashboard() {
    var pill = document.querySelector("a.balance-pill");
    return !!pill && pill.pathname === window.location.pathname;
  }

  // The dashboard's figures and history, by their test ids (the page is not ours to mark up);
  // a first transaction turns the empty state into a table, so then the whole page body.
  var DASHBOARD_PARTS = ["stat-balance", "stat-available", "stat-held", "history"];

  function keyOf(el) {
    return el.id ? "#" + el.id : '[data-testid="' + el.getAttribute("data-testid") + '"]';
  }

  function liveRegions() {
    var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live-refresh][id]"));
    if (onDashboard()) {
      if (document.querySelector('[data-testid="history-empty"]')) return [document.getElementById("main")];
      DASHBOARD_PARTS.forEach(function (id) {
        var el = document.querySelector('[data-testid="' + id + '"]');
        if (el) regions.push(el);
      });
    }
    return regions.filter(function (el) { return el && !typingIn(el); });
  }

  function refreshRegions() {
    var regions = liveRegions();
    if (!regions.length) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        regions.forEach(function (el) {
          var next = fresh.querySelector(keyOf(el));
          if (next) el.innerHTML = next.innerHTML;
        });
      })
      .catch(function () { /* the next event or a reload brings it */ });
  }

  function recheckStatus(id) {
    var box = document.getElementById(id);
    if (!box || !box.getAttribute("data-status-url")) return;
    getJSON(box.getAttribute("data-status-url"))
      .then(function (data) {
        if (data.status && data.status !== box.getAttribute("data-status")) window.location.reload();
      })
      .catch(function () { /* the page's own polling goes on */ });
  }

  // A socket event means a committed change; a poll answer only when the figure moved.
  function applyBalance(ev, fromSocket) {
    setAll('[data-live="balance"]', ev.available);
    setAll('[data-live="balance-total"]', ev.balance);
    setAll('[data-live="held"]', ev.held);
    var moved = lastMinor !== null && lastMinor !== ev.available_minor;
    lastMinor = ev.available_minor;
    if (fromSocket || moved) {
      refreshRegions();
      recheckStatus("checkout");
      recheckStatus("job");
    }
  }

  function applyUnread(n) {
    document.querySelectorAll('[data-live="unread"]').forEach(function (el) {
      el.textContent = String(n);
      if (n > 0) el.removeAttribute("hidden"); else el.setAttribute("hidden", "");
    });
  }

  function handle(ev, fromSocket) {
    if (!ev || typeof ev !== "object") return;
    if (ev.type === "balance") applyBalance(ev, fromSocket);
    else if (ev.type === "notifications") applyUnread(ev.unread);
    document.dispatchEvent(new CustomEvent("goldbook:live", { detail: ev }));
  }

  function poll() {
    getJSON(stateUrl)
      .then(function (state) {
        handle(state.balance, false);
        applyUnread(state.unread);
      })
      .catch(function () { /* signed out or offline: try again on the next tick */ });
  }

  function startPolling() {
    if (pollTimer === null) pollTimer = setInterval(poll, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer !== null) { clearInterval(pollTimer); pollTimer = null; }
  }

  function connect() {
    if (!window.WebSocket) { poll(); startPolling(); return; }
    var ws;
    try {
      ws = new WebSocket((window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/ws/");
    } catch (e) {
      startPolling();
      return;
    }
    ws.onopen = function () {
      backoff = 1000;
      stopPolling();
      document.documentElement.setAttribute("data-live-socket", "open");
      poll(); // anything that changed while the socket was down
    };
    ws.onmessage = function (msg) {
      var ev;
      try { ev = JSON.parse(msg.data); } catch (e) { return; }
      handle(ev, true);
    };
    ws.onclose = function (event) {
      if (event.code === SIGNED_OUT) {
        // This browser session ended (signed out here or from another device): stop listening.
        document.documentElement.setAttribute("data-live-socket", "signed-out");
        stopPolling();
        return;
      }
      document.documentElement.setAttribute("data-live-socket", "closed");
      startPolling();
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    };
  }

  connect();
})();
