// A small Markdown renderer for the destination types' setup instructions
// (GET /destination-types `instructions`): headings, paragraphs, `-` and
// numbered lists, fenced code, and inline code, **bold** and http(s)
// links. It builds DOM nodes, never HTML text, so nothing in the text can
// become markup.

import { h } from "./dom.js";

/** Inline spans: `code`, **bold**, [text](https://…). */
function inline(text) {
  const out = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(h("code", null, m[1]));
    else if (m[2] !== undefined) out.push(h("strong", null, m[2]));
    else out.push(h("a", { href: m[4], target: "_blank", rel: "noopener noreferrer" }, m[3]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** The nodes of `source`. Headings start at h3 (the page has its own). */
export function markdown(source) {
  const lines = (source || "").replace(/\r\n?/g, "\n").split("\n");
  const blocks = [];
  let para = [];
  let list = null;
  const flush = () => {
    if (para.length) blocks.push(h("p", null, inline(para.join(" "))));
    para = [];
    if (list) blocks.push(list);
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) {
      flush();
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      blocks.push(h("pre", null, h("code", null, code.join("\n"))));
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      const level = Math.min(6, heading[1].length + 2);
      blocks.push(h(`h${level}`, null, inline(heading[2])));
      continue;
    }
    const item = /^\s*(?:[-*]|(\d+)\.)\s+(.*)$/.exec(line);
    if (item) {
      if (para.length) flush();
      const tag = item[1] ? "ol" : "ul";
      if (!list || list.tagName.toLowerCase() !== tag) {
        if (list) blocks.push(list);
        list = h(tag);
      }
      list.append(h("li", null, inline(item[2])));
      continue;
    }
    if (!line.trim()) {
      flush();
      continue;
    }
    if (list && /^\s+/.test(line)) {
      list.lastChild.append(" ", ...inline(line.trim()));
      continue;
    }
    if (list) flush();
    para.push(line.trim());
  }
  flush();
  return blocks;
}
