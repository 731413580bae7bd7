// Seller portal: header icon with the unread badge, a chat window that opens beside the
// page (closed = hidden and inert); the chat itself is SellerChat (seller-chat.js).
"use strict";

(() => {
  const { $, showError } = Portal;
  const TITLE = "Messages — marketchat";
  let chat, open = false;

  function setUnread(count) {
    $("[data-testid=unread-badge]").textContent = count > 0 ? String(count) : "";
    Portal.titleCount(count, TITLE);
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
      chat.markRead();
    } else if (hadFocus) {
      $("[data-testid=chat-toggle]").focus();
    }
  }

  async function start(user) {
    $("#app").classList.remove("hidden");
    $("#title").textContent = user.name + " · Seller portal";
    chat = await SellerChat.start({
      // Only while the window is open and the page is visible and focused.
      looking: () => open && Portal.attentive(),
      onUnread: setUnread,
      onEnded: () => showError("Your session has ended. Reload the page to log in again."),
    });
    $("[data-testid=chat-toggle]").addEventListener("click", () => toggle());
    $("#close").addEventListener("click", () => toggle(false));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && open) { event.preventDefault(); toggle(false); $("[data-testid=chat-toggle]").focus(); }
    });
    Portal.onAttention(() => chat.markRead());
    $("[data-testid=logout]").addEventListener("click", Portal.logout);
    Portal.emailSetting($("[data-testid=settings-email-notifications]"), $("#email-note")).catch((e) => ($("#email-note").textContent = e.message));
  }

  Portal.session().then((user) => (user && user.kind === "seller" ? start(user) : Portal.loginForm(start)));
})();
