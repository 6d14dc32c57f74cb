/*
 * Inbox chat widget. Embed with:
 *   <script src="https://CHANNELS_HOST/chat/widget.js" defer></script>
 * Optional, for a logged-in user (signature computed by your server, see the chat protocol):
 *   window.InboxChat.identify({user_id: "...", email: "...", name: "...", signature: "..."});
 * Everything is built with DOM APIs and textContent: no message is ever parsed as HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = new URL(script ? script.src : "/chat/widget.js", window.location.href);
  var socketUrl = (base.protocol === "https:" ? "wss:" : "ws:") + "//" + base.host + "/chat/ws";
  var uploadUrl = base.protocol + "//" + base.host + "/chat/uploads";
  var TOKEN_KEY = "inbox-chat-visitor-token";
  var socket = null, retry = 0, pendingIdentity = null, typingTimer = null, typingSent = false;
  var seen = {};

  function el(tag, style, text) {
    var node = document.createElement(tag);
    Object.keys(style || {}).forEach(function (k) { node.style[k] = style[k]; });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var launcher = el("button", {position: "fixed", right: "20px", bottom: "20px", zIndex: "2147483000",
    borderRadius: "24px", border: "0", padding: "12px 18px", background: "#1d2430", color: "#fff",
    font: "15px system-ui, sans-serif", cursor: "pointer"}, "Chat with us");
  launcher.setAttribute("aria-controls", "inbox-chat-panel");
  var panel = el("section", {position: "fixed", right: "20px", bottom: "76px", width: "320px", height: "420px",
    display: "none", flexDirection: "column", background: "#fff", border: "1px solid #d6dae0",
    borderRadius: "10px", boxShadow: "0 8px 24px rgba(0,0,0,.15)", zIndex: "2147483000",
    font: "14px/1.4 system-ui, sans-serif", color: "#1d2430"});
  panel.id = "inbox-chat-panel";
  panel.setAttribute("aria-label", "Chat");
  var log = el("ol", {listStyle: "none", margin: "0", padding: "10px", overflowY: "auto", flex: "1"});
  log.setAttribute("aria-live", "polite");
  var status = el("div", {padding: "0 10px", minHeight: "18px", fontSize: "12px", color: "#5b6472"});
  var form = el("form", {display: "flex", gap: "6px", padding: "8px", borderTop: "1px solid #e3e6ea"});
  var input = el("input", {flex: "1", padding: "8px", border: "1px solid #d6dae0", borderRadius: "6px"});
  input.name = "text"; input.autocomplete = "off"; input.placeholder = "Type your message";
  input.setAttribute("aria-label", "Message");
  var file = el("input", {display: "none"}); file.type = "file";
  var attach = el("button", {border: "0", background: "none", cursor: "pointer"}, "+");
  attach.type = "button"; attach.setAttribute("aria-label", "Attach a file");
  var send = el("button", {border: "0", borderRadius: "6px", padding: "8px 12px", background: "#1d2430",
    color: "#fff", cursor: "pointer"}, "Send");
  send.type = "submit";
  form.append(attach, file, input, send);
  panel.append(log, status, form);

  function isOpen() { return panel.style.display !== "none"; }

  function show(author, text, id, attachmentName) {
    if (id && seen[id]) return;
    if (id) seen[id] = true;
    var item = el("li", {margin: "6px 0", padding: "6px 9px", borderRadius: "8px", maxWidth: "85%",
      whiteSpace: "pre-wrap", overflowWrap: "anywhere",
      background: author === "agent" ? "#f0f2f5" : "#1d2430", color: author === "agent" ? "#1d2430" : "#fff",
      marginLeft: author === "agent" ? "0" : "auto"});
    item.className = "inbox-chat-" + author;
    item.textContent = text;
    if (attachmentName) item.append(el("div", {fontSize: "12px", opacity: ".8"}, "📎 " + attachmentName));
    if (id) item.dataset.messageId = id;
    log.append(item);
    log.scrollTop = log.scrollHeight;
    if (author === "agent" && id && isOpen()) markRead(id);
  }

  function markRead(id) { transmit({type: "read", message_id: id}); }

  // How did we do? Buttons 1-5 under the survey message, an optional comment sent with the score.
  function askRating(surveyId, scale) {
    if (!surveyId || seen["rating:" + surveyId]) return;
    seen["rating:" + surveyId] = true;
    var box = el("li", {margin: "6px 0", padding: "6px 9px", borderRadius: "8px", background: "#f0f2f5"});
    box.className = "inbox-chat-rating";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Rate us");
    var comment = el("input", {width: "100%", boxSizing: "border-box", padding: "6px", marginBottom: "6px",
      border: "1px solid #d6dae0", borderRadius: "6px"});
    comment.placeholder = "A comment (optional)";
    comment.setAttribute("aria-label", "Comment");
    comment.maxLength = 2000;
    var row = el("div", {display: "flex", gap: "6px"});
    for (var score = 1; score <= scale; score++) {
      (function (value) {
        var button = el("button", {flex: "1", padding: "6px 0", border: "1px solid #1d2430", borderRadius: "6px",
          background: "#fff", cursor: "pointer"}, String(value));
        button.type = "button";
        button.setAttribute("aria-label", "Rate " + value + " out of " + scale);
        button.addEventListener("click", function () {
          var frame = {type: "rating", survey_id: surveyId, score: value, comment: comment.value.trim()};
          if (!transmit(frame)) { status.textContent = "Not connected: try again in a moment."; return; }
          row.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
          comment.disabled = true;
        });
        row.append(button);
      })(score);
    }
    box.append(comment, row);
    log.append(box);
    log.scrollTop = log.scrollHeight;
  }

  function rated(surveyId) {
    Array.prototype.forEach.call(log.querySelectorAll("li.inbox-chat-rating"), function (box) {
      box.textContent = "Thank you for your feedback!";
      box.dataset.survey = surveyId;
    });
  }

  function transmit(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function newId() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
  }

  var outbox = [];  // frames not yet accepted, resent after a reconnect (same client_message_id: no duplicates)

  function connect() {
    socket = new WebSocket(socketUrl);
    socket.onopen = function () {
      retry = 0;
      socket.send(JSON.stringify({type: "hello", visitor_token: localStorage.getItem(TOKEN_KEY) || ""}));
    };
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type === "welcome") {
        localStorage.setItem(TOKEN_KEY, frame.visitor_token);
        status.textContent = "";
        if (pendingIdentity) transmit(pendingIdentity);
        outbox.forEach(function (f) { transmit(f); });
      } else if (frame.type === "accepted") {
        outbox = outbox.filter(function (f) { return f.client_message_id !== frame.client_message_id; });
      } else if (frame.type === "message") {
        status.textContent = "";
        show("agent", frame.text, frame.message_id);
        if (frame.survey) askRating(frame.message_id, frame.survey.scale || 5);
      } else if (frame.type === "rated") {
        rated(frame.survey_id);
      } else if (frame.type === "typing") {
        status.textContent = frame.active ? "An agent is typing…" : "";
      } else if (frame.type === "error") {
        status.textContent = frame.detail;
        if (frame.code === "unavailable" || frame.code === "rate_limited") {
          // Not stored: what is still in the outbox goes again once the wait is over.
          setTimeout(function () { outbox.forEach(function (f) { transmit(f); }); }, 1000 * (frame.retry_after || 5));
        }
      }
    };
    socket.onclose = function () {
      status.textContent = "Reconnecting…";
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * Math.pow(2, retry));
    };
  }

  function stopTyping() {
    if (typingSent) { transmit({type: "typing", active: false}); typingSent = false; }
  }

  input.addEventListener("input", function () {
    if (!typingSent) { typingSent = transmit({type: "typing", active: true}); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 3000);
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (!text.trim()) return;
    var frame = {type: "message", client_message_id: newId(), text: text};
    outbox.push(frame);
    transmit(frame);
    show("visitor", text);
    input.value = "";
    stopTyping();
  });

  attach.addEventListener("click", function () { file.click(); });
  file.addEventListener("change", function () {
    var chosen = file.files && file.files[0];
    if (!chosen) return;
    var body = new FormData();
    body.append("file", chosen);
    fetch(uploadUrl, {method: "POST", body: body,
      headers: {Authorization: "Visitor " + (localStorage.getItem(TOKEN_KEY) || "")}})
      .then(function (response) {
        if (!response.ok) return response.text().then(function (t) { throw new Error(t); });
        return response.json();
      })
      .then(function (uploaded) {
        var frame = {type: "message", client_message_id: newId(), text: "", attachments: [uploaded.attachment_id]};
        outbox.push(frame);
        transmit(frame);
        show("visitor", "", null, uploaded.filename);
      })
      .catch(function (error) { status.textContent = "Upload failed: " + error.message; })
      .finally(function () { file.value = ""; });
  });

  launcher.addEventListener("click", function () {
    panel.style.display = isOpen() ? "none" : "flex";
    launcher.setAttribute("aria-expanded", String(isOpen()));
    if (isOpen()) {
      input.focus();
      Array.prototype.forEach.call(log.querySelectorAll("li.inbox-chat-agent"), function (item) {
        if (item.dataset.messageId) markRead(item.dataset.messageId);
      });
    }
  });

  window.InboxChat = {
    identify: function (identity) {
      pendingIdentity = {type: "identify", user_id: identity.user_id || "", email: identity.email || "",
        name: identity.name || "", signature: identity.signature || ""};
      transmit(pendingIdentity);
    },
    open: function () { if (!isOpen()) launcher.click(); }
  };

  function mount() { document.body.append(panel, launcher); connect(); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
