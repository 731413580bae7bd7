// marketchat's embedded seller chat for a marketplace's own seller portal:
//
//   <script src="https://CHAT/embed.js"></script>
//   <marketchat-seller-chat token="SIGN-IN TOKEN"></marketchat-seller-chat>
//
// draws a launcher button with the unread badge; clicking it opens the chat in a frame of
// CHAT (the origin this script came from) beside the button. Everything lives in a shadow
// root with its own stylesheet, under a wrapper that resets every property the page could
// pass down by inheritance, so no CSS leaks in or out. The
// frame's messages are believed only from that frame and CHAT's origin.
//
// The element fires `marketchat:unread` (detail: {count}) when the count changes and
// `marketchat:expired` when the sign-in link or the session is over (mint a new token and
// set the `token` attribute again to sign in afresh).
(() => {
  "use strict";
  const NAME = "marketchat-seller-chat";
  if (customElements.get(NAME)) return;
  const script = document.currentScript;
  const CHAT = new URL(script && script.src ? script.src : location.href).origin;

  const STYLE = `
    :host { display: inline-block; vertical-align: middle; }
    :host([hidden]) { display: none; }
    .root { all: initial; display: inline-block; position: relative;
      font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2430; }
    .launcher { position: relative; display: inline-flex; align-items: center; justify-content: center; box-sizing: border-box;
      width: 42px; height: 42px; margin: 0; padding: 0; border: 1px solid #e4e7ec; border-radius: 999px; font: inherit;
      background: #fff; color: #1d2430; cursor: pointer; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
    .launcher:hover { background: #f6f7f9; }
    .launcher:focus-visible { outline: 3px solid #9bb4ff; outline-offset: 2px; }
    .launcher svg { display: block; width: 22px; height: 22px; }
    .badge { position: absolute; top: -5px; right: -5px; min-width: 18px; box-sizing: border-box; padding: 1px 5px;
      border-radius: 999px; background: #d92d20; color: #fff; font: 700 11px/16px system-ui, sans-serif; text-align: center; }
    .badge:empty { display: none; }
    .panel { position: fixed; z-index: 2147483000; box-sizing: border-box; width: 400px; height: 600px;
      border: 1px solid #e4e7ec; border-radius: 12px; background: #fff; overflow: hidden;
      box-shadow: 0 12px 32px rgba(16,24,40,.18); }
    .panel[hidden] { display: none; }
    iframe { display: block; width: 100%; height: 100%; border: 0; }
  `;
  const SVG = "http://www.w3.org/2000/svg";

  // The speech-bubble icon, built as nodes (no HTML parsing, so Trusted Types pages allow it).
  function icon() {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(SVG, "path");
    for (const [name, value] of [["d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"],
      ["fill", "none"], ["stroke", "currentColor"], ["stroke-width", "2"], ["stroke-linejoin", "round"]]) path.setAttribute(name, value);
    svg.append(path);
    return svg;
  }
  const GAP = 8;

  class MarketchatSellerChat extends HTMLElement {
    static get observedAttributes() { return ["token"]; }

    constructor() {
      super();
      const root = this.attachShadow({ mode: "open" });
      // A constructed stylesheet is not inline style, so a host page's strict CSP allows it.
      if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(STYLE);
        root.adoptedStyleSheets = [sheet];
      } else {
        const style = document.createElement("style");
        style.textContent = STYLE;
        root.append(style);
      }
      this._button = document.createElement("button");
      this._button.type = "button";
      this._button.className = "launcher";
      this._button.dataset.testid = "chat-toggle";
      this._button.setAttribute("aria-label", "Messages from the marketplace");
      this._button.setAttribute("aria-expanded", "false");
      this._button.append(icon());
      this._badge = document.createElement("span");
      this._badge.className = "badge";
      this._badge.dataset.testid = "unread-badge";
      this._button.append(this._badge);
      this._panel = document.createElement("div");
      this._panel.className = "panel";
      this._panel.dataset.testid = "chat-window";
      this._panel.setAttribute("role", "dialog");
      this._panel.setAttribute("aria-label", "Messages from the marketplace");
      this._panel.hidden = true;
      const wrapper = document.createElement("div");
      wrapper.className = "root";
      wrapper.append(this._button, this._panel);
      root.append(wrapper);
      this._frame = null;
      this._token = null;
      this._open = false;
      this._button.addEventListener("click", () => this.toggle());
      this._onMessage = (event) => this._received(event);
      this._onKey = (event) => { if (event.key === "Escape" && this._open) { event.preventDefault(); this.toggle(false); } };
      this._onLayout = () => { if (this._open) this._place(); };
    }

    connectedCallback() {
      window.addEventListener("message", this._onMessage);
      document.addEventListener("keydown", this._onKey);
      window.addEventListener("resize", this._onLayout);
      window.addEventListener("scroll", this._onLayout, true);
      this._signIn();
    }

    disconnectedCallback() {
      window.removeEventListener("message", this._onMessage);
      document.removeEventListener("keydown", this._onKey);
      window.removeEventListener("resize", this._onLayout);
      window.removeEventListener("scroll", this._onLayout, true);
    }

    attributeChangedCallback() {
      if (this.isConnected) this._signIn();
    }

    // Loads the chat (hidden until opened, so the badge counts from the start) with the
    // current token; a token is used once, so a frame is made only for a new one.
    _signIn() {
      const token = (this.getAttribute("token") || "").trim();
      if (!token || token === this._token) return;
      this._token = token;
      if (this._frame) this._frame.remove();
      const frame = document.createElement("iframe");
      frame.title = "Messages from the marketplace";
      // The chat learns this page's origin from the referrer where the browser does not say.
      frame.referrerPolicy = "origin";
      frame.src = CHAT + "/embed/seller?launcher=1#token=" + encodeURIComponent(token);
      this._frame = frame;
      this._panel.append(frame);
    }

    // Opens or closes the chat (`force`: true opens, false closes).
    toggle(force) {
      const open = force === undefined ? !this._open : force;
      const hadFocus = this.shadowRoot.activeElement === this._frame;
      this._open = open;
      this._panel.hidden = !open;
      this._button.setAttribute("aria-expanded", String(open));
      this._tellFrame();
      if (open) {
        this._place();
        if (this._frame) this._frame.focus();
      } else if (hadFocus) {
        this._button.focus();
      }
    }

    // Beside the button: below it, right edges aligned, inside the window; above the
    // button when there is more room there; never over the button itself.
    _place() {
      const box = this._button.getBoundingClientRect();
      const width = Math.min(400, window.innerWidth - 2 * GAP);
      const left = Math.max(GAP, Math.min(box.right - width, window.innerWidth - width - GAP));
      const below = window.innerHeight - box.bottom - 2 * GAP;
      const above = box.top - 2 * GAP;
      let top, height;
      if (below >= Math.min(600, 360) || below >= above) {
        height = Math.min(600, Math.max(below, 200));
        top = box.bottom + GAP;
      } else {
        height = Math.min(600, above);
        top = box.top - GAP - height;
      }
      Object.assign(this._panel.style, { left: left + "px", top: top + "px", width: width + "px", height: height + "px" });
    }

    _tellFrame() {
      if (this._frame && this._frame.contentWindow) {
        this._frame.contentWindow.postMessage({ type: "marketchat:visibility", open: this._open }, CHAT);
      }
    }

    // A message from our frame (that window, from the chat's origin); anything else is ignored.
    _received(event) {
      if (!this._frame || event.source !== this._frame.contentWindow || event.origin !== CHAT) return;
      const data = event.data || {};
      if (data.type === "marketchat:ready") {
        this._tellFrame();
      } else if (data.type === "marketchat:unread" && Number.isInteger(data.count) && data.count >= 0) {
        this._badge.textContent = data.count > 0 ? String(data.count) : "";
        this._button.setAttribute("aria-label", "Messages from the marketplace" + (data.count > 0 ? " (" + data.count + " unread)" : ""));
        this.dispatchEvent(new CustomEvent("marketchat:unread", { detail: { count: data.count } }));
      } else if (data.type === "marketchat:close") {
        this.toggle(false);
        this._button.focus();
      } else if (data.type === "marketchat:expired") {
        this.dispatchEvent(new CustomEvent("marketchat:expired"));
      }
    }
  }

  customElements.define(NAME, MarketchatSellerChat);
})();
