// marketchat portals: a small GraphQL client, a graphql-transport-ws subscription that
// resumes from its last cursor, and the message rendering both portals (and the
// embedded seller chat) share.
"use strict";

const Portal = (() => {
  const $ = (sel, root = document) => root.querySelector(sel);

  // The embedded chat's session token: kept in this page's memory only and sent as a
  // bearer credential. Without one, the portal's session cookie (with the CSRF header) is used.
  let bearer = null;
  function authorize(token) { bearer = token; }

  async function graphql(path, query, variables = {}) {
    const headers = { "Content-Type": "application/json", "X-Requested-With": "marketchat" };
    if (bearer) headers.Authorization = "Bearer " + bearer;
    const response = await fetch(path, {
      method: "POST",
      credentials: bearer ? "omit" : "same-origin",
      headers,
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json().catch(() => ({}));
    if (body.errors && body.errors.length) {
      const error = new Error(body.errors[0].message);
      error.code = body.errors[0].extensions && body.errors[0].extensions.code;
      throw error;
    }
    if (!response.ok) throw new Error("request failed (" + response.status + ")");
    return body.data;
  }

  function showError(text) {
    for (const el of document.querySelectorAll("#app [data-testid=error], #login:not(.hidden) [data-testid=error]")) {
      el.textContent = text || "";
    }
  }

  // Words a person understands for the API's payload errors.
  function explain(errors) {
    return errors.map((e) => {
      const text = e.messages.join(", ");
      if (e.field === "base") return text;
      if (e.field === "message") return "Message " + text;
      return e.field + " " + text;
    }).join("; ");
  }

  async function session() {
    const response = await fetch("/session", { credentials: "same-origin" });
    return response.ok ? (await response.json()).user : null;
  }

  function loginForm(onLoggedIn) {
    const form = $("#login");
    form.classList.remove("hidden");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showError("");
      const response = await fetch("/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: $("[data-testid=login-email]").value, password: $("[data-testid=login-password]").value }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) return showError((body.errors && body.errors[0].message) || "Login failed");
      form.classList.add("hidden");
      onLoggedIn(body.user);
    });
  }

  async function logout() {
    await fetch("/logout", { method: "POST", credentials: "same-origin" });
    location.reload();
  }

  // Whether a person is looking at this page: visible and focused. Reads are marked only
  // then, so a chat left open in a background tab does not tell the other side "read".
  function attentive() {
    return document.visibilityState === "visible" && document.hasFocus();
  }

  // Calls `then` whenever the page becomes visible or focused again.
  function onAttention(then) {
    document.addEventListener("visibilitychange", () => { if (attentive()) then(); });
    window.addEventListener("focus", () => { if (attentive()) then(); });
  }

  // Whether the credential has ended (the server refused it), as opposed to the server
  // being unreachable or busy for a moment.
  async function credentialEnded(path) {
    try { await graphql(path, "{ __typename }"); return false; } catch (error) { return error.code === "UNAUTHENTICATED"; }
  }

  // chatEvents over graphql-transport-ws. Reconnects with back-off when the socket drops
  // and resubscribes with back-off when the server ends the subscription (chat switched
  // off, ...), each time after the last cursor, so nothing is lost or doubled.
  // `onStatus` hears "live", "down" (no connection), "disabled" (chat is off) and "ended"
  // (the session is over: no more reconnecting). `more` adds selections for further event
  // kinds (the operator portal's ChatUpdated and ChatNoteCreated).
  function subscribe(path, onEvent, onStatus, more = "") {
    let cursor = null, socket = null, delay = 500, retry = 1000, closed = false, operation = 0, liveTimer = null;
    const status = (s) => onStatus && onStatus(s);
    const query = "subscription($after: String) { chatEvents(after: $after) { __typename " +
      "... on ChatMessageCreated { cursor chatMessage { id message sentByType sentBy createdAt readAt } } " +
      "... on ChatMessagesRead { cursor sellerId sentByType readAt messageIds } " + more + " } }";
    function start() {
      operation += 1;
      const id = "events-" + operation;
      socket.send(JSON.stringify({ id, type: "subscribe", payload: { query, variables: { after: cursor } } }));
      // A refused subscription is answered at once; silence means it is running.
      clearTimeout(liveTimer);
      liveTimer = setTimeout(() => { retry = 1000; status("live"); }, 800);
      return id;
    }
    function ended(current, code) {
      if (current !== "events-" + operation || closed) return;
      clearTimeout(liveTimer);
      status(code === "CHAT_DISABLED" ? "disabled" : "down");
      const open = socket;
      setTimeout(() => { if (socket === open && open.readyState === WebSocket.OPEN) start(); }, retry);
      retry = Math.min(retry * 2, 5000);
    }
    function connect() {
      const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
      const mine = socket = new WebSocket(url, "graphql-transport-ws");
      let failed = null;
      socket.onopen = () => mine.send(JSON.stringify({ type: "connection_init", payload: bearer ? { Authorization: "Bearer " + bearer } : {} }));
      socket.onmessage = (message) => {
        const data = JSON.parse(message.data);
        if (data.type === "connection_ack") {
          delay = 500;
          start();
        } else if (data.type === "next" && data.payload && data.payload.data && data.payload.data.chatEvents) {
          const event = data.payload.data.chatEvents;
          cursor = event.cursor;
          onEvent(event);
        } else if (data.type === "next" && data.payload && data.payload.errors) {
          const first = data.payload.errors[0] || {};
          failed = (first.extensions && first.extensions.code) || "ERROR";
        } else if (data.type === "error") {
          const first = (data.payload && data.payload[0]) || {};
          ended(data.id, (first.extensions && first.extensions.code) || "ERROR");
        } else if (data.type === "complete") {
          ended(data.id, failed);
          failed = null;
        } else if (data.type === "ping") {
          mine.send(JSON.stringify({ type: "pong" }));
        }
      };
      socket.onclose = async (event) => {
        if (socket !== mine) return;
        clearTimeout(liveTimer);
        if (closed) return;
        // 4403: the credential was refused; if it has ended for good, stop here.
        if (event.code === 4403 && await credentialEnded(path)) { closed = true; return status("ended"); }
        status("down");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    return {
      start(after) { cursor = after; connect(); },
      stop() { closed = true; socket && socket.close(); },
    };
  }

  const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const pad = (n) => String(n).padStart(2, "0");
  const sameDay = (a, b) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  const clock = (d) => pad(d.getHours()) + ":" + pad(d.getMinutes());

  // "14:05" today, "Mon 30 Nov 14:05" this year, "30 Nov 2025" before.
  function time(iso, now = new Date()) {
    const date = new Date(iso);
    if (isNaN(date)) return "";
    if (sameDay(date, now)) return clock(date);
    if (date.getFullYear() === now.getFullYear()) return DAYS[date.getDay()] + " " + date.getDate() + " " + MONTHS[date.getMonth()] + " " + clock(date);
    return date.getDate() + " " + MONTHS[date.getMonth()] + " " + date.getFullYear();
  }

  // A thread's day separator: "Today", "Yesterday", "Mon 30 Nov 2025".
  function dayLabel(date, now = new Date()) {
    if (sameDay(date, now)) return "Today";
    const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
    if (sameDay(date, yesterday)) return "Yesterday";
    return DAYS[date.getDay()] + " " + date.getDate() + " " + MONTHS[date.getMonth()] + " " + date.getFullYear();
  }

  // Message text as DOM nodes: http(s) URLs become links that open in a new tab without
  // handing it this page; everything else is a text node (never HTML).
  function linkify(text) {
    const fragment = document.createDocumentFragment();
    const pattern = /https?:\/\/[^\s<>"']+/gi;
    let at = 0, match;
    while ((match = pattern.exec(text)) !== null) {
      let url = match[0].replace(/[.,;:!?)\]}]+$/, "");
      let parsed = null;
      try { parsed = new URL(url); } catch (_) { parsed = null; }
      if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) continue;
      fragment.append(document.createTextNode(text.slice(at, match.index)));
      const a = document.createElement("a");
      a.href = parsed.href;
      a.textContent = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      fragment.append(a);
      at = match.index + url.length;
      pattern.lastIndex = at;
    }
    fragment.append(document.createTextNode(text.slice(at)));
    return fragment;
  }

  // A list of messages oldest at the top, with a separator before each new day; `mine` is
  // the side whose ticks we show; `showSender` adds the operator user's name (`sentBy`).
  function messageList(listEl, mine, showSender = false) {
    const byId = new Map();
    function render(message) {
      let li = byId.get(message.id);
      if (!li) {
        li = document.createElement("li");
        li.dataset.testid = "message";
        li.className = "message" + (message.sentByType === mine ? " mine" : "");
        li.dataset.sentBy = message.sentByType;
        li.dataset.messageId = message.id;
        li.dataset.createdAt = message.createdAt;
        const text = document.createElement("span");
        text.className = "text";
        text.append(linkify(message.message)); // text nodes and checked links only
        const meta = document.createElement("span");
        meta.className = "meta";
        const when = document.createElement("time");
        when.dateTime = message.createdAt;
        when.textContent = time(message.createdAt);
        when.title = new Date(message.createdAt).toString();
        if (showSender && message.sentByType === "Admin" && message.sentBy) {
          const who = document.createElement("span");
          who.className = "sender";
          who.textContent = message.sentBy + " · ";
          meta.append(who);
        }
        meta.append(when);
        li.append(text, meta);
        if (message.sentByType === mine) {
          const tick = document.createElement("span");
          tick.className = "tick";
          tick.setAttribute("aria-label", "sent");
          tick.textContent = "✓";
          meta.append(tick);
        }
        byId.set(message.id, li);
      }
      setRead(message.id, message.readAt);
      return li;
    }
    function setRead(id, readAt) {
      const li = byId.get(id);
      if (!li || li.dataset.sentBy !== mine) return;
      li.dataset.read = readAt ? "true" : "false";
      const tick = li.querySelector(".tick");
      tick.classList.toggle("read", !!readAt);
      tick.textContent = readAt ? "✓✓" : "✓";
      tick.setAttribute("aria-label", readAt ? "read" : "sent");
    }
    // Separators are derived from the messages, so they stay right however pages arrive.
    function separate() {
      for (const old of listEl.querySelectorAll(".day")) old.remove();
      let previous = null;
      for (const li of listEl.querySelectorAll("[data-testid=message]")) {
        const date = new Date(li.dataset.createdAt);
        if (!previous || !sameDay(previous, date)) {
          const day = document.createElement("li");
          day.className = "day";
          day.setAttribute("role", "separator");
          day.textContent = dayLabel(date);
          li.before(day);
        }
        previous = date;
      }
    }
    function clearEmpty() { const empty = listEl.querySelector(".empty"); if (empty) empty.remove(); }
    return {
      has: (id) => byId.has(id),
      element: (id) => byId.get(id),
      reset(emptyText) {
        byId.clear();
        listEl.textContent = "";
        const empty = document.createElement("li");
        empty.className = "empty";
        empty.textContent = emptyText;
        listEl.append(empty);
      },
      append(message) {
        if (byId.has(message.id)) return setRead(message.id, message.readAt);
        clearEmpty();
        listEl.append(render(message));
        separate();
        listEl.scrollTop = listEl.scrollHeight;
      },
      prepend(messages) { // newest first, as the API pages them
        if (messages.length) clearEmpty();
        const height = listEl.scrollHeight;
        for (const message of messages) if (!byId.has(message.id)) listEl.prepend(render(message));
        separate();
        listEl.scrollTop += listEl.scrollHeight - height;
      },
      setRead,
    };
  }

  // Enter sends, Shift+Enter adds a line.
  function composer(input, button, send) {
    async function submit() {
      const text = input.value;
      if (!text.trim() || input.disabled) return;
      button.disabled = true;
      try {
        if (await send(text)) input.value = "";
      } finally {
        button.disabled = input.disabled;
        if (!input.disabled) input.focus();
      }
    }
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); submit(); }
    });
    button.addEventListener("click", submit);
  }

  // The tab title with the unread count in front: "(3) Chats — marketchat".
  // The "E-mail me about unread messages" checkbox (disabled in the page until the
  // user's setting is read): reads it and saves each change (GET/PUT
  // /account/notifications); a failed save puts the box back.
  async function emailSetting(box, note) {
    const headers = { "Content-Type": "application/json", "X-Requested-With": "marketchat" };
    if (bearer) headers.Authorization = "Bearer " + bearer;
    const request = (method, body) => fetch("/account/notifications", { method, headers, credentials: bearer ? "omit" : "same-origin", body })
      .then((response) => { if (!response.ok) throw new Error("could not save the setting (" + response.status + ")"); return response.json(); });
    box.checked = (await request("GET")).emailNotifications;
    box.disabled = false;
    box.addEventListener("change", async () => {
      box.disabled = true;
      try {
        box.checked = (await request("PUT", JSON.stringify({ emailNotifications: box.checked }))).emailNotifications;
        if (note) note.textContent = "";
      } catch (error) {
        box.checked = !box.checked;
        if (note) note.textContent = error.message;
      } finally { box.disabled = false; }
    });
  }

  function titleCount(count, base) {
    document.title = (count > 0 ? "(" + count + ") " : "") + base;
  }

  // The "connection lost" banner follows the subscription's status.
  function connectionBanner(status) {
    const banner = $("[data-testid=connection-lost]");
    if (banner) banner.hidden = status !== "down";
  }

  return { $, authorize, graphql, showError, explain, session, loginForm, logout, subscribe, messageList, composer, time, dayLabel, linkify, attentive, onAttention, titleCount, connectionBanner, emailSetting };
})();
