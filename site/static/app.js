// Dashboard behaviour: small, dependency-free, loaded on every page.
// - [data-poll]: re-fetch this element's server-rendered HTML every 2 s,
//   so statuses change without a reload, until it holds [data-poll-done].
// - [data-confirm]: ask before a destructive action.
// - #build-log[data-follow]: follow a build's log over the API websocket.
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
          } else if (target.innerHTML !== html) {
            target.innerHTML = html;
          }
          // A fragment that reached its final state says so; stop asking.
          if (el.querySelector("[data-poll-done]")) clearInterval(timer);
        })
        .catch(function () {})
        .finally(function () { busy = false; });
    }, POLL_MS);
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
    var log = document.getElementById("build-log");
    if (log) followLog(log);
  });
})();
