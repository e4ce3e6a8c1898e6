// First visit: the tenant does not exist yet. One click provisions it (the
// session's token may create only its own tenant).

import { api, own } from "../api.js";
import { h, mount } from "../lib/dom.js";
import { errorBox } from "../lib/widgets.js";

export function render(root, ctx, done) {
  const status = h("div", { role: "status", "aria-live": "polite" });
  const button = h("button", { type: "button", class: "button primary" }, "Set up Webhooks");
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Setting up…";
    try {
      await api("PUT", own());
      done();
    } catch (err) {
      button.disabled = false;
      button.textContent = "Set up Webhooks";
      status.replaceChildren(errorBox(err));
    }
  });
  mount(
    root,
    h(
      "main",
      { class: "centered" },
      h(
        "section",
        { class: "card narrow", "data-screen": "setup" },
        h("h1", null, "Webhooks"),
        h(
          "p",
          null,
          `Send ${ctx.settings.organization_name || "our"} events to your own systems: HTTP endpoints, queues and streams, signed and retried.`,
        ),
        button,
        status,
      ),
    ),
  );
}
