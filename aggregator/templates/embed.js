/* {{ generator }}: the latest "{{ title }}" stories, for any web page.
 * Paste where the list should appear:
 *   <script src="{{ script_url }}" data-count="5" data-summary="true" async></script>
 * data-count: 1 to {{ max_items }} stories (default 5); data-summary="false" hides the summaries.
 * The list is drawn in a Shadow DOM, so the page's CSS cannot reach it and its CSS cannot leak out;
 * every text is set as text (never parsed as HTML) and only http(s) links are kept.
 */
(function () {
  "use strict";
  var feed = {{ data }};
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
  count = Math.max(1, Math.min(isNaN(count) ? 5 : count, {{ max_items }}));
  var summaries = script.getAttribute("data-summary") !== "false";

  var host = el("div", "", "aggregator-embed");
  script.parentNode.insertBefore(host, script.nextSibling);
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;

  var style = el("style", {{ css }});
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
