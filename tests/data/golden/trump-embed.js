/* aggregator 0.1.0: the latest "Donald Trump" stories, for any web page.
 * Paste where the list should appear:
 *   <script src="https://feeds.example/pub/trump/embed.js" data-count="5" data-summary="true" async></script>
 * data-count: 1 to 20 stories (default 5); data-summary="false" hides the summaries.
 * The list is drawn in a Shadow DOM, so the page's CSS cannot reach it and its CSS cannot leak out;
 * every text is set as text (never parsed as HTML) and only http(s) links are kept.
 */
(function () {
  "use strict";
  var feed = {"title":"Donald Trump","page":"https://feeds.example/pub/trump/index.html","feed":"https://feeds.example/pub/trump/rss.xml","generator":"via Kabar \u0026 Topik","items":[{"title":"AWS Tendang Parler \u0026 Trump","url":"https://kabartekno.example/aws-parler/","source":"KabarTekno","source_url":"https://kabartekno.example/","date":"2021-01-11T09:12:44Z","date_text":"11 Jan 2021","summary":"Ringkasan singkat.","also":["Sinyal \u003cDigital\u003e"]},{"title":"Tanpa tanggal","url":null,"source":"KabarTekno","source_url":"https://kabartekno.example/","date":"2021-01-12T00:00:00Z","date_text":"12 Jan 2021","summary":"","also":[]}]};
  var script = document.currentScript;
  if (!script || !script.parentNode) { return; }

  function safeUrl(value) {
    try {
      var url = new URL(value, feed.page);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function el(name, text, className) {
    var node = document.createElement(name);
    if (text) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }

  function link(text, href) {
    var url = safeUrl(href);
    if (!url) { return el("span", text); }
    var a = el("a", text);
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  var count = parseInt(script.getAttribute("data-count") || "5", 10);
  count = Math.max(1, Math.min(isNaN(count) ? 5 : count, 20));
  var summaries = script.getAttribute("data-summary") !== "false";

  var host = el("div", "", "aggregator-embed");
  script.parentNode.insertBefore(host, script.nextSibling);
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;

  var style = el("style", ":host { display: block; }\nbody { margin: 0; background: transparent; }\nsection.aggregator-box { all: initial; display: block; box-sizing: border-box; padding: .75rem 1rem;\n  font: 15px/1.45 system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif; color: #1b1b1b; background: #fff;\n  border: 1px solid #d0d0d0; border-radius: 8px; text-align: start; }\nh2 { font-size: 1.05rem; margin: 0 0 .5rem; }\nh3 { font-size: 1rem; font-weight: 600; margin: 0; overflow-wrap: anywhere; }\nul { list-style: none; margin: 0; padding: 0; }\nli { display: block; padding: .55rem 0; border-top: 1px solid #e4e4e4; }\na { color: #0b57d0; text-decoration: none; }\na:hover, a:focus { text-decoration: underline; }\n.meta, .credit { color: #555; font-size: .85rem; margin: .15rem 0 0; }\n.summary { margin: .3rem 0 0; }\n[hidden] { display: none; }\n@media (prefers-color-scheme: dark) {\n  section.aggregator-box { color: #ececec; background: #151515; border-color: #3a3a3a; }\n  li { border-color: #2c2c2c; } a { color: #8ab4f8; } .meta, .credit { color: #b0b0b0; }\n}\n");
  var section = el("section", "", "aggregator-box");
  section.setAttribute("aria-label", feed.title);
  var heading = el("h2");
  heading.appendChild(link(feed.title, feed.page));
  section.appendChild(heading);
  var list = el("ul");
  feed.items.slice(0, count).forEach(function (item) {
    var li = el("li");
    var title = el("h3");
    title.appendChild(link(item.title, item.url));
    li.appendChild(title);
    var meta = el("p", "", "meta");
    var time = el("time", item.date_text);
    time.setAttribute("datetime", item.date);
    meta.appendChild(time);
    meta.appendChild(document.createTextNode(" \u00b7 "));
    meta.appendChild(link(item.source, item.source_url));
    if (item.also.length) { meta.appendChild(document.createTextNode(" (also: " + item.also.join(", ") + ")")); }
    li.appendChild(meta);
    if (summaries && item.summary) { li.appendChild(el("p", item.summary, "summary")); }
    list.appendChild(li);
  });
  if (!feed.items.length) { list.appendChild(el("li", "No stories yet.")); }
  section.appendChild(list);
  var footer = el("p", "", "credit");
  footer.appendChild(link("Subscribe", feed.feed));
  footer.appendChild(document.createTextNode(" \u00b7 " + feed.generator));
  section.appendChild(footer);
  root.appendChild(style);
  root.appendChild(section);
})();
