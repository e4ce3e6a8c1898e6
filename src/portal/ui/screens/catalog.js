// The topic catalog: every topic with its description, sample payload and
// schema, searchable by name and description.

import { api, query } from "../api.js";
import { h, mount } from "../lib/dom.js";
import { jsonView } from "../lib/widgets.js";

export async function render(outlet, ctx) {
  const search = h("input", { type: "search", id: "catalog-search", placeholder: "Search topics", "aria-label": "Search topics" });
  const list = h("div", { class: "catalog" });
  const show = (entries) => {
    if (!entries.length) {
      mount(list, h("p", { class: "empty" }, ctx.catalog.length ? "No topic matches." : "No topic catalog is configured."));
      return;
    }
    mount(
      list,
      entries.map((e) =>
        h(
          "article",
          { class: "card topic", "data-topic": e.name },
          h("h2", null, e.name),
          e.description ? h("p", null, e.description) : null,
          e.sample ? h("details", { open: true }, h("summary", null, "Sample payload"), jsonView(e.sample, `${e.name} sample payload`)) : null,
          e.schema ? h("details", null, h("summary", null, "Schema"), jsonView(e.schema, `${e.name} schema`)) : null,
        ),
      ),
    );
  };
  let timer;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const term = search.value.trim();
      show(term ? await api("GET", `/topics/catalog${query({ search: term })}`) : ctx.catalog);
    }, 150);
  });
  mount(
    outlet,
    h("div", { class: "page-head" }, h("h1", null, "Topic Catalog"), search),
    list,
  );
  show(ctx.catalog);
}
