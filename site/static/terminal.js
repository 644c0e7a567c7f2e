// The web terminal: xterm.js (Debian's, bundled by scripts/xtermbundle)
// over the API's reconnecting-PTY websocket:
//   GET /api/v2/workspaceagents/{id}/pty?reconnect={uuid}&width=&height=[&command=]
// The browser sends {"data": "..."} for input and {"height": H, "width": W}
// to resize; the server sends the PTY's raw bytes. The reconnect id lives in
// the page URL, so a reload resumes the same session with its scrollback.
(function () {
  "use strict";
  var el = document.getElementById("terminal");
  var state = document.getElementById("terminal-state");
  if (!el || !window.Terminal) {
    if (state) state.textContent = "xterm.js is missing from this build (see make deps)";
    return;
  }
  document.body.classList.add("terminal");
  var term = new window.Terminal({
    // The DOM renderer plus screen-reader mode keep the text in the page:
    // readable by assistive technology (and by tests).
    rendererType: "dom",
    screenReaderMode: true,
    cursorBlink: true,
    fontFamily: "monospace",
    fontSize: 14,
    scrollback: 10000
  });
  term.open(el);
  // For tests and the curious: the live terminal object.
  window.coderTerminal = term;
  term.fit();
  term.focus();

  var ws = null;
  var retry = 0;
  var decoder = new TextDecoder();
  var closedByUs = false;

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var q = "reconnect=" + encodeURIComponent(el.getAttribute("data-reconnect")) +
      "&width=" + term.cols + "&height=" + term.rows;
    var cmd = el.getAttribute("data-command");
    if (cmd) q += "&command=" + encodeURIComponent(cmd);
    ws = new WebSocket(proto + "//" + location.host + "/api/v2/workspaceagents/" + el.getAttribute("data-agent") + "/pty?" + q);
    ws.binaryType = "arraybuffer";
    state.textContent = "connecting…";
    ws.onopen = function () {
      retry = 0;
      state.textContent = "connected";
      send({ height: term.rows, width: term.cols });
    };
    ws.onmessage = function (ev) {
      if (typeof ev.data === "string") term.write(ev.data);
      else term.write(decoder.decode(new Uint8Array(ev.data), { stream: true }));
    };
    ws.onclose = function (ev) {
      if (closedByUs) return;
      if (ev.code === 1000) {
        state.textContent = "session ended";
        return;
      }
      var delay = Math.min(10000, 250 * Math.pow(2, retry++));
      state.textContent = "disconnected" + (ev.reason ? " (" + ev.reason + ")" : "") + "; reconnecting in " + Math.round(delay / 1000) + " s";
      setTimeout(connect, delay);
    };
  }

  term.on("data", function (data) { send({ data: data }); });
  term.on("resize", function (size) { send({ height: size.rows, width: size.cols }); });
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { term.fit(); }, 50);
  });
  window.addEventListener("beforeunload", function () { closedByUs = true; });
  connect();
})();
