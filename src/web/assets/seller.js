// Seller portal: header icon with the unread badge, a sliding chat window, live updates.
"use strict";

(() => {
  const { $, graphql, showError, explain } = Portal;
  const API = "/graphql/seller";
  const MESSAGE = "id message sentByType createdAt readAt";
  let list, unread = 0, open = false, olderCursor = null, hasOlder = false;

  function setUnread(count) {
    unread = count;
    $("[data-testid=unread-badge]").textContent = count > 0 ? String(count) : "";
  }

  async function markRead() {
    if (unread === 0) return;
    const data = await graphql(API, 'mutation { chatMessageRead(input: { sentBy: "Admin" }) { readCount errors { field messages } } }');
    const errors = data.chatMessageRead.errors;
    if (errors && errors.length) showError(explain(errors)); else setUnread(0);
  }

  async function loadPage(after) {
    const data = await graphql(API, `query($after: String) { chatMessages(first: 50, after: $after) { pageInfo { hasNextPage endCursor } nodes { ${MESSAGE} } } }`, { after });
    const page = data.chatMessages;
    olderCursor = page.pageInfo.endCursor;
    hasOlder = page.pageInfo.hasNextPage;
    list.prepend(page.nodes);
  }

  function toggle(force) {
    open = force === undefined ? !open : force;
    $("[data-testid=chat-window]").classList.toggle("open", open);
    $("[data-testid=chat-toggle]").setAttribute("aria-expanded", String(open));
    if (open) { $("[data-testid=message-input]").focus(); markRead().catch((e) => showError(e.message)); }
  }

  async function start(user) {
    $("#app").classList.remove("hidden");
    $("#title").textContent = user.name + " · Seller portal";
    list = Portal.messageList($("[data-testid=message-list]"), "Seller");
    list.reset("No messages yet. Ask the marketplace team anything.");
    const { chatEventCursor } = await graphql(API, "{ chatEventCursor }");
    await loadPage(null);
    const counts = await graphql(API, "{ chatUnreadCount }");
    setUnread(counts.chatUnreadCount);
    $("[data-testid=chat-toggle]").addEventListener("click", () => toggle());
    $("#close").addEventListener("click", () => toggle(false));
    $("[data-testid=logout]").addEventListener("click", Portal.logout);
    $("[data-testid=message-list]").addEventListener("scroll", (event) => {
      if (event.target.scrollTop === 0 && hasOlder) loadPage(olderCursor).catch((e) => showError(e.message));
    });
    Portal.composer($("[data-testid=message-input]"), $("[data-testid=message-send]"), async (text) => {
      showError("");
      try {
        const data = await graphql(API, `mutation($m: String!) { chatMessageCreate(input: { message: $m }) { chatMessage { ${MESSAGE} } errors { field messages } } }`, { m: text });
        const result = data.chatMessageCreate;
        if (result.errors && result.errors.length) { showError(explain(result.errors)); return false; }
        list.append(result.chatMessage);
        return true;
      } catch (error) { showError(error.message); return false; }
    });
    // Live from the position read before the history: nothing in between is missed, and
    // the list drops what it already shows.
    Portal.subscribe(API, (event) => {
      if (event.__typename === "ChatMessageCreated") {
        const message = event.chatMessage;
        const known = list.has(message.id);
        list.append(message);
        if (!known && message.sentByType === "Admin") {
          if (open) { unread += 1; markRead().catch((e) => showError(e.message)); } else setUnread(unread + 1);
        }
      } else if (event.sentByType === "Seller") {
        for (const id of event.messageIds) list.setRead(id, event.readAt);
      }
    }).start(chatEventCursor);
  }

  Portal.session().then((user) => (user && user.kind === "seller" ? start(user) : Portal.loginForm(start)));
})();
