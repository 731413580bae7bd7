// The embedded seller chat (/embed/seller#token=…), framed by a marketplace's page: takes
// the sign-in token from the fragment (and out of the address bar), trades it for a
// session kept in this page's memory only, then shows the thread and composer filling
// the frame. It tells the framing page the unread count, by postMessage to that page's
// origin only when it is one of the origins the server allows (never "*").
//
// Messages to the parent: {type: "marketchat:ready"}, {type: "marketchat:unread", count},
// {type: "marketchat:close"} (Escape or ✕ in launcher mode), {type: "marketchat:expired"}
// (sign-in link expired or session ended). From the parent (launcher mode, `?launcher=1`):
// {type: "marketchat:visibility", open} — reads are marked only while the chat is open.
"use strict";

(() => {
  const { $ } = Portal;
  const allowed = ($("meta[name=marketchat-embed-origins]").content || "").split(" ").filter(Boolean);
  const launcher = new URLSearchParams(location.search).get("launcher") === "1";
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  // The token is spent once redeemed: take it out of the address bar and the history.
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);

  // The framing page's origin, when it is one we may talk to. `ancestorOrigins` is what
  // the browser says; `document.referrer` (at least the origin, by default) where it is
  // missing. Either way the browser delivers a message only to the origin named.
  const parentOrigin = (() => {
    if (window.parent === window) return null;
    let origin = location.ancestorOrigins && location.ancestorOrigins.length ? location.ancestorOrigins[0] : null;
    if (!origin && document.referrer) {
      try { origin = new URL(document.referrer).origin; } catch (_) { origin = null; }
    }
    return allowed.includes(origin) ? origin : null;
  })();
  const tellParent = (message) => { if (parentOrigin) window.parent.postMessage(message, parentOrigin); };

  // In a plain iframe the chat is always open; behind the launcher, while the parent says so.
  let open = !launcher, chat = null;
  const looking = () => open && document.visibilityState === "visible";

  // Exactly one view at a time: signing in, the chat, or a notice that says why not.
  function show(view) {
    for (const id of ["signing-in", "app", "expired", "ended", "unavailable"]) $("#" + id).hidden = id !== view;
    if (view === "expired" || view === "ended") tellParent({ type: "marketchat:expired" });
  }

  window.addEventListener("message", (event) => {
    if (!parentOrigin || event.source !== window.parent || event.origin !== parentOrigin) return;
    const data = event.data;
    if (data && data.type === "marketchat:visibility") {
      open = data.open === true;
      if (!open) return;
      // Laid out only now (a hidden frame has no height): show the newest messages.
      const messages = $("[data-testid=message-list]");
      messages.scrollTop = messages.scrollHeight;
      if (chat) chat.markRead();
    }
  });
  document.addEventListener("visibilitychange", () => { if (chat && looking()) chat.markRead(); });
  if (launcher) {
    const close = $("#close");
    close.hidden = false;
    close.addEventListener("click", () => tellParent({ type: "marketchat:close" }));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); tellParent({ type: "marketchat:close" }); }
    });
  }

  async function signIn() {
    if (!token) return show("expired");
    let response;
    try {
      response = await fetch("/embed/session", {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token }),
      });
    } catch (_) {
      return show("unavailable");
    }
    if (response.status === 401) return show("expired");
    if (!response.ok) return show("unavailable");
    const { session } = await response.json();
    Portal.authorize(session);
    show("app");
    chat = await SellerChat.start({
      looking,
      onUnread: (count) => tellParent({ type: "marketchat:unread", count }),
      onEnded: () => show("ended"),
    });
  }

  tellParent({ type: "marketchat:ready" });
  signIn();
})();
