/*
 * The session page follows a run while it happens: each finished step is added to the
 * "Live steps" list, the picture's highlight moves to that step's node, and when the
 * run ends the page reloads, so the server draws where the session stands (the
 * question to answer, the output, the error).
 *
 * The server renders `data-stream` on `.yamlgraph-picture` only while a run is in
 * flight: the session's event stream (GET /api/sessions/<id>/stream/) from the log
 * position the page already shows, so nothing shown is replayed. No build step, no
 * libraries.
 */
(function () {
  "use strict";

  const HIGHLIGHT_STATES = ["waiting", "failed", "done", "running"];
  const SUMMARY_LENGTH = 120;

  function shorten(text, length) {
    return text.length > length ? text.slice(0, length - 1) + "\u2026" : text;
  }

  /* "key = value, ..." of what a node wrote, cut to one line. */
  function summary(update) {
    const parts = Object.entries(update || {}).map(
      ([key, value]) => key + " = " + JSON.stringify(value)
    );
    return parts.length ? shorten(parts.join(", "), SUMMARY_LENGTH) : "wrote nothing";
  }

  /* The sentence of an interrupt's value (a string, or a dict with a question). */
  function questionOf(value) {
    if (typeof value === "string") {
      return value;
    }
    if (value && typeof value === "object") {
      return String(value.question || value.message || value.prompt || JSON.stringify(value));
    }
    return JSON.stringify(value);
  }

  function follow(picture, live) {
    const steps = live.querySelector(".yamlgraph-live-steps");
    const status = live.querySelector(".yamlgraph-live-status");
    const asked = new Set();
    let ended = false;

    function say(text, kind) {
      status.textContent = text;
      status.className = "yamlgraph-live-status " + (kind || "quiet");
    }

    function addLine(node, text, kind) {
      const item = document.createElement("li");
      item.className = "yamlgraph-live-step" + (kind ? " " + kind : "");
      if (node) {
        item.dataset.node = node;
      }
      const time = document.createElement("time");
      time.dateTime = new Date().toISOString();
      time.textContent = new Date().toLocaleTimeString();
      const name = document.createElement("strong");
      name.textContent = node || "";
      const detail = document.createElement("span");
      detail.className = "quiet";
      detail.textContent = text;
      item.append(time, " ", name, " ", detail);
      steps.append(item);
    }

    function highlight(names, state) {
      for (const node of picture.querySelectorAll("g.node.current")) {
        node.classList.remove("current", ...HIGHLIGHT_STATES);
      }
      for (const name of names) {
        const node = picture.querySelector('g.node[data-node="' + CSS.escape(name) + '"]');
        if (node) {
          node.classList.add("current", state);
        }
      }
    }

    function drawn(name) {
      return picture.querySelector('g.node[data-node="' + CSS.escape(name) + '"]') !== null;
    }

    function showQuestions(interrupts) {
      for (const interrupt of interrupts || []) {
        if (!asked.has(interrupt.id)) {
          asked.add(interrupt.id);
          addLine("", "waiting for an answer: " + questionOf(interrupt.value), "interrupt");
        }
      }
      say("Waiting for an answer\u2026");
    }

    function reload() {
      ended = true;
      source.close();
      window.location.reload();
    }

    const source = new EventSource(picture.dataset.stream);
    live.hidden = false;
    live.dataset.state = "following";
    say("Following the run as it happens\u2026");

    source.addEventListener("metadata", (event) => {
      const data = JSON.parse(event.data);
      say("Run " + data.run_id + " is running\u2026");
    });

    source.addEventListener("updates", (event) => {
      const data = JSON.parse(event.data);
      const ran = [];
      for (const [node, update] of Object.entries(data)) {
        if (node === "__interrupt__") {
          showQuestions(update);
        } else if (drawn(node)) {  // the engine's own nodes are not drawn, nor listed
          addLine(node, summary(update));
          ran.push(node);
        }
      }
      if (ran.length) {
        highlight(ran, "running");
      }
    });

    source.addEventListener("values", (event) => {
      const data = JSON.parse(event.data);
      if (data && data.__interrupt__) {
        showQuestions(data.__interrupt__);
      }
    });

    source.addEventListener("error", (event) => {
      if (event.data !== undefined) {  // the run's own `error` event, not the connection's
        const data = JSON.parse(event.data);
        addLine("", data.error + ": " + data.message, "errornote");
        say("The run failed: " + data.message, "errornote");
        return;
      }
      if (ended) {
        return;
      }
      if (source.readyState === EventSource.CLOSED) {
        // Refused (not allowed, not found): retrying or reloading would not help.
        live.dataset.state = "unavailable";
        say("This page cannot follow the run live; reload it to see where the session is.");
        return;
      }
      // The stream ended without an `end` (the run was over by the time it opened) or
      // the connection dropped: the server's page shows where the session is now.
      reload();
    });

    source.addEventListener("end", (event) => {
      const data = JSON.parse(event.data);
      live.dataset.state = "ended";
      say("The run ended (" + data.status + "); reloading\u2026");
      reload();
    });
  }

  function start() {
    const picture = document.querySelector(".yamlgraph-picture[data-stream]");
    const live = document.querySelector(".yamlgraph-live");
    if (picture && live && window.EventSource) {
      follow(picture, live);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
