// Operator portal: the support inbox (chat list paged from the server as the agent
// scrolls, server-side search over chats and all sellers, filters, waiting labels,
// assignment, status, notes, saved replies, message search, keyboard navigation), the
// reports page and the settings page. Live through the subscription. Every piece of data
// reaches the page as text nodes (never HTML).
"use strict";

(() => {
  const { $, graphql, showError, explain } = Portal;
  const API = "/graphql/operator";
  const TITLE = "Chats — marketchat";
  const PAGE = 50;
  const MESSAGE = "id message sentByType sentBy createdAt readAt";
  const BASIC_CHAT = "seller { id businessName } unreadCount updatedAt lastMessage { message }";
  const INBOX_CHAT = BASIC_CHAT + " awaitingReplySince status assignee { id name email }";
  const NOTE = "id note author createdAt";
  // What each filter chip asks the server for.
  const FILTERS = {
    all: {},
    unread: { unreadOnly: true },
    "needs-reply": { awaitingReply: true },
    mine: { assignedToMe: true },
    unassigned: { unassigned: true },
    resolved: { status: "RESOLVED" },
  };
  const chats = new Map(); // seller ID -> chat, for every seller the list has shown
  let user, inbox = false, CHAT = BASIC_CHAT, me = null, agents = [], savedReplies = [];
  let current = null, list = null, older = null;
  // The list: seller IDs in display order, and where its next page comes from. While
  // searching (with no filter), matching chats come first, then every other matching
  // seller by name.
  const listing = { search: "", filter: "all", sort: "RECENT_ACTIVITY", order: [], phase: "chats", after: null, more: true, loading: false, generation: 0, sellersFrom: null };

  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  // "waiting 5 min", "waiting 2 h", "waiting 3 d" since `since`.
  function waiting(since, now = Date.now()) {
    const minutes = Math.max(0, Math.floor((now - new Date(since).getTime()) / 60000));
    if (minutes < 1) return "waiting <1 min";
    if (minutes < 60) return "waiting " + minutes + " min";
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return "waiting " + hours + " h";
    return "waiting " + Math.floor(hours / 24) + " d";
  }

  function chatItem(chat) {
    const li = el("li");
    li.dataset.testid = "chat-list-item";
    li.dataset.sellerId = chat.seller.id;
    li.tabIndex = -1;
    li.setAttribute("role", "option");
    li.className = chat.seller.id === current ? "selected" : "";
    li.setAttribute("aria-selected", chat.seller.id === current ? "true" : "false");
    const time = el("span", "time", chat.updatedAt ? Portal.time(chat.updatedAt) : "");
    const preview = el("span", "preview" + (chat.lastMessage ? "" : " none"), chat.lastMessage ? chat.lastMessage.message : "No messages yet — start the conversation");
    const badge = el("span", "chat-unread", chat.unreadCount > 0 ? String(chat.unreadCount) : "");
    badge.dataset.testid = "chat-unread";
    li.append(el("span", "name", chat.seller.businessName), time, preview, badge);
    if (inbox && chat.status) {
      const tags = el("span", "tags");
      const status = el("span", "status " + chat.status.toLowerCase(), chat.status === "RESOLVED" ? "Resolved" : "Open");
      status.dataset.testid = "chat-status";
      tags.append(status);
      if (chat.awaitingReplySince) {
        const wait = el("span", "waiting", waiting(chat.awaitingReplySince));
        wait.dataset.testid = "chat-waiting";
        wait.title = "Waiting for a reply since " + new Date(chat.awaitingReplySince).toString();
        tags.append(wait);
      }
      const assignee = el("span", "assignee" + (chat.assignee ? "" : " none"), chat.assignee ? chat.assignee.name : "Unassigned");
      assignee.dataset.testid = "chat-assignee";
      tags.append(assignee);
      li.append(tags);
    }
    li.addEventListener("click", () => openChat(chat.seller.id).catch((e) => showError(e.message)));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") openChat(chat.seller.id).catch((err) => showError(err.message)); });
    return li;
  }

  function renderChats() {
    const ul = $("[data-testid=chat-list]");
    const scrolled = ul.scrollTop;
    const focused = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.testid === "chat-list-item" ? document.activeElement.dataset.sellerId : null;
    ul.textContent = "";
    listing.order.forEach((sellerId, i) => {
      if (i === listing.sellersFrom) ul.append(el("li", "section", "Other sellers (no messages yet)"));
      ul.append(chatItem(chats.get(sellerId)));
    });
    ul.scrollTop = scrolled;
    // One item is in the tab order (the focused, the open or the first one); j/k move.
    const rover = ul.querySelector(`[data-seller-id="${CSS.escape(focused || current || "")}"]`) || ul.querySelector("[data-testid=chat-list-item]");
    if (rover) rover.tabIndex = 0;
    if (focused) focusItem(focused);
    let status = "";
    if (listing.loading) status = "Loading…";
    else if (!listing.order.length) status = listing.search ? "No seller matches." : listing.filter !== "all" ? "No chats here." : "No conversations yet.";
    $("#list-status").textContent = status;
    $("[data-testid=load-more]").classList.toggle("hidden", !listing.more || listing.loading || !listing.order.length);
  }

  // The query arguments of the list as it is filtered, sorted and searched.
  function listArguments() {
    const args = { ...FILTERS[listing.filter] };
    if (listing.search) args.search = listing.search;
    if (inbox && listing.sort !== "RECENT_ACTIVITY") args.sort = listing.sort;
    return args;
  }

  // The next page of the list, and more while the list does not fill its box yet.
  async function loadMore() {
    if (listing.loading || !listing.more) return;
    const generation = listing.generation;
    listing.loading = true;
    try {
      const search = listing.search || null;
      if (listing.phase === "chats") {
        const args = listArguments();
        const names = Object.keys(args);
        const types = { unreadOnly: "Boolean", awaitingReply: "Boolean", assignedToMe: "Boolean", unassigned: "Boolean", status: "ChatStatus", search: "String", sort: "ChatSort" };
        const declared = names.map((n) => `, $${n}: ${types[n]}`).join("");
        const passed = names.map((n) => `, ${n}: $${n}`).join("");
        const data = await graphql(API, `query($after: String${declared}) { chats(first: ${PAGE}, after: $after${passed}) { pageInfo { hasNextPage endCursor } nodes { ${CHAT} } } }`, { after: listing.after, ...args });
        if (generation !== listing.generation) return;
        for (const chat of data.chats.nodes) add(chat);
        const page = data.chats.pageInfo;
        listing.after = page.endCursor;
        if (!page.hasNextPage) {
          // Sellers who never wrote have no chat to filter: only the unfiltered search lists them.
          if (search && listing.filter === "all") Object.assign(listing, { phase: "sellers", after: null, sellersFrom: listing.order.length });
          else listing.more = false;
        }
      } else {
        const fields = CHAT.replace("seller { id businessName } ", "");
        const data = await graphql(API, `query($after: String, $search: String) { sellers(first: ${PAGE}, after: $after, search: $search) { pageInfo { hasNextPage endCursor } nodes { id businessName chat { ${fields} } } } }`, { after: listing.after, search });
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
    return ul.offsetParent !== null && ul.scrollTop + ul.clientHeight >= ul.scrollHeight - 150;
  }

  // Starts the list again from its first page (new search, filter or sort).
  function reload() {
    Object.assign(listing, { order: [], phase: "chats", after: null, more: true, loading: false, sellersFrom: null });
    listing.generation += 1;
    $("[data-testid=chat-list]").scrollTop = 0;
    renderChats();
    loadMore().catch((e) => showError(e.message));
  }

  function setFilter(filter) {
    listing.filter = filter;
    for (const chip of document.querySelectorAll("[data-filter]")) chip.setAttribute("aria-pressed", chip.dataset.filter === filter ? "true" : "false");
    reload();
  }

  function setSort(waitingLongest) {
    listing.sort = waitingLongest ? "WAITING_LONGEST" : "RECENT_ACTIVITY";
    $("[data-testid=sort-waiting]").setAttribute("aria-pressed", waitingLongest ? "true" : "false");
    reload();
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

  // Opens a seller's thread; with `messageId`, pages back until that message is shown,
  // then scrolls to it and highlights it.
  async function openChat(sellerId, messageId = null, seller = null) {
    current = sellerId;
    showError("");
    let chat = chats.get(sellerId);
    if (!chat) {
      const data = await graphql(API, `query($s: ID!) { chat(sellerId: $s) { ${CHAT} } }`, { s: sellerId });
      chat = data.chat || { seller, unreadCount: 0 };
      chats.set(sellerId, chat);
    }
    $("#placeholder").classList.add("hidden");
    for (const sel of ["#conversation-header", "[data-testid=message-list]", "#composer"]) $(sel).classList.remove("hidden");
    $("[data-testid=notes-panel]").classList.toggle("hidden", !inbox);
    $("#conversation-title").textContent = chat.seller.businessName;
    renderThreadActions();
    list = Portal.messageList($("[data-testid=message-list]"), "Admin", true);
    list.reset("No messages yet. Write the first one below.");
    older = null;
    renderChats();
    closePicker();
    const notes = inbox ? loadNotes(sellerId) : Promise.resolve();
    await loadOlder(sellerId);
    if (messageId) await showMessage(sellerId, messageId);
    // On a phone the conversation sits below the list: bring it into view.
    if (window.matchMedia("(max-width: 700px)").matches) $(".conversation").scrollIntoView({ block: "start" });
    if (user.role === "viewer") showError("You are not permitted to chat: your role is Viewer.");
    await notes;
    await markRead(sellerId);
  }

  async function showMessage(sellerId, messageId) {
    for (let pages = 0; !list.has(messageId) && older && pages < 200; pages++) {
      await loadOlder(sellerId);
      if (sellerId !== current) return;
    }
    const li = list.element(messageId);
    if (!li) return showError("That message is no longer in the thread.");
    for (const old of document.querySelectorAll("[data-testid=message].hit")) old.classList.remove("hit");
    li.classList.add("hit");
    li.dataset.highlighted = "true";
    li.scrollIntoView({ block: "center" });
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
      closePicker();
      return true;
    } catch (error) {
      showError(error.code === "FORBIDDEN" ? "You are not permitted to chat." : error.message);
      return false;
    }
  }

  // Whether a chat belongs in the list as it is filtered now (for chats that events bring).
  function belongs(chat) {
    switch (listing.filter) {
      case "unread": return chat.unreadCount > 0;
      case "needs-reply": return !!chat.awaitingReplySince;
      case "mine": return !!(chat.assignee && me && chat.assignee.id === me.id);
      case "unassigned": return !chat.assignee;
      case "resolved": return chat.status === "RESOLVED";
      default: return true;
    }
  }

  // The server's counts are the truth: refresh the chat an event touched. A chat already
  // listed updates in place (or moves to the top when the list is by recent activity); a
  // new one joins when it belongs to the list.
  async function refreshChat(sellerId, moved) {
    const data = await graphql(API, `query($s: ID!) { chat(sellerId: $s) { ${CHAT} } }`, { s: sellerId });
    if (!data.chat) return;
    chats.set(sellerId, data.chat);
    if (sellerId === current) renderThreadActions();
    const listed = listing.order.includes(sellerId);
    if (listing.search) return; // a search keeps its order; the chat updates in place
    if (!listed && !belongs(data.chat)) return;
    if (listing.sort === "RECENT_ACTIVITY") {
      if (moved || !listed) listing.order = [sellerId, ...listing.order.filter((id) => id !== sellerId)];
    } else if (!listed && !listing.more) {
      listing.order.push(sellerId);
    }
  }

  async function onEvent(event) {
    if (event.__typename === "ChatMessageCreated") {
      const message = event.chatMessage;
      const sellerId = await sellerOf(message.id);
      if (sellerId === current) list.append(message);
      await refreshChat(sellerId, true);
      renderChats();
      if (sellerId === current) await markRead(sellerId);
    } else if (event.__typename === "ChatMessagesRead") {
      if (event.sentByType === "Admin" && event.sellerId === current) {
        for (const id of event.messageIds) list.setRead(id, event.readAt);
      } else if (event.sentByType === "Seller") {
        await refreshChat(event.sellerId, false);
        renderChats();
      }
    } else if (event.__typename === "ChatUpdated") {
      await refreshChat(event.chat.seller.id, false);
      renderChats();
    } else if (event.__typename === "ChatNoteCreated") {
      if (event.chat.seller.id === current) addNote(event.note, true);
    }
    await refreshTitle();
  }

  async function sellerOf(messageId) {
    const data = await graphql(API, "query($id: ID!) { node(id: $id) { ... on ChatMessage { seller { id } } } }", { id: messageId });
    return data.node.seller.id;
  }

  // ---- Assignment, status, mark unread ----

  function renderThreadActions() {
    if (!inbox || !current) return;
    const chat = chats.get(current);
    const resolved = chat.status === "RESOLVED";
    const status = $("[data-testid=thread-status]");
    status.textContent = resolved ? "Resolved" : "Open";
    status.className = "status-pill " + (resolved ? "resolved" : "open");
    $("[data-testid=resolve]").classList.toggle("hidden", resolved);
    $("[data-testid=reopen]").classList.toggle("hidden", !resolved);
    const select = $("[data-testid=assign-select]");
    const assigneeId = chat.assignee ? chat.assignee.id : "";
    if (assigneeId && !agents.some((a) => a.id === assigneeId)) agents.push(chat.assignee);
    renderAgents();
    select.value = assigneeId;
    $("[data-testid=unassign]").classList.toggle("hidden", !assigneeId);
    $("[data-testid=assign-me]").classList.toggle("hidden", !me || assigneeId === me.id);
  }

  function renderAgents() {
    const select = $("[data-testid=assign-select]");
    const value = select.value;
    select.textContent = "";
    select.append(new Option("Unassigned", ""));
    for (const agent of agents) select.append(new Option(agent.name, agent.id));
    select.value = value;
  }

  // Runs a chat mutation returning ChatPayload and applies the chat it returns.
  // `declared`/`passed`: its arguments besides sellerId, as variables.
  async function chatMutation(name, declared, passed, variables) {
    showError("");
    const sellerId = current;
    const data = await graphql(API, `mutation($s: ID!${declared}) { ${name}(input: { sellerId: $s${passed} }) { chat { ${CHAT} } errors { field messages } } }`, { s: sellerId, ...variables });
    const result = data[name];
    if (result.errors && result.errors.length) { showError(explain(result.errors)); return null; }
    if (result.chat) chats.set(sellerId, result.chat);
    if (sellerId === current) renderThreadActions();
    renderChats();
    return result.chat;
  }

  const assign = (assigneeId) => chatMutation("chatAssign", ", $a: ID", ", assigneeId: $a", { a: assigneeId });
  const setStatus = (status) => chatMutation("chatStatusUpdate", ", $status: ChatStatus!", ", status: $status", { status });

  // Back to the list with the chat unread, so that it is not marked read again at once.
  async function markUnread() {
    const sellerId = current;
    const chat = await chatMutation("chatMarkUnread", "", "", {});
    if (!chat) return;
    closeThread();
    focusItem(sellerId);
    await refreshTitle();
  }

  function closeThread() {
    current = null;
    list = null;
    $("#placeholder").classList.remove("hidden");
    for (const sel of ["#conversation-header", "[data-testid=message-list]", "#composer", "[data-testid=notes-panel]"]) $(sel).classList.add("hidden");
    closePicker();
    renderChats();
  }

  // ---- Notes ----

  async function loadNotes(sellerId) {
    const ul = $("[data-testid=note-list]");
    ul.textContent = "";
    $("#note-error").textContent = "";
    const data = await graphql(API, `query($s: ID!) { chat(sellerId: $s) { notes(first: 100) { nodes { ${NOTE} } } } }`, { s: sellerId });
    if (sellerId !== current) return;
    ul.textContent = "";
    const notes = data.chat ? data.chat.notes.nodes : [];
    for (const note of notes) addNote(note, false);
    if (!notes.length) ul.append(el("li", "empty", "No notes yet."));
  }

  // A note, newest at the top.
  function addNote(note, newest) {
    const ul = $("[data-testid=note-list]");
    if (ul.querySelector(`[data-note-id="${CSS.escape(note.id)}"]`)) return;
    const empty = ul.querySelector(".empty");
    if (empty) empty.remove();
    const li = el("li", "note");
    li.dataset.testid = "note";
    li.dataset.noteId = note.id;
    const label = el("span", "note-label", "Internal note");
    const text = el("span", "text");
    text.append(Portal.linkify(note.note));
    const meta = el("span", "meta");
    const when = el("time", "", Portal.time(note.createdAt));
    when.dateTime = note.createdAt;
    meta.append(el("span", "author", note.author + " · "), when);
    li.append(label, text, meta);
    if (newest) ul.prepend(li); else ul.append(li);
  }

  async function createNote() {
    const input = $("[data-testid=note-input]");
    const text = input.value;
    if (!text.trim() || !current) return;
    $("#note-error").textContent = "";
    const sellerId = current;
    try {
      const data = await graphql(API, `mutation($s: ID!, $n: String!) { chatNoteCreate(input: { sellerId: $s, note: $n }) { note { ${NOTE} } errors { field messages } } }`, { s: sellerId, n: text });
      const result = data.chatNoteCreate;
      if (result.errors && result.errors.length) { $("#note-error").textContent = explain(result.errors); return; }
      input.value = "";
      if (sellerId === current) addNote(result.note, true);
    } catch (error) {
      $("#note-error").textContent = error.message;
    }
  }

  // ---- Saved replies ----

  let picker = { open: false, slash: false, active: 0, shown: [] };

  async function loadSavedReplies() {
    const data = await graphql(API, "{ savedReplies { id title body } }");
    savedReplies = data.savedReplies;
  }

  function openPicker(slash) {
    picker = { open: true, slash, active: 0, shown: [] };
    renderPicker();
  }

  function closePicker() {
    picker.open = false;
    const box = $("[data-testid=saved-reply-picker]");
    box.classList.add("hidden");
    box.textContent = "";
    $("[data-testid=saved-replies]").setAttribute("aria-expanded", "false");
  }

  // The composer's text after "/", when it starts with one.
  function slashQuery() {
    const value = $("[data-testid=message-input]").value;
    return value.startsWith("/") && !value.includes("\n") ? value.slice(1).trim().toLowerCase() : null;
  }

  function renderPicker() {
    const box = $("[data-testid=saved-reply-picker]");
    box.textContent = "";
    const query = picker.slash ? slashQuery() || "" : "";
    picker.shown = savedReplies.filter((r) => r.title.toLowerCase().includes(query));
    picker.active = Math.min(picker.active, Math.max(0, picker.shown.length - 1));
    picker.shown.forEach((reply, i) => {
      const option = el("button", "option" + (i === picker.active ? " active" : ""));
      option.type = "button";
      option.dataset.testid = "saved-reply-option";
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", i === picker.active ? "true" : "false");
      option.append(el("span", "title", reply.title), el("span", "body", reply.body));
      option.addEventListener("mousedown", (e) => e.preventDefault()); // keep the composer's focus
      option.addEventListener("click", () => choose(reply));
      box.append(option);
    });
    if (!picker.shown.length) box.append(el("p", "empty", savedReplies.length ? "No saved reply matches." : "No saved replies yet."));
    const manage = el("button", "manage", "Manage saved replies…");
    manage.type = "button";
    manage.dataset.testid = "saved-replies-manage";
    manage.addEventListener("mousedown", (e) => e.preventDefault());
    manage.addEventListener("click", () => { closePicker(); openManager(); });
    box.append(manage);
    box.classList.remove("hidden");
    $("[data-testid=saved-replies]").setAttribute("aria-expanded", "true");
  }

  // Puts a saved reply in the composer: in place of "/query", or at the cursor.
  function choose(reply) {
    const input = $("[data-testid=message-input]");
    if (picker.slash) {
      input.value = reply.body;
    } else {
      const start = input.selectionStart, end = input.selectionEnd;
      input.value = input.value.slice(0, start) + reply.body + input.value.slice(end);
      input.selectionStart = input.selectionEnd = start + reply.body.length;
    }
    closePicker();
    input.focus();
  }

  // Keys of the composer while the picker is open; runs before the composer's Enter.
  function pickerKeys(event) {
    if (!picker.open) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const n = picker.shown.length;
      if (n) picker.active = (picker.active + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
      renderPicker();
    } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
      if (!picker.shown.length) { if (event.key === "Tab") closePicker(); return; }
      event.preventDefault();
      event.stopImmediatePropagation();
      choose(picker.shown[picker.active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopImmediatePropagation();
      closePicker();
    }
  }

  function composerInput() {
    if (!inbox) return;
    const query = slashQuery();
    if (query !== null) {
      if (!picker.open || !picker.slash) openPicker(true); else renderPicker();
    } else if (picker.open && picker.slash) {
      closePicker();
    }
  }

  function openManager(reply = null) {
    const dialog = $("[data-testid=saved-replies-dialog]");
    renderManager();
    editReply(reply);
    if (!dialog.open) dialog.showModal();
    $("[data-testid=saved-reply-title]").focus();
  }

  function editReply(reply) {
    $("#saved-id").value = reply ? reply.id : "";
    $("[data-testid=saved-reply-title]").value = reply ? reply.title : "";
    $("[data-testid=saved-reply-body]").value = reply ? reply.body : "";
    $("#saved-error").textContent = "";
  }

  function renderManager() {
    const ul = $("[data-testid=saved-reply-list]");
    ul.textContent = "";
    for (const reply of savedReplies) {
      const li = el("li");
      li.dataset.testid = "saved-reply";
      li.append(el("span", "title", reply.title));
      const edit = el("button", "", "Edit");
      edit.type = "button";
      edit.dataset.testid = "saved-reply-edit";
      edit.addEventListener("click", () => { editReply(reply); $("[data-testid=saved-reply-title]").focus(); });
      const remove = el("button", "", "Delete");
      remove.type = "button";
      remove.dataset.testid = "saved-reply-delete";
      remove.addEventListener("click", () => deleteReply(reply).catch((e) => ($("#saved-error").textContent = e.message)));
      li.append(edit, remove);
      ul.append(li);
    }
    if (!savedReplies.length) ul.append(el("li", "empty", "No saved replies yet."));
  }

  async function saveReply() {
    const id = $("#saved-id").value;
    const title = $("[data-testid=saved-reply-title]").value, body = $("[data-testid=saved-reply-body]").value;
    const name = id ? "savedReplyUpdate" : "savedReplyCreate";
    const query = id
      ? "mutation($id: ID!, $t: String!, $b: String!) { savedReplyUpdate(input: { id: $id, title: $t, body: $b }) { savedReply { id title body } errors { field messages } } }"
      : "mutation($t: String!, $b: String!) { savedReplyCreate(input: { title: $t, body: $b }) { savedReply { id title body } errors { field messages } } }";
    const data = await graphql(API, query, { id: id || undefined, t: title, b: body });
    const result = data[name];
    if (result.errors && result.errors.length) { $("#saved-error").textContent = explain(result.errors); return; }
    await loadSavedReplies();
    renderManager();
    editReply(null);
  }

  async function deleteReply(reply) {
    const data = await graphql(API, "mutation($id: ID!) { savedReplyDelete(input: { id: $id }) { deletedId errors { field messages } } }", { id: reply.id });
    const result = data.savedReplyDelete;
    if (result.errors && result.errors.length) { $("#saved-error").textContent = explain(result.errors); return; }
    await loadSavedReplies();
    renderManager();
    if ($("#saved-id").value === reply.id) editReply(null);
  }

  // ---- Message search ----

  const hits = { query: "", after: null, generation: 0 };

  // The snippet as text with <mark> elements over `matches` (character ranges: Unicode
  // scalar values, which Array.from counts, not UTF-16 units).
  function highlighted(snippet, matches) {
    const chars = Array.from(snippet);
    const fragment = document.createDocumentFragment();
    let at = 0;
    const ranges = [...matches].sort((a, b) => a.start - b.start);
    for (const range of ranges) {
      const start = Math.max(at, Math.min(range.start, chars.length));
      const end = Math.min(chars.length, range.start + range.length);
      if (end <= start) continue;
      fragment.append(document.createTextNode(chars.slice(at, start).join("")));
      const mark = el("mark", "", chars.slice(start, end).join(""));
      fragment.append(mark);
      at = end;
    }
    fragment.append(document.createTextNode(chars.slice(at).join("")));
    return fragment;
  }

  async function searchMessages(query, more = false) {
    if (!more) {
      hits.query = query;
      hits.after = null;
      hits.generation += 1;
      $("[data-testid=message-search-results]").textContent = "";
    }
    const generation = hits.generation;
    $("#chat-pane").classList.add("hidden");
    $("#hits-pane").classList.remove("hidden");
    $("#hits-status").textContent = "Searching…";
    $("[data-testid=message-search-more]").classList.add("hidden");
    let data;
    try {
      data = await graphql(API, `query($q: String!, $after: String) { messageSearch(query: $q, first: 20, after: $after) { pageInfo { hasNextPage endCursor } nodes { cursor snippet matches { start length } seller { id businessName } chatMessage { id sentByType sentBy createdAt } } } }`, { q: hits.query, after: hits.after });
    } catch (error) {
      if (generation === hits.generation) $("#hits-status").textContent = error.message;
      return;
    }
    if (generation !== hits.generation) return;
    const ul = $("[data-testid=message-search-results]");
    for (const hit of data.messageSearch.nodes) ul.append(hitItem(hit));
    const page = data.messageSearch.pageInfo;
    hits.after = page.endCursor;
    const count = ul.children.length;
    $("#hits-status").textContent = count ? (count + (page.hasNextPage ? "+" : "") + (count === 1 ? " message" : " messages")) : "No message matches.";
    $("[data-testid=message-search-more]").classList.toggle("hidden", !page.hasNextPage);
  }

  function hitItem(hit) {
    const li = el("li", "hit-item");
    li.dataset.testid = "message-search-hit";
    li.dataset.sellerId = hit.seller.id;
    li.dataset.messageId = hit.chatMessage.id;
    li.tabIndex = 0;
    const who = hit.chatMessage.sentByType === "Admin" ? "You" + (hit.chatMessage.sentBy ? " (" + hit.chatMessage.sentBy + ")" : "") : hit.seller.businessName;
    const snippet = el("span", "snippet");
    snippet.dataset.testid = "message-search-snippet";
    snippet.append(highlighted(hit.snippet, hit.matches));
    li.append(el("span", "name", hit.seller.businessName), el("span", "time", Portal.time(hit.chatMessage.createdAt)), snippet, el("span", "from", who));
    const open = () => openChat(hit.seller.id, hit.chatMessage.id, hit.seller).catch((e) => showError(e.message));
    li.addEventListener("click", open);
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
    return li;
  }

  function clearMessageSearch() {
    hits.generation += 1;
    $("[data-testid=message-search]").value = "";
    $("#hits-pane").classList.add("hidden");
    $("#chat-pane").classList.remove("hidden");
  }

  // ---- Keyboard ----

  function items() { return [...document.querySelectorAll("#chats .list-pane:not(.hidden) [data-testid=chat-list-item], #chats .list-pane:not(.hidden) [data-testid=message-search-hit]")]; }

  function focusItem(sellerId) {
    const li = document.querySelector(`[data-testid=chat-list-item][data-seller-id="${CSS.escape(sellerId)}"]`);
    if (li) { li.tabIndex = 0; li.focus({ preventScroll: false }); li.scrollIntoView({ block: "nearest" }); }
  }

  function move(step) {
    const all = items();
    if (!all.length) return;
    const at = all.indexOf(document.activeElement);
    let next = at < 0 ? all.findIndex((li) => li.classList.contains("selected")) : at + step;
    if (at < 0 && next < 0) next = 0;
    next = Math.max(0, Math.min(all.length - 1, next));
    for (const li of all) li.tabIndex = -1;
    all[next].tabIndex = 0;
    all[next].focus();
    all[next].scrollIntoView({ block: "nearest" });
    if (next === all.length - 1 && !$("#chat-pane").classList.contains("hidden")) loadMore().catch((e) => showError(e.message));
  }

  function typing(target) {
    return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function keys(event) {
    if ($("#chats").classList.contains("hidden") || event.ctrlKey || event.metaKey || event.altKey) return;
    if ($("[data-testid=saved-replies-dialog]").open) return;
    if (event.key === "Escape") {
      if (picker.open) return closePicker();
      // Out of the thread (or its composer) back to the list.
      if (event.target.closest && event.target.closest(".conversation, .notes")) {
        event.preventDefault();
        const all = items();
        const target = all.find((li) => li.dataset.sellerId === current) || all[0];
        if (target) { for (const li of all) li.tabIndex = -1; target.tabIndex = 0; target.focus(); }
        return;
      }
    }
    if (typing(event.target)) return;
    // Arrows keep scrolling the thread and the notes; j/k work anywhere but in a field.
    const arrows = !(event.target.closest && event.target.closest(".conversation, .notes"));
    if (event.key === "j" || (arrows && event.key === "ArrowDown")) { event.preventDefault(); move(1); }
    else if (event.key === "k" || (arrows && event.key === "ArrowUp")) { event.preventDefault(); move(-1); }
    else if (event.key === "Escape") { event.preventDefault(); move(0); }
  }

  // ---- Reports ----

  const isoDay = (date) => date.getFullYear() + "-" + String(date.getMonth() + 1).padStart(2, "0") + "-" + String(date.getDate()).padStart(2, "0");

  // 42 s, 12 min, 3.5 h, 2.1 d.
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 60) return Math.round(seconds) + " s";
    if (seconds < 3600) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return (seconds / 3600).toFixed(1).replace(/\.0$/, "") + " h";
    return (seconds / 86400).toFixed(1).replace(/\.0$/, "") + " d";
  }
  const pair = (stats) => duration(stats.medianSeconds) + " / " + duration(stats.p90Seconds);

  function setupReports() {
    const to = new Date();
    const from = new Date(to.getFullYear(), to.getMonth(), to.getDate() - 13);
    $("[data-testid=report-from]").value = isoDay(from);
    $("[data-testid=report-to]").value = isoDay(to);
    $("#report-form").addEventListener("submit", (e) => { e.preventDefault(); loadReports(); });
    for (const sel of ["[data-testid=report-from]", "[data-testid=report-to]"]) $(sel).addEventListener("change", () => loadReports());
  }

  let reportGeneration = 0;
  async function loadReports() {
    const from = $("[data-testid=report-from]").value, to = $("[data-testid=report-to]").value;
    const error = $("[data-testid=report-error]");
    error.textContent = "";
    if (!from || !to) { error.textContent = "Choose both dates."; return; }
    if (from > to) { error.textContent = "“From” must not be after “To”."; return; }
    const generation = ++reportGeneration;
    const stats = "{ count medianSeconds p90Seconds }";
    let data;
    try {
      data = await graphql(API, `query($from: String!, $to: String!) { supportStats(from: $from, to: $to) { from to chatsOpened chatsResolved messagesPerDay { day seller admin } firstResponse ${stats} resolution ${stats} perAgent { agent messages firstResponse ${stats} resolution ${stats} } } }`, { from, to });
    } catch (e) {
      if (generation === reportGeneration) error.textContent = e.message;
      return;
    }
    if (generation !== reportGeneration) return;
    const s = data.supportStats;
    $("[data-testid=report-opened]").textContent = String(s.chatsOpened);
    $("[data-testid=report-resolved]").textContent = String(s.chatsResolved);
    $("[data-testid=report-first-response]").textContent = pair(s.firstResponse);
    $("[data-testid=report-resolution]").textContent = pair(s.resolution);
    drawChart(from, to, s.messagesPerDay);
    const body = $("[data-testid=report-agents] tbody");
    body.textContent = "";
    for (const agent of s.perAgent) {
      const tr = el("tr");
      tr.dataset.testid = "report-agent-row";
      const cells = [agent.agent, String(agent.messages), String(agent.firstResponse.count), duration(agent.firstResponse.medianSeconds), duration(agent.firstResponse.p90Seconds),
        String(agent.resolution.count), duration(agent.resolution.medianSeconds), duration(agent.resolution.p90Seconds)];
      cells.forEach((text, i) => tr.append(el(i ? "td" : "th", "", text)));
      tr.firstChild.setAttribute("scope", "row");
      body.append(tr);
    }
    if (!s.perAgent.length) {
      const tr = el("tr");
      const td = el("td", "empty", "No operator messages in this period.");
      td.colSpan = 8;
      tr.append(td);
      body.append(tr);
    }
  }

  // Messages per day as an SVG bar chart: a pair of bars (seller, operator) per day of
  // the period, days without messages at zero.
  function drawChart(from, to, perDay) {
    const NS = "http://www.w3.org/2000/svg";
    const svgEl = (tag, attrs, text) => {
      const node = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const counts = new Map(perDay.map((d) => [d.day, d]));
    const days = [];
    for (const d = new Date(from + "T00:00:00Z"); d.toISOString().slice(0, 10) <= to && days.length < 367; d.setUTCDate(d.getUTCDate() + 1)) {
      days.push(d.toISOString().slice(0, 10));
    }
    for (const d of perDay) if (!days.includes(d.day)) days.push(d.day);
    days.sort();
    const highest = Math.max(1, ...days.map((day) => { const c = counts.get(day); return c ? Math.max(c.seller, c.admin) : 0; }));
    // The scale's top is a whole number of grid steps (about four of them).
    const step = Math.max(1, Math.ceil(highest / 4));
    const max = step * Math.ceil(highest / step);
    const width = 920, height = 260, left = 40, bottom = 40, top = 14, right = 10;
    const plotW = width - left - right, plotH = height - top - bottom;
    const slot = plotW / Math.max(1, days.length), bar = Math.max(1, Math.min(18, slot * 0.38));
    const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Messages per day", "data-testid": "report-chart", class: "bar-chart" });
    svg.append(svgEl("title", {}, "Messages per day, from sellers and from operators"));
    // Grid lines with their values.
    for (let v = 0; v <= max; v += step) {
      const y = top + plotH - (v / max) * plotH;
      svg.append(svgEl("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid" }));
      svg.append(svgEl("text", { x: left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, String(v)));
    }
    const every = Math.ceil(days.length / 14);
    days.forEach((day, i) => {
      const c = counts.get(day) || { seller: 0, admin: 0 };
      const x0 = left + i * slot + (slot - 2 * bar) / 2;
      for (const [side, value, x] of [["seller", c.seller, x0], ["admin", c.admin, x0 + bar]]) {
        const h = (value / max) * plotH;
        const rect = svgEl("rect", { x, y: top + plotH - h, width: bar, height: h, class: "bar " + side, "data-testid": "report-bar", "data-day": day, "data-side": side, "data-value": value });
        rect.append(svgEl("title", {}, `${day}: ${value} from ${side === "seller" ? "sellers" : "operators"}`));
        svg.append(rect);
      }
      if (i % every === 0) svg.append(svgEl("text", { x: left + i * slot + slot / 2, y: height - bottom + 16, class: "axis", "text-anchor": "middle" }, day.slice(5)));
    });
    svg.append(svgEl("line", { x1: left, x2: width - right, y1: top + plotH, y2: top + plotH, class: "baseline" }));
    const box = $("[data-testid=report-chart-box]");
    box.textContent = "";
    box.append(svg);
  }

  // ---- Settings and pages ----

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
    const page = location.hash === "#settings" ? "settings" : location.hash === "#reports" && inbox ? "reports" : "chats";
    for (const name of ["chats", "reports", "settings"]) {
      $("#" + name).classList.toggle("hidden", name !== page);
      $("#nav-" + name).classList.toggle("active", name === page);
      if (name === page) $("#nav-" + name).setAttribute("aria-current", "page"); else $("#nav-" + name).removeAttribute("aria-current");
    }
    if (page === "settings") loadSettings().catch((e) => ($("#settings-note").textContent = e.message));
    if (page === "reports") loadReports();
  }

  async function start(loggedIn) {
    user = loggedIn;
    // The inbox (status, assignment, notes, saved replies, reports) is for those who may chat.
    inbox = user.role !== "viewer";
    CHAT = inbox ? INBOX_CHAT : BASIC_CHAT;
    $("#app").classList.remove("hidden");
    $("#app").classList.toggle("no-inbox", !inbox);
    $("#nav-reports").classList.toggle("hidden", !inbox);
    $("#who").textContent = user.name + (user.role ? " · " + user.role : "");
    $("[data-testid=logout]").addEventListener("click", Portal.logout);
    Portal.emailSetting($("[data-testid=settings-email-notifications]"), $("#email-note")).catch((e) => ($("#email-note").textContent = e.message));
    $("[data-testid=message-list]").addEventListener("scroll", (event) => {
      if (event.target.scrollTop === 0 && older && current) loadOlder(current).catch((e) => showError(e.message));
    });
    $("[data-testid=chat-list]").addEventListener("scroll", () => {
      if (nearBottom()) loadMore().catch((e) => showError(e.message));
    });
    $("[data-testid=load-more]").addEventListener("click", () => loadMore().catch((e) => showError(e.message)));
    let typed = null;
    $("[data-testid=chat-search]").addEventListener("input", (e) => {
      clearTimeout(typed);
      typed = setTimeout(() => { listing.search = e.target.value.trim(); clearMessageSearch(); reload(); }, 250);
    });
    $("#message-search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const query = $("[data-testid=message-search]").value.trim();
      if (query) searchMessages(query); else clearMessageSearch();
    });
    $("[data-testid=message-search]").addEventListener("search", (e) => { if (!e.target.value) clearMessageSearch(); });
    $("[data-testid=message-search-clear]").addEventListener("click", () => { clearMessageSearch(); move(0); });
    $("[data-testid=message-search-more]").addEventListener("click", () => searchMessages(hits.query, true));
    for (const chip of document.querySelectorAll("[data-filter]")) chip.addEventListener("click", () => setFilter(chip.dataset.filter));
    $("[data-testid=sort-waiting]").addEventListener("click", (e) => setSort(e.currentTarget.getAttribute("aria-pressed") !== "true"));
    const fail = (e) => showError(e.message);
    $("[data-testid=assign-select]").addEventListener("change", (e) => assign(e.target.value || null).catch(fail));
    $("[data-testid=assign-me]").addEventListener("click", () => me && assign(me.id).catch(fail));
    $("[data-testid=unassign]").addEventListener("click", () => assign(null).catch(fail));
    $("[data-testid=resolve]").addEventListener("click", () => setStatus("RESOLVED").catch(fail));
    $("[data-testid=reopen]").addEventListener("click", () => setStatus("OPEN").catch(fail));
    $("[data-testid=mark-unread]").addEventListener("click", () => markUnread().catch(fail));
    $("#note-form").addEventListener("submit", (e) => { e.preventDefault(); createNote(); });
    $("[data-testid=note-input]").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); createNote(); } });
    const input = $("[data-testid=message-input]");
    input.addEventListener("keydown", pickerKeys); // before the composer's own Enter
    input.addEventListener("input", composerInput);
    input.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== input) closePicker(); }, 150));
    $("[data-testid=saved-replies]").addEventListener("mousedown", (e) => e.preventDefault());
    $("[data-testid=saved-replies]").addEventListener("click", () => {
      if (picker.open) closePicker(); else { openPicker(false); input.focus(); }
    });
    $("#saved-form").addEventListener("submit", (e) => { e.preventDefault(); saveReply().catch((err) => ($("#saved-error").textContent = err.message)); });
    $("[data-testid=saved-reply-new]").addEventListener("click", () => { editReply(null); $("[data-testid=saved-reply-title]").focus(); });
    $("[data-testid=saved-replies-close]").addEventListener("click", () => { $("[data-testid=saved-replies-dialog]").close(); setTimeout(() => input.focus(), 0); });
    Portal.composer(input, $("[data-testid=message-send]"), send);
    document.addEventListener("keydown", keys);
    Portal.onAttention(() => { if (current) markRead(current).catch(fail); });
    if (inbox) setupReports();
    window.addEventListener("hashchange", route);
    route();
    setInterval(() => { if (!$("#chats").classList.contains("hidden")) renderChats(); }, 60000); // the waiting labels age
    const { chatEventCursor } = await graphql(API, "{ chatEventCursor }");
    if (inbox) {
      const data = await graphql(API, "{ operatorUsers { id name email role } savedReplies { id title body } }");
      agents = data.operatorUsers;
      savedReplies = data.savedReplies;
      me = agents.find((a) => a.email.toLowerCase() === (user.email || "").toLowerCase()) || null;
      renderAgents();
      $("[data-testid=filter-mine]").disabled = !me;
    }
    await loadMore();
    await refreshTitle();
    // Events are applied one at a time, in the order they arrive.
    let queue = Promise.resolve();
    const more = inbox ? `... on ChatUpdated { cursor chat { seller { id } } } ... on ChatNoteCreated { cursor note { ${NOTE} } chat { seller { id } } }` : "";
    Portal.subscribe(API, (event) => { queue = queue.then(() => onEvent(event)).catch((e) => showError(e.message)); }, Portal.connectionBanner, more).start(chatEventCursor);
  }

  Portal.session().then((u) => (u && u.kind === "operator" ? start(u) : Portal.loginForm(start)));
})();
