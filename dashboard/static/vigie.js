/* Vigie status page: progressive enhancement only (everything works without it).
   - each day of a 90-day bar gets its text back (sent once per page, see dashboard/bars.py),
     and the arrow keys move between the days of a bar (one tab stop per bar);
   - the summary is fetched every refresh interval and the statuses updated in place, with
     today's segment and the figure beside them; when what is broken changes, the banner's
     sentence is taken from the page as served now. */
(function () {
  "use strict";
  var labelsNode = document.getElementById("vigie-labels");
  var labels = labelsNode ? JSON.parse(labelsNode.textContent) : null;

  function visibleDays(bar) {
    return Array.prototype.filter.call(bar.children, function (li) {
      return li.offsetParent !== null;
    });
  }

  function dayText(info, li, index) {
    // a segment without data-t says what its class implies (dashboard/bars.py)
    var value = li.getAttribute("data-t") || (li.className === "n" ? info.nodata : info.full);
    return (info.days[index] || "") + " : " + value;
  }

  var barInfo = null;

  function setupBars() {
    var daysNode = document.getElementById("vigie-days");
    if (!daysNode) { return; }
    var info = barInfo = JSON.parse(daysNode.textContent);
    Array.prototype.forEach.call(document.querySelectorAll("ol.bars"), function (bar) {
      // every day gets its text and becomes focusable by script; only today's stays in
      // the tab order. The bar was hidden from screen readers until it had words.
      var last = bar.children.length - 1;
      Array.prototype.forEach.call(bar.children, function (li, index) {
        var span = document.createElement("span");
        span.textContent = dayText(info, li, index);
        li.appendChild(span);
        li.setAttribute("tabindex", index === last ? "0" : "-1");
      });
      bar.removeAttribute("aria-hidden");
      bar.addEventListener("keydown", function (event) {
        var days = visibleDays(bar);
        var index = days.indexOf(document.activeElement);
        if (index < 0) { return; }
        var next = index;
        if (event.key === "ArrowLeft" || event.key === "ArrowUp") { next = Math.max(0, index - 1); }
        else if (event.key === "ArrowRight" || event.key === "ArrowDown") { next = Math.min(days.length - 1, index + 1); }
        else if (event.key === "Home") { next = 0; }
        else if (event.key === "End") { next = days.length - 1; }
        else { return; }
        event.preventDefault();
        days[index].setAttribute("tabindex", "-1");
        days[next].setAttribute("tabindex", "0");
        days[next].focus();
      });
    });
  }

  function formatTime(iso) {
    try {
      return new Intl.DateTimeFormat(labels.lang, {
        month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
        timeZone: labels.timezone
      }).format(new Date(iso));
    } catch (e) { return iso; }
  }

  function updateService(node, component) {
    var status = component.vigie_status;
    var badge = node.querySelector(".service-status .status");
    if (!badge || badge.classList.contains("status-" + status)) { return false; }
    badge.className = "status status-" + status;
    badge.querySelector(".symbol").textContent = labels.symbols[status] || "?";
    badge.querySelector(".status-text").textContent = labels.statuses[status] || status;
    var since = node.querySelector(".service-status .since");
    if (since) { since.remove(); }
    return true;
  }

  function updateBar(node, component) {
    // today's segment and the figure follow the status (dashboard/bars.py, bar_labels)
    var today = component.vigie_today;
    var bar = node.querySelector("ol.bars");
    if (!barInfo || !bar || !today || !bar.children.length) { return; }
    var last = bar.children.length - 1;
    var li = bar.children[last];
    var css = barInfo.classes[today.worst_status || ""] || "n";
    if (css === "o") { li.removeAttribute("class"); } else { li.className = css; }
    li.setAttribute("data-t", today.text);
    var span = li.querySelector("span");
    if (span) { span.textContent = dayText(barInfo, li, last); }
    var figure = node.querySelector(".bar-legend .uptime");
    if (figure && component.vigie_uptime_text) {
      figure.textContent = barInfo.available.replace("%s", component.vigie_uptime_text);
    }
  }

  // the services not operational, as the page writes them in the banner's data-state
  // (dashboard/banner.py: state_key)
  function bannerState(summary) {
    return summary.components.filter(function (c) {
      return !c.group && c.vigie_status !== "operational";
    }).map(function (c) { return c.id + ":" + c.vigie_status; }).sort().join(",");
  }

  // the banner's sentence is written by the server (plural forms, lists of names, in the
  // page's language): take it from the page as it is now, as text only
  function refreshBanner(banner) {
    fetch(window.location.href, {headers: {"Accept": "text/html"}, cache: "no-store"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("banner");
        if (!fresh) { return; }
        ["class", "data-banner", "data-tone", "data-state"].forEach(function (name) {
          banner.setAttribute(name, fresh.getAttribute(name) || "");
        });
        [".symbol", ".banner-text", ".banner-hint"].forEach(function (selector) {
          var from = fresh.querySelector(selector), to = banner.querySelector(selector);
          if (from && to && to.textContent !== from.textContent) { to.textContent = from.textContent; }
        });
      })
      .catch(function () { /* offline: the next summary tries again */ });
  }

  var knownIncidents = null;

  function apply(summary) {
    var changed = false;
    var byId = {};
    summary.components.forEach(function (c) { if (!c.group) { byId[c.id] = c; } });
    Array.prototype.forEach.call(document.querySelectorAll("[data-service]"), function (node) {
      var component = byId[node.getAttribute("data-service")];
      if (!component) { return; }
      if (updateService(node, component)) { changed = true; }
      updateBar(node, component);
    });
    var banner = document.getElementById("banner");
    var state = bannerState(summary);
    if (banner && banner.getAttribute("data-state") !== state) { refreshBanner(banner); }
    var updated = document.getElementById("updated");
    if (updated && summary.page.updated_at) {
      updated.setAttribute("datetime", summary.page.updated_at);
      updated.textContent = formatTime(summary.page.updated_at);
    }
    var ids = summary.incidents.map(function (i) { return i.id + ":" + i.updated_at; }).join(",");
    if (knownIncidents !== null && ids !== knownIncidents) {
      // a new incident or update: its text is on the page after a reload
      var notice = document.getElementById("refresh-notice");
      if (notice) {
        notice.textContent = labels.changed + " ";
        var link = document.createElement("a");
        link.href = window.location.href;
        link.textContent = labels.reload;
        notice.appendChild(link);
        notice.hidden = false;
      }
    }
    knownIncidents = ids;
    return changed;
  }

  function refresh() {
    fetch(labels.summary, {headers: {"Accept": "application/json"}, cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (summary) { if (summary) { apply(summary); } })
      .catch(function () { /* offline: try again at the next interval */ });
  }

  setupBars();
  if (labels && window.fetch) {
    refresh();
    window.setInterval(refresh, Math.max(1, labels.refresh) * 1000);
  }
}());
