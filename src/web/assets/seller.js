// Seller portal: header icon with the unread badge, a chat window that opens beside the
// page (closed = hidden and inert), live updates that resume after chat was switched off.
"use strict";

(() => {
  const { $, graphql, showError, explain } = Portal;
  const API = "/graphql/seller";
  const MESSAGE = "id message sentByType createdAt readAt";
  const TITLE = "Messages — marketchat";
  const OFF = "In-app chat is not enabled";
  let list, unread = 0, open = false, olderCursor = null, hasOlder = false;

  function setUnread(count) {
    unread = count;
    $("[data-testid=unread-badge]").textContent = count > 0 ? String(count) : "";
    Portal.titleCount(count, TITLE);
  }

  // Only while the window is open and the page is visible and focused.
  async function markRead() {
    if (unread === 0 || !open || !Portal.attentive()) return;
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
    const panel = $("[data-testid=chat-window]");
    const hadFocus = panel.contains(document.activeElement);
    panel.hidden = !open;
    panel.inert = !open;
    $("[data-testid=chat-toggle]").setAttribute("aria-expanded", String(open));
    if (open) {
      const input = $("[data-testid=message-input]");
      (input.disabled ? $("#close") : input).focus();
      const messages = $("[data-testid=message-list]");
      messages.scrollTop = messages.scrollHeight;
      markRead().catch((e) => showError(e.message));
    } else if (hadFocus) {
      $("[data-testid=chat-toggle]").focus();
    }
  }

  // Chat switched off by the operator: say so before the seller types, and lock the composer.
  function setChatOff(off) {
    $("[data-testid=chat-off]").hidden = !off;
    $("[data-testid=message-input]").disabled = off;
    $("[data-testid=message-send]").disabled = off;
    if (!off && $("[data-testid=error]").textContent.includes(OFF)) showError("");
  }

  async function send(text) {
    showError("");
    try {
      const data = await graphql(API, `mutation($m: String!) { chatMessageCreate(input: { message: $m }) { chatMessage { ${MESSAGE} } errors { field messages } } }`, { m: text });
      const result = data.chatMessageCreate;
      if (result.errors && result.errors.length) {
        const explained = explain(result.errors);
        if (explained.includes(OFF)) setChatOff(true);
        showError(explained);
        return false;
      }
      list.append(result.chatMessage);
      return true;
    } catch (error) { showError(error.message); return false; }
  }

  function onEvent(event) {
    if (event.__typename === "ChatMessageCreated") {
      const message = event.chatMessage;
      const known = list.has(message.id);
      list.append(message);
      if (!known && message.sentByType === "Admin") {
        setUnread(unread + 1);
        markRead().catch((e) => showError(e.message));
      }
    } else if (event.sentByType === "Seller") {
      for (const id of event.messageIds) list.setRead(id, event.readAt);
    }
  }

  function onStatus(status) {
    Portal.connectionBanner(status);
    if (status === "disabled") setChatOff(true);
    if (status === "live") setChatOff(false);
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
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && open) { event.preventDefault(); toggle(false); $("[data-testid=chat-toggle]").focus(); }
    });
    Portal.onAttention(() => markRead().catch((e) => showError(e.message)));
    $("[data-testid=logout]").addEventListener("click", Portal.logout);
    $("[data-testid=message-list]").addEventListener("scroll", (event) => {
      if (event.target.scrollTop === 0 && hasOlder) loadPage(olderCursor).catch((e) => showError(e.message));
    });
    Portal.composer($("[data-testid=message-input]"), $("[data-testid=message-send]"), send);
    // Live from the position read before the history: nothing in between is missed, and
    // the list drops what it already shows.
    Portal.subscribe(API, onEvent, onStatus).start(chatEventCursor);
  }

  Portal.session().then((user) => (user && user.kind === "seller" ? start(user) : Portal.loginForm(start)));
})();
