// Operator portal: chat list paged from the server as the agent scrolls, server-side
// search over chats and all sellers (so a seller who never wrote can be messaged), the
// open conversation, the settings page. Live through the subscription.
"use strict";

(() => {
  const { $, graphql, showError, explain } = Portal;
  const API = "/graphql/operator";
  const TITLE = "Chats — marketchat";
  const PAGE = 50;
  const MESSAGE = "id message sentByType sentBy createdAt readAt";
  const CHAT = `seller { id businessName } unreadCount updatedAt lastMessage { message }`;
  const chats = new Map(); // seller ID -> chat, for every seller the list has shown
  let user, current = null, list = null, older = null;
  // The list: seller IDs in display order, and where its next page comes from. While
  // searching, matching chats come first (most recent first), then every other matching
  // seller by name.
  const listing = { search: "", order: [], phase: "chats", after: null, more: true, loading: false, generation: 0 };

  function chatItem(chat) {
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
    preview.className = "preview" + (chat.lastMessage ? "" : " none");
    preview.textContent = chat.lastMessage ? chat.lastMessage.message : "No messages yet — start the conversation";
    const badge = document.createElement("span");
    badge.className = "chat-unread";
    badge.dataset.testid = "chat-unread";
    badge.textContent = chat.unreadCount > 0 ? String(chat.unreadCount) : "";
    li.append(name, time, preview, badge);
    li.addEventListener("click", () => openChat(chat.seller.id));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") openChat(chat.seller.id); });
    return li;
  }

  function renderChats() {
    const ul = $("[data-testid=chat-list]");
    const scrolled = ul.scrollTop;
    ul.textContent = "";
    for (const sellerId of listing.order) ul.append(chatItem(chats.get(sellerId)));
    ul.scrollTop = scrolled;
    let status = "";
    if (listing.loading) status = "Loading…";
    else if (!listing.order.length) status = listing.search ? "No seller matches." : "No conversations yet.";
    $("#list-status").textContent = status;
  }

  // The next page of the list, and more while the list does not fill its box yet.
  async function loadMore() {
    if (listing.loading || !listing.more) return;
    const generation = listing.generation;
    listing.loading = true;
    try {
      const search = listing.search || null;
      if (listing.phase === "chats") {
        const data = await graphql(API, `query($after: String, $search: String) { chats(first: ${PAGE}, after: $after, search: $search) { pageInfo { hasNextPage endCursor } nodes { ${CHAT} } } }`, { after: listing.after, search });
        if (generation !== listing.generation) return;
        for (const chat of data.chats.nodes) add(chat);
        const page = data.chats.pageInfo;
        listing.after = page.endCursor;
        if (!page.hasNextPage) {
          if (search) Object.assign(listing, { phase: "sellers", after: null });
          else listing.more = false;
        }
      } else {
        const data = await graphql(API, `query($after: String, $search: String) { sellers(first: ${PAGE}, after: $after, search: $search) { pageInfo { hasNextPage endCursor } nodes { id businessName chat { unreadCount updatedAt lastMessage { message } } } } }`, { after: listing.after, search });
        if (generation !== listing.generation) return;
        for (const seller of data.sellers.nodes) {
          add({ seller: { id: seller.id, businessName: seller.businessName }, ...seller.chat });
        }
        listing.after = data.sellers.pageInfo.endCursor;
        listing.more = data.sellers.pageInfo.hasNextPage;
      }
    } finally {
      if (generation === listing.generation) listing.loading = false;
    }
    if (generation !== listing.generation) return;
    renderChats();
    if (nearBottom()) await loadMore();
  }

  function add(chat) {
    if (!listing.order.includes(chat.seller.id)) listing.order.push(chat.seller.id);
    chats.set(chat.seller.id, chat);
  }

  function nearBottom() {
    const ul = $("[data-testid=chat-list]");
    return ul.scrollTop + ul.clientHeight >= ul.scrollHeight - 150;
  }

  function setSearch(text) {
    Object.assign(listing, { search: text, order: [], phase: "chats", after: null, more: true, loading: false });
    listing.generation += 1;
    $("[data-testid=chat-list]").scrollTop = 0;
    renderChats();
    loadMore().catch((e) => showError(e.message));
  }

  async function refreshTitle() {
    const data = await graphql(API, "{ chatUnreadCount }");
    Portal.titleCount(data.chatUnreadCount, TITLE);
  }

  // Only while the agent looks at this page (visible and focused) with this chat open.
  async function markRead(sellerId) {
    const chat = chats.get(sellerId);
    if (!chat || !chat.unreadCount || user.role === "viewer" || sellerId !== current || !Portal.attentive()) return;
    await graphql(API, 'mutation($s: ID!) { chatMessageRead(input: { sellerId: $s, sentBy: "Seller" }) { readCount } }', { s: sellerId });
    chat.unreadCount = 0;
    renderChats();
    await refreshTitle();
  }

  async function openChat(sellerId) {
    current = sellerId;
    showError("");
    const chat = chats.get(sellerId);
    $("#placeholder").classList.add("hidden");
    for (const el of ["#conversation-header", "[data-testid=message-list]", "#composer"]) $(el).classList.remove("hidden");
    $("#conversation-title").textContent = chat.seller.businessName;
    list = Portal.messageList($("[data-testid=message-list]"), "Admin", true);
    list.reset("No messages yet. Write the first one below.");
    older = null;
    renderChats();
    await loadOlder(sellerId);
    // On a phone the conversation sits below the list: bring it into view.
    if (window.matchMedia("(max-width: 700px)").matches) $(".conversation").scrollIntoView({ block: "start" });
    if (user.role === "viewer") showError("You are not permitted to chat: your role is Viewer.");
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
      const sellerId = current;
      const data = await graphql(API, `mutation($s: ID!, $m: String!) { chatMessageCreate(input: { sellerId: $s, message: $m }) { chatMessage { ${MESSAGE} } errors { field messages } } }`, { s: sellerId, m: text });
      const result = data.chatMessageCreate;
      if (result.errors && result.errors.length) { showError(explain(result.errors)); return false; }
      if (sellerId === current) list.append(result.chatMessage);
      return true;
    } catch (error) {
      showError(error.code === "FORBIDDEN" ? "You are not permitted to chat." : error.message);
      return false;
    }
  }

  // The server's counts are the truth: refresh the chat an event touched.
  async function refreshChat(sellerId) {
    const data = await graphql(API, `query($s: ID!) { chat(sellerId: $s) { ${CHAT} } }`, { s: sellerId });
    if (!data.chat) return;
    chats.set(sellerId, data.chat);
    if (listing.search) return; // a search keeps its order; the chat updates in place
    listing.order = [sellerId, ...listing.order.filter((id) => id !== sellerId)];
  }

  async function onEvent(event) {
    if (event.__typename === "ChatMessageCreated") {
      const message = event.chatMessage;
      const sellerId = await sellerOf(message.id);
      if (sellerId === current) list.append(message);
      await refreshChat(sellerId);
      renderChats();
      if (sellerId === current) await markRead(sellerId);
    } else if (event.sentByType === "Admin" && event.sellerId === current) {
      for (const id of event.messageIds) list.setRead(id, event.readAt);
    }
    await refreshTitle();
  }

  async function sellerOf(messageId) {
    const data = await graphql(API, "query($id: ID!) { node(id: $id) { ... on ChatMessage { seller { id } } } }", { id: messageId });
    return data.node.seller.id;
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
    Portal.emailSetting($("[data-testid=settings-email-notifications]"), $("#email-note")).catch((e) => ($("#email-note").textContent = e.message));
    $("[data-testid=message-list]").addEventListener("scroll", (event) => {
      if (event.target.scrollTop === 0 && older && current) loadOlder(current).catch((e) => showError(e.message));
    });
    $("[data-testid=chat-list]").addEventListener("scroll", () => {
      if (nearBottom()) loadMore().catch((e) => showError(e.message));
    });
    let typing = null;
    $("[data-testid=chat-search]").addEventListener("input", (e) => {
      clearTimeout(typing);
      typing = setTimeout(() => setSearch(e.target.value.trim()), 250);
    });
    Portal.composer($("[data-testid=message-input]"), $("[data-testid=message-send]"), send);
    Portal.onAttention(() => { if (current) markRead(current).catch((e) => showError(e.message)); });
    window.addEventListener("hashchange", route);
    route();
    const { chatEventCursor } = await graphql(API, "{ chatEventCursor }");
    await loadMore();
    await refreshTitle();
    // Events are applied one at a time, in the order they arrive.
    let queue = Promise.resolve();
    Portal.subscribe(API, (event) => { queue = queue.then(() => onEvent(event)).catch((e) => showError(e.message)); }, Portal.connectionBanner).start(chatEventCursor);
  }

  Portal.session().then((u) => (u && u.kind === "operator" ? start(u) : Portal.loginForm(start)));
})();
