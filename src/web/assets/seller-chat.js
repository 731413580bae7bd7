// The seller's side of the chat, shared by the seller portal and the embedded seller
// chat: the thread (older pages load as the reader scrolls up), live events that resume
// after drops, the unread count, reads marked only while someone looks, the composer, and
// "chat is off". The page around it decides when someone is looking and shows the count.
"use strict";

const SellerChat = (() => {
  const { $, graphql, showError, explain } = Portal;
  const API = "/graphql/seller";
  const MESSAGE = "id message sentByType createdAt readAt";
  const OFF = "In-app chat is not enabled";

  // Starts the chat in the page's `[data-testid=message-list]`, composer and notices.
  // `looking()`: whether someone sees the thread now (reads are marked only then);
  // `onUnread(count)`: the count of operator messages not yet read, whenever it changes;
  // `onEnded()`: the session is over (the page says so; nothing more works).
  // Returns `markRead()`, to call when someone starts looking.
  async function start({ looking, onUnread, onEnded }) {
    let unread = 0, olderCursor = null, hasOlder = false, ended = false;
    const list = Portal.messageList($("[data-testid=message-list]"), "Seller");
    list.reset("No messages yet. Ask the marketplace team anything.");

    function setUnread(count) {
      unread = count;
      onUnread(count);
    }

    // A request failed: an ended session ends the chat, anything else is shown.
    function failed(error) {
      if (error.code === "UNAUTHENTICATED") return end();
      showError(error.message);
    }

    function end() {
      if (ended) return;
      ended = true;
      subscription.stop();
      onEnded();
    }

    async function markRead() {
      if (unread === 0 || ended || !looking()) return;
      const data = await graphql(API, 'mutation { chatMessageRead(input: { sentBy: "Admin" }) { readCount errors { field messages } } }');
      const errors = data.chatMessageRead.errors;
      if (errors && errors.length) showError(explain(errors)); else setUnread(0);
    }
    const markReadNow = () => markRead().catch(failed);

    async function loadPage(after) {
      const data = await graphql(API, `query($after: String) { chatMessages(first: 50, after: $after) { pageInfo { hasNextPage endCursor } nodes { ${MESSAGE} } } }`, { after });
      const page = data.chatMessages;
      olderCursor = page.pageInfo.endCursor;
      hasOlder = page.pageInfo.hasNextPage;
      list.prepend(page.nodes);
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
      } catch (error) { failed(error); return false; }
    }

    function onEvent(event) {
      if (event.__typename === "ChatMessageCreated") {
        const message = event.chatMessage;
        const known = list.has(message.id);
        list.append(message);
        if (!known && message.sentByType === "Admin") {
          setUnread(unread + 1);
          markReadNow();
        }
      } else if (event.sentByType === "Seller") {
        for (const id of event.messageIds) list.setRead(id, event.readAt);
      }
    }

    function onStatus(status) {
      Portal.connectionBanner(status);
      if (status === "disabled") setChatOff(true);
      if (status === "live") setChatOff(false);
      if (status === "ended") end();
    }

    const subscription = Portal.subscribe(API, onEvent, onStatus);
    try {
      const { chatEventCursor } = await graphql(API, "{ chatEventCursor }");
      await loadPage(null);
      const counts = await graphql(API, "{ chatUnreadCount }");
      setUnread(counts.chatUnreadCount);
      // Live from the position read before the history: nothing in between is missed,
      // and the list drops what it already shows.
      subscription.start(chatEventCursor);
    } catch (error) {
      failed(error);
      return { markRead: () => {} };
    }
    $("[data-testid=message-list]").addEventListener("scroll", (event) => {
      if (event.target.scrollTop === 0 && hasOlder) loadPage(olderCursor).catch(failed);
    });
    Portal.composer($("[data-testid=message-input]"), $("[data-testid=message-send]"), send);
    markReadNow();
    return { markRead: markReadNow };
  }

  return { start };
})();
