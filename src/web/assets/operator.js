// Operator portal: chat list with search, unread badges and previews; the open
// conversation; the settings page. Live through the subscription.
"use strict";

(() => {
  const { $, graphql, showError, explain } = Portal;
  const API = "/graphql/operator";
  const MESSAGE = "id message sentByType createdAt readAt";
  const CHAT = `seller { id businessName } unreadCount updatedAt lastMessage { message }`;
  const chats = new Map(); // seller ID -> chat
  let user, current = null, list = null, search = "", older = null;

  function renderChats() {
    const ul = $("[data-testid=chat-list]");
    ul.textContent = "";
    const shown = [...chats.values()]
      .filter((c) => c.seller.businessName.toLowerCase().includes(search))
      .sort((a, b) => (b.updatedAt || "").localeCompare(a.updatedAt || ""));
    if (!shown.length) {
      const empty = document.createElement("li");
      empty.textContent = search ? "No seller matches." : "No conversations yet.";
      ul.append(empty);
    }
    for (const chat of shown) {
      const li = document.createElement("li");
      li.dataset.testid = "chat-list-item";
      li.dataset.sellerId = chat.seller.id;
      li.tabIndex = 0;
      li.className = chat.seller.id === current ? "selected" : "";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = chat.seller.businessName;
      const time = document.createElement("span");
      time.className = "time";
      time.textContent = chat.updatedAt ? Portal.time(chat.updatedAt) : "";
      const preview = document.createElement("span");
      preview.className = "preview";
      preview.textContent = chat.lastMessage ? chat.lastMessage.message : "";
      const badge = document.createElement("span");
      badge.className = "chat-unread";
      badge.dataset.testid = "chat-unread";
      badge.textContent = chat.unreadCount > 0 ? String(chat.unreadCount) : "";
      li.append(name, time, preview, badge);
      li.addEventListener("click", () => openChat(chat.seller.id));
      li.addEventListener("keydown", (e) => { if (e.key === "Enter") openChat(chat.seller.id); });
      ul.append(li);
    }
  }

  async function markRead(sellerId) {
    const chat = chats.get(sellerId);
    if (!chat || chat.unreadCount === 0 || user.role === "viewer") return;
    await graphql(API, 'mutation($s: ID!) { chatMessageRead(input: { sellerId: $s, sentBy: "Seller" }) { readCount } }', { s: sellerId });
    chat.unreadCount = 0;
    renderChats();
  }

  async function openChat(sellerId) {
    current = sellerId;
    showError("");
    const chat = chats.get(sellerId);
    $("#placeholder").classList.add("hidden");
    for (const el of ["#conversation-header", "[data-testid=message-list]", "#composer"]) $(el).classList.remove("hidden");
    $("#conversation-title").textContent = chat.seller.businessName;
    list = Portal.messageList($("[data-testid=message-list]"), "Admin");
    list.reset("No messages yet.");
    older = null;
    await loadOlder(sellerId);
    // On a phone the conversation sits below the list: bring it into view.
    if (window.matchMedia("(max-width: 700px)").matches) $(".conversation").scrollIntoView({ block: "start" });
    if (user.role === "viewer") showError("You are not permitted to chat: your role is Viewer.");
    renderChats();
    await markRead(sellerId);
  }

  // One page of older messages (newest first from the API), prepended at the top.
  async function loadOlder(sellerId) {
    const data = await graphql(API, `query($s: ID!, $after: String) { chatMessages(sellerId: $s, first: 50, after: $after) { pageInfo { hasNextPage endCursor } nodes { ${MESSAGE} } } }`, { s: sellerId, after: older });
    if (sellerId !== current) return;
    const page = data.chatMessages;
    list.prepend(page.nodes);
    older = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
  }

  async function send(text) {
    showError("");
    try {
      const data = await graphql(API, `mutation($s: ID!, $m: String!) { chatMessageCreate(input: { sellerId: $s, message: $m }) { chatMessage { ${MESSAGE} } errors { field messages } } }`, { s: current, m: text });
      const result = data.chatMessageCreate;
      if (result.errors && result.errors.length) { showError(explain(result.errors)); return false; }
      list.append(result.chatMessage);
      return true;
    } catch (error) {
      showError(error.code === "FORBIDDEN" ? "You are not permitted to chat." : error.message);
      return false;
    }
  }

  // The server's counts are the truth: refresh the chat an event touched.
  async function refreshChat(sellerId) {
    const data = await graphql(API, `query($s: ID!) { chat(sellerId: $s) { ${CHAT} } }`, { s: sellerId });
    if (data.chat) chats.set(sellerId, data.chat);
  }

  async function onEvent(event) {
    if (event.__typename === "ChatMessageCreated") {
      const message = event.chatMessage;
      const sellerId = await sellerOf(message.id);
      if (sellerId === current) list.append(message);
      await refreshChat(sellerId);
      if (sellerId === current) await markRead(sellerId);
      renderChats();
    } else if (event.sentByType === "Admin" && event.sellerId === current) {
      for (const id of event.messageIds) list.setRead(id, event.readAt);
    }
  }

  async function sellerOf(messageId) {
    const data = await graphql(API, "query($id: ID!) { node(id: $id) { ... on ChatMessage { seller { id } } } }", { id: messageId });
    return data.node.seller.id;
  }

  async function loadChats() {
    const data = await graphql(API, `{ chats(first: 200) { nodes { ${CHAT} } } }`);
    for (const chat of data.chats.nodes) chats.set(chat.seller.id, chat);
    renderChats();
  }

  async function loadSettings() {
    const box = $("[data-testid=settings-chat-enabled]");
    const data = await graphql(API, "{ chatSettings { chatEnabled } }");
    box.checked = data.chatSettings.chatEnabled;
    const admin = user.role === "full-admin";
    box.disabled = !admin;
    $("#settings-note").textContent = admin ? "" : "Only a Full Admin can change settings.";
    box.onchange = async () => {
      try {
        await graphql(API, "mutation($on: Boolean!) { chatSettingsUpdate(input: { chatEnabled: $on }) { chatEnabled } }", { on: box.checked });
      } catch (error) { $("#settings-note").textContent = error.message; box.checked = !box.checked; }
    };
  }

  function route() {
    const settings = location.hash === "#settings";
    $("#chats").classList.toggle("hidden", settings);
    $("#settings").classList.toggle("hidden", !settings);
    $("#nav-chats").classList.toggle("active", !settings);
    $("#nav-settings").classList.toggle("active", settings);
    if (settings) loadSettings().catch((e) => ($("#settings-note").textContent = e.message));
  }

  async function start(loggedIn) {
    user = loggedIn;
    $("#app").classList.remove("hidden");
    $("#who").textContent = user.name + (user.role ? " · " + user.role : "");
    $("[data-testid=logout]").addEventListener("click", Portal.logout);
    $("[data-testid=message-list]").addEventListener("scroll", (event) => {
      if (event.target.scrollTop === 0 && older && current) loadOlder(current).catch((e) => showError(e.message));
    });
    $("[data-testid=chat-search]").addEventListener("input", (e) => { search = e.target.value.trim().toLowerCase(); renderChats(); });
    Portal.composer($("[data-testid=message-input]"), $("[data-testid=message-send]"), send);
    window.addEventListener("hashchange", route);
    route();
    const { chatEventCursor } = await graphql(API, "{ chatEventCursor }");
    await loadChats();
    // Events are applied one at a time, in the order they arrive.
    let queue = Promise.resolve();
    Portal.subscribe(API, (event) => { queue = queue.then(() => onEvent(event)).catch((e) => showError(e.message)); }).start(chatEventCursor);
  }

  Portal.session().then((u) => (u && u.kind === "operator" ? start(u) : Portal.loginForm(start)));
})();
