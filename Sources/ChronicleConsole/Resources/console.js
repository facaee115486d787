// Chronicle Console: the live parts (everything else works without JavaScript).
// - Elements with data-live="URL" are refreshed from that URL every few seconds (server-rendered,
//   escaped HTML fragments).
// - The log page's live tail (#tail, data-feed="URL") follows the server-sent events of new
//   events; rows are built with textContent, never HTML.
"use strict";
(function () {
  var interval = 3000;
  document.documentElement.setAttribute("data-js", "on");

  document.querySelectorAll("[data-live]").forEach(function (element) {
    var url = element.getAttribute("data-live");
    var busy = false;
    var last = element.innerHTML;
    window.setInterval(function () {
      // Not while hidden, and not while the keyboard focus or a selection is inside (replacing
      // the content would lose the reader's place).
      var selection = window.getSelection && window.getSelection();
      if (busy || document.hidden || element.contains(document.activeElement) ||
          (selection && selection.rangeCount > 0 && !selection.isCollapsed && element.contains(selection.anchorNode))) { return; }
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.text();
        })
        .then(function (html) {
          if (html !== last) { element.innerHTML = html; last = html; }
          element.removeAttribute("data-stale");
          element.setAttribute("data-updated", new Date().toISOString());
        })
        .catch(function () { element.setAttribute("data-stale", "true"); })
        .then(function () { busy = false; });
    }, interval);
  });

  var tail = document.getElementById("tail");
  if (!tail || typeof EventSource === "undefined") { return; }
  var base = tail.getAttribute("data-base");
  var status = document.getElementById("tail-status");
  var received = 0;

  function cell(row, content) {
    var td = document.createElement("td");
    if (typeof content === "string") { td.textContent = content; } else { td.appendChild(content); }
    row.appendChild(td);
    return td;
  }
  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  var source = new EventSource(tail.getAttribute("data-feed"));
  source.onopen = function () {
    status.textContent = "Live: new events appear here as they are appended (" + received + " so far).";
    status.setAttribute("data-state", "open");
  };
  source.onerror = function () {
    status.textContent = "Live tail disconnected; reconnecting…";
    status.setAttribute("data-state", "reconnecting");
  };
  source.onmessage = function (message) {
    var event;
    try { event = JSON.parse(message.data); } catch (error) { return; }
    var row = document.createElement("tr");
    row.className = "new";
    cell(row, link(base + "/events/" + event.position, String(event.position))).className = "num";
    cell(row, String(event.recordedAt));
    cell(row, link(base + "/streams/" + encodeURIComponent(event.stream), String(event.stream)));
    cell(row, String(event.version)).className = "num";
    cell(row, String(event.type));
    tail.insertBefore(row, tail.firstChild);
    while (tail.rows.length > 200) { tail.deleteRow(tail.rows.length - 1); }
    received += 1;
    status.textContent = "Live: new events appear here as they are appended (" + received + " so far).";
  };
})();
