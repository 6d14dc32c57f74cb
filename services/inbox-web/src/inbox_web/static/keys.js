// Keyboard shortcuts for the common moves, listed in a help overlay ("?"). Keys act only when no field has
// the focus (except Ctrl/Cmd+Enter, which sends the form being typed in).
"use strict";

(function () {
  const SHORTCUTS = [
    ["j / k", "next / previous conversation in the list"],
    ["Enter", "open the selected conversation"],
    ["r", "reply"],
    ["n", "private note"],
    ["e", "resolve"],
    ["/", "search"],
    ["g i", "back to the inbox"],
    ["Ctrl+Enter", "send what you are typing"],
    ["?", "this help"],
  ];

  function typing(target) {
    return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function rows() { return Array.from(document.querySelectorAll(".conversation-list a")); }

  function select(offset) {
    const all = rows();
    if (!all.length) return;
    const current = all.indexOf(document.activeElement);
    const next = current < 0 ? 0 : Math.min(all.length - 1, Math.max(0, current + offset));
    all[next].focus();
  }

  function help() {
    let overlay = document.getElementById("shortcuts");
    if (overlay) { overlay.hidden = !overlay.hidden; return; }
    overlay = document.createElement("div");
    overlay.id = "shortcuts";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-label", "Keyboard shortcuts");
    const title = document.createElement("h2");
    title.textContent = "Keyboard shortcuts";
    const list = document.createElement("dl");
    for (const [keys, what] of SHORTCUTS) {
      const dt = document.createElement("dt");
      dt.textContent = keys;
      const dd = document.createElement("dd");
      dd.textContent = what;
      list.append(dt, dd);
    }
    overlay.append(title, list);
    overlay.addEventListener("click", () => { overlay.hidden = true; });
    document.body.append(overlay);
  }

  let pendingG = false;
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target instanceof HTMLTextAreaElement) {
      const form = event.target.form;
      if (form) { event.preventDefault(); form.requestSubmit(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const focus = (id) => { const field = document.getElementById(id); if (field) { event.preventDefault(); field.focus(); } };
    if (pendingG) { pendingG = false; if (event.key === "i") { window.location.assign("/"); } return; }
    switch (event.key) {
      case "j": select(1); break;
      case "k": select(-1); break;
      case "r": focus("reply-text"); break;
      case "n": focus("note-text"); break;
      case "/": focus("search"); break;
      case "e": {
        const resolve = document.querySelector('.status-form button[value="resolved"]');
        if (resolve) { event.preventDefault(); resolve.click(); }
        break;
      }
      case "g": pendingG = true; break;
      case "?": help(); break;
      case "Escape": { const overlay = document.getElementById("shortcuts"); if (overlay) overlay.hidden = true; break; }
      default: break;
    }
  });
})();
