// Live pages: the server's notices (Server-Sent Events) say which conversation changed; the page fetches
// the changed part from our own routes (rendered and escaped by the server) and swaps it in. No customer
// text travels in a notice, and nothing here evaluates any. EventSource reconnects by itself and sends the
// last notice it saw, so the server can replay what was missed (or ask for a reload).
"use strict";

(function () {
  const live = Array.from(document.querySelectorAll("[data-live-src]"));
  if (!live.length || !window.EventSource) return;

  const pending = new Map();

  function refresh(element) {
    if (pending.has(element)) return; // one fetch at a time per part; the latest state wins anyway
    const request = fetch(element.dataset.liveSrc, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then((response) => {
        if (response.status === 401 || response.redirected) { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      })
      .then((html) => {
        if (html === null) return;
        const template = document.createElement("template");
        template.innerHTML = html; // our own server's escaped HTML; template content never runs scripts
        element.replaceChildren(template.content);
        element.dispatchEvent(new CustomEvent("live:updated", { bubbles: true }));
      })
      .catch(() => {})
      .finally(() => pending.delete(element));
    pending.set(element, request);
  }

  const source = new EventSource("/events");
  source.addEventListener("conversation", (event) => {
    let notice;
    try { notice = JSON.parse(event.data); } catch (error) { return; }
    for (const element of live) {
      const shows = element.dataset.conversationId;
      if (!shows || shows === notice.conversation_id) refresh(element);
    }
  });
  source.addEventListener("reload", () => live.forEach(refresh));
  document.body.dataset.live = "connecting";
  source.addEventListener("open", () => { document.body.dataset.live = "on"; });
  source.addEventListener("error", () => { document.body.dataset.live = "reconnecting"; });
})();
