// marketchat portals: a small GraphQL client, a graphql-transport-ws subscription that
// resumes from its last cursor, and the message rendering both portals share.
"use strict";

const Portal = (() => {
  const $ = (sel, root = document) => root.querySelector(sel);

  async function graphql(path, query, variables = {}) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Requested-With": "marketchat" },
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

  // chatEvents over graphql-transport-ws; reconnects with backoff and resumes after the
  // last cursor, so nothing is lost or doubled across a network loss.
  function subscribe(path, onEvent, onStatus) {
    let cursor = null, socket = null, delay = 500, closed = false;
    const query = "subscription($after: String) { chatEvents(after: $after) { __typename " +
      "... on ChatMessageCreated { cursor chatMessage { id message sentByType createdAt readAt } } " +
      "... on ChatMessagesRead { cursor sellerId sentByType readAt messageIds } } }";
    function connect() {
      const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
      socket = new WebSocket(url, "graphql-transport-ws");
      socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init", payload: {} }));
      socket.onmessage = (message) => {
        const data = JSON.parse(message.data);
        if (data.type === "connection_ack") {
          delay = 500;
          onStatus && onStatus(true);
          socket.send(JSON.stringify({ id: "events", type: "subscribe", payload: { query, variables: { after: cursor } } }));
        } else if (data.type === "next" && data.payload.data) {
          const event = data.payload.data.chatEvents;
          cursor = event.cursor;
          onEvent(event);
        } else if (data.type === "ping") {
          socket.send(JSON.stringify({ type: "pong" }));
        }
      };
      socket.onclose = () => {
        onStatus && onStatus(false);
        if (closed) return;
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    return {
      start(after) { cursor = after; connect(); },
      stop() { closed = true; socket && socket.close(); },
    };
  }

  function time(iso) {
    const date = new Date(iso);
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // A list of messages oldest at the top; `mine` is the side whose ticks we show.
  function messageList(listEl, mine) {
    const byId = new Map();
    function render(message) {
      let li = byId.get(message.id);
      if (!li) {
        li = document.createElement("li");
        li.dataset.testid = "message";
        li.className = "message" + (message.sentByType === mine ? " mine" : "");
        li.dataset.sentBy = message.sentByType;
        const text = document.createElement("span");
        text.textContent = message.message; // never innerHTML: message text is data
        const meta = document.createElement("span");
        meta.className = "meta";
        meta.textContent = time(message.createdAt);
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
    function clearEmpty() { const empty = listEl.querySelector(".empty"); if (empty) empty.remove(); }
    return {
      has: (id) => byId.has(id),
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
        listEl.scrollTop = listEl.scrollHeight;
      },
      prepend(messages) { // newest first, as the API pages them
        if (messages.length) clearEmpty();
        const height = listEl.scrollHeight;
        for (const message of messages) if (!byId.has(message.id)) listEl.prepend(render(message));
        listEl.scrollTop += listEl.scrollHeight - height;
      },
      setRead,
    };
  }

  // Enter sends, Shift+Enter adds a line.
  function composer(input, button, send) {
    async function submit() {
      const text = input.value;
      if (!text.trim()) return;
      button.disabled = true;
      try {
        if (await send(text)) input.value = "";
      } finally {
        button.disabled = false;
        input.focus();
      }
    }
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); submit(); }
    });
    button.addEventListener("click", submit);
  }

  return { $, graphql, showError, explain, session, loginForm, logout, subscribe, messageList, composer, time };
})();
