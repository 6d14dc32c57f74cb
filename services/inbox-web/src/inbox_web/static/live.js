// Live pages: the server's notices (Server-Sent Events) say which conversation changed; the page fetches
// the changed part from our own routes (rendered and escaped by the server) and swaps it in. No customer
// text travels in a notice, and nothing here evaluates any. EventSource reconnects by itself and sends the
// last notice it saw, so the server can replay what was missed (or ask for a reload).
"use strict";

(function () {
  const live = Array.from(document.querySelectorAll("[data-live-src]"));
  if (!live.length || !window.EventSource) return;

  const pending = new Map();
  const again = new Set(); // parts told of news while their fetch was on its way
  const held = new Map(); // fresh HTML that arrived while the agent was pressing on the page

  // While a pointer is down, swapping the element under it would eat the click (press and release would
  // land on different nodes), so fresh parts wait for the release and the click it makes.
  let pressed = false;
  document.addEventListener("pointerdown", () => { pressed = true; }, true);
  function released() {
    pressed = false;
    setTimeout(() => { for (const [element, fragment] of held) swap(element, fragment); held.clear(); }, 0);
  }
  document.addEventListener("pointerup", released, true);
  document.addEventListener("pointercancel", released, true);

  // Keep every node that did not change (rows and messages match by data-key), so focus, selection and a
  // click in progress survive an update, and only what changed is touched.
  function morph(target, source) {
    const keyed = new Map();
    for (const child of target.children) if (child.dataset.key) keyed.set(child.dataset.key, child);
    const old = Array.from(target.childNodes);
    const wanted = Array.from(source.childNodes).map((fresh, index) => {
      const previous = fresh.dataset && fresh.dataset.key ? keyed.get(fresh.dataset.key) : old[index];
      if (!previous) return fresh;
      if (previous.isEqualNode(fresh)) return previous;
      if (previous.nodeType === Node.ELEMENT_NODE && !previous.dataset.key && previous.tagName === fresh.tagName
          && previous.className === fresh.className) {
        morph(previous, fresh);
        return previous;
      }
      return fresh;
    });
    let cursor = target.firstChild;
    for (const node of wanted) {
      if (node === cursor) { cursor = cursor.nextSibling; continue; }
      target.insertBefore(node, cursor);
    }
    while (cursor) { const next = cursor.nextSibling; cursor.remove(); cursor = next; }
  }

  // The inbox's title counts its unread conversations, so a background tab shows them too.
  function retitle(element) {
    if (element.id !== "conversation-list") return;
    const list = element.querySelector("[data-unread]");
    const count = list ? Number(list.dataset.unread) : 0;
    const base = document.title.replace(/^\(\d+\) /, "");
    document.title = count > 0 ? `(${count}) ${base}` : base;
  }

  function swap(element, fragment) {
    morph(element, fragment);
    retitle(element);
    element.dispatchEvent(new CustomEvent("live:updated", { bubbles: true }));
  }

  // An optional desktop notification (the agent turns it on with "Notify me") when a conversation is
  // assigned or offered to them, so it reaches them in another tab or window too; it names no customer
  // and carries nothing they wrote.
  const me = document.body.dataset.agent;
  const notifyButton = document.getElementById("notify");
  const canNotify = "Notification" in window;
  if (notifyButton && canNotify && Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", () => {
      Notification.requestPermission().then(() => { notifyButton.hidden = true; });
    });
  }
  function tell(notice) {
    if (!canNotify || Notification.permission !== "granted" || !me || notice.agent !== me) return;
    if (notice.kind !== "assignment" && notice.kind !== "offered") return;
    const offered = notice.kind === "offered";
    const shown = new Notification(offered ? "A conversation is offered to you" : "A conversation was assigned to you", {
      tag: `${notice.kind}-${notice.conversation_id}`,
    });
    shown.addEventListener("click", () => {
      window.focus();
      window.location.assign(offered ? "/" : `/conversations/${encodeURIComponent(notice.conversation_id)}`);
    });
  }

  function refresh(element) {
    // One fetch at a time per part. A notice that comes while one is on its way asks for one more after
    // it: the fetch on its way may have been answered before what the notice is about was there.
    if (pending.has(element)) { again.add(element); return; }
    const request = fetch(element.dataset.liveSrc, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then((response) => {
        if (response.status === 401 || response.redirected) { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      })
      .then((html) => {
        if (html === null) return;
        const template = document.createElement("template");
        template.innerHTML = html; // our own server's escaped HTML; template content never runs scripts
        if (pressed) held.set(element, template.content); else swap(element, template.content);
      })
      .catch(() => {})
      .finally(() => {
        pending.delete(element);
        if (again.delete(element)) refresh(element);
      });
    pending.set(element, request);
  }

  // "Customer is typing…" on the page of their conversation; it goes when they stop, send, or fall silent.
  const typingTimers = new Map();
  function showTyping(conversationId, active) {
    for (const element of document.querySelectorAll("[data-typing-for]")) {
      if (element.dataset.typingFor !== conversationId) continue;
      element.hidden = !active;
      clearTimeout(typingTimers.get(element));
      if (active) typingTimers.set(element, setTimeout(() => { element.hidden = true; }, 8000));
    }
  }

  // From where the page was rendered, so nothing between the render and this connection is missed.
  const after = document.body.dataset.liveAfter || "";
  const source = new EventSource(after ? `/events?after=${encodeURIComponent(after)}` : "/events");
  source.addEventListener("conversation", (event) => {
    let notice;
    try { notice = JSON.parse(event.data); } catch (error) { return; }
    tell(notice);
    if (notice.kind === "typing") { showTyping(notice.conversation_id, notice.active === true); return; }
    if (notice.kind === "message") showTyping(notice.conversation_id, false);
    for (const element of live) {
      const shows = element.dataset.conversationId;
      if (!shows || shows === notice.conversation_id) refresh(element);
    }
  });
  source.addEventListener("reload", () => live.forEach(refresh));
  // Logged out elsewhere, a new password, a removed login: back to the login page.
  source.addEventListener("signed-out", () => { source.close(); window.location.assign("/login"); });
  document.body.dataset.live = "connecting";
  source.addEventListener("open", () => { document.body.dataset.live = "on"; });
  source.addEventListener("error", () => { document.body.dataset.live = "reconnecting"; });
})();
