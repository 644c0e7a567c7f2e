// Dashboard behaviour: small, dependency-free, loaded on every page.
// - [data-poll]: re-fetch this element's server-rendered HTML every 2 s,
//   so statuses change without a reload, until it holds [data-poll-done].
// - [data-confirm]: ask before a destructive action.
// - #build-log[data-follow]: follow a build's log over the API websocket.
// - [data-ping]: an agent's connection path and latency, from the API.
(function () {
  "use strict";
  var POLL_MS = 2000;

  function poll(el) {
    var url = el.getAttribute("data-poll");
    var busy = false;
    var timer = setInterval(function () {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (res) {
          if (res.redirected || !res.ok) return null; // signed out or gone: keep what we have
          return res.text();
        })
        .then(function (html) {
          if (html === null) return;
          var target = el.tagName === "TABLE" ? el.querySelector("tbody") : el;
          if (el.tagName === "TABLE") {
            var tmp = document.createElement("table");
            tmp.innerHTML = html;
            var tbody = tmp.querySelector("tbody");
            if (tbody && target) target.replaceWith(tbody);
          } else if (el.lastHTML !== html) {
            // Compared with the last fragment, not the live DOM, which
            // scripts (the connection figures) fill in after each swap.
            el.lastHTML = html;
            target.innerHTML = html;
            showPings();
          }
          // A fragment that reached its final state says so; stop asking.
          if (el.querySelector("[data-poll-done]")) clearInterval(timer);
        })
        .catch(function () {})
        .finally(function () { busy = false; });
    }, POLL_MS);
  }

  // [data-ping=AGENT_ID]: how this server reaches the agent (direct or
  // relayed through DERP) and the round-trip time, from the API's ping,
  // every PING_MS while the page is visible. Results are kept per agent so
  // a refreshed fragment shows the last figure at once.
  var PING_MS = 10000;
  var pings = {};
  var pinging = {};

  function describePing(p) {
    if (p.error) return p.error;
    var path = p.p2p ? "direct (peer to peer)" : "relayed via DERP" + (p.derp_region ? " " + p.derp_region : "");
    return path + " · " + p.latency_ms.toFixed(p.latency_ms < 10 ? 2 : 0) + " ms";
  }

  function showPings() {
    document.querySelectorAll("[data-ping]").forEach(function (el) {
      var id = el.getAttribute("data-ping");
      if (pings[id]) {
        el.textContent = describePing(pings[id]);
        el.setAttribute("data-p2p", pings[id].error ? "" : String(pings[id].p2p));
      }
    });
  }

  function pingAgent(id) {
    if (pinging[id] || document.hidden) return;
    pinging[id] = true;
    fetch("/api/v2/workspaceagents/" + encodeURIComponent(id) + "/ping", { credentials: "same-origin" })
      .then(function (res) {
        return res.json().then(function (body) {
          if (!res.ok) return { error: "unreachable: " + (body.message || res.status) };
          return body;
        });
      })
      .catch(function () { return { error: "unreachable" }; })
      .then(function (p) { pings[id] = p; showPings(); })
      .finally(function () { pinging[id] = false; });
  }

  function pingAll() {
    var seen = {};
    document.querySelectorAll("[data-ping]").forEach(function (el) {
      var id = el.getAttribute("data-ping");
      if (!seen[id]) { seen[id] = true; pingAgent(id); }
    });
  }

  function followLog(pre) {
    var status = pre.getAttribute("data-job-status");
    if (status !== "pending" && status !== "running") return;
    var after = pre.getAttribute("data-after") || "0";
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var url = proto + "//" + location.host + pre.getAttribute("data-follow") + "?follow=true&after=" + encodeURIComponent(after);
    var ws = new WebSocket(url);
    ws.onmessage = function (ev) {
      var line;
      try { line = JSON.parse(ev.data); } catch (e) { return; }
      var text = (line.stage ? "[" + line.stage + "] " : "") + (line.output || "") + "\n";
      var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.appendChild(document.createTextNode(text));
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    };
    ws.onclose = function () { pre.setAttribute("data-job-status", "done"); };
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-confirm]");
    if (el && !window.confirm(el.getAttribute("data-confirm"))) ev.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(poll);
    if (document.querySelector("[data-poll] , [data-ping]")) {
      pingAll();
      setInterval(pingAll, PING_MS);
    }
    var log = document.getElementById("build-log");
    if (log) followLog(log);
  });
})();
