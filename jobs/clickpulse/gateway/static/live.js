// The Live page: one EventSource on /stream with the chosen filters; every message is the
// whole payload for this viewer (the gateway sends only when a number changed).
"use strict";
(function () {
  const FILTERS = ["site", "country", "device", "plan"];
  const $ = (id) => document.getElementById(id);
  let source = null;
  let lastMessage = 0;

  function text(value) { return document.createTextNode(value == null ? "" : String(value)); }
  function fmt(n) { return Number(n).toLocaleString("en-US"); }
  function tag(el, provisional) {
    el.textContent = provisional ? "provisional" : "final";
    el.className = "tag " + (provisional ? "provisional" : "final");
  }
  function table(el, header, rows) {
    el.replaceChildren();
    const tr = document.createElement("tr");
    header.forEach((h) => { const th = document.createElement("th"); th.appendChild(text(h)); tr.appendChild(th); });
    el.appendChild(tr);
    rows.forEach((cells) => {
      const row = document.createElement("tr");
      cells.forEach((c) => {
        const td = document.createElement("td");
        if (c instanceof Node) td.appendChild(c); else td.appendChild(text(c));
        row.appendChild(td);
      });
      el.appendChild(row);
    });
  }
  function badge(provisional) {
    const s = document.createElement("span");
    tag(s, provisional);
    return s;
  }
  function options(select, values, chosen) {
    const keep = select.options[0];
    select.replaceChildren(keep);
    values.forEach((v) => {
      const o = document.createElement("option");
      o.value = v; o.textContent = v; o.selected = v === chosen;
      select.appendChild(o);
    });
  }

  // the banner: shown while an alert is open for a site on screen, gone when it resolves
  function banner(alerts) {
    const el = $("alert-banner");
    el.hidden = alerts.length === 0;
    if (!alerts.length) return;
    el.className = alerts[0].severity;   // most severe first
    $("alert-title").textContent = alerts.length === 1 ? "1 alert open" : alerts.length + " alerts open";
    $("alert-list").replaceChildren(...alerts.map((a) => {
      const li = document.createElement("li");
      li.dataset.alertId = a.alert_id;
      li.appendChild(text(a.severity + " · " + a.rule + " on " + a.site_id + ": " + a.message
        + " (since " + a.fired_at.slice(11, 16) + " UTC)"));
      return li;
    }));
  }

  function render(p) {
    banner(p.alerts || []);
    options($("f-site"), p.site_options, p.filters.site);
    ["country", "device", "plan"].forEach((s) => options($("f-" + s), p.segments[s], p.filters[s]));

    $("users-now").textContent = fmt(p.users_now.value);
    tag($("users-tag"), p.users_now.provisional);
    table($("users-by-site"), ["site", "users"], Object.entries(p.users_now.by_site).map(([s, n]) => [s, fmt(n)]));

    $("events-this-minute").textContent = fmt(p.events.this_minute.value);
    tag($("epm-tag"), p.events.this_minute.provisional);
    const last = p.events.minutes.length - 1;
    const minutes = [last - 2, last - 1, last].filter((i) => i >= 0);
    const head = ["type"].concat(minutes.map((i) => p.events.minutes[i].slice(11, 16)));
    const rows = Object.entries(p.events.by_type).map(([t, counts]) => [t].concat(minutes.map((i) => fmt(counts[i]))));
    rows.push(["all types"].concat(minutes.map((i) => fmt(p.events.totals[i]))));
    rows.push([""].concat(minutes.map((i) => badge(p.events.provisional[i] || i === last))));
    table($("events-by-type"), head, rows);

    $("pages-note").textContent = p.top_pages.ignores_segment_filter
      ? "top pages have no segments: shown for all countries, devices and plans" : "";
    table($("top-pages"), ["page", "views", "users", ""],
          p.top_pages.rows.map((r) => [r.page, fmt(r.views), fmt(r.unique_users), badge(r.provisional)]));

    $("funnel-note").textContent = (p.funnel.hour_start ? "users entering since " + p.funnel.hour_start.slice(11, 16)
      + " UTC (this hour's funnel_conversions rows, still growing)" : "no funnel entries this hour")
      + (p.funnel.ignores_segment_filter ? "; funnels have no segments" : "");
    table($("funnel"), ["funnel", "step", "users"], p.funnel.steps.map((s) => [s.funnel, s.step + ". " + s.step_name, fmt(s.users)]));
  }

  function query() {
    const params = new URLSearchParams(location.search);
    const q = new URLSearchParams();
    FILTERS.forEach((f) => { if (params.get(f)) q.set(f, params.get(f)); });
    return q.toString();
  }

  function connect() {
    if (source) source.close();
    source = new EventSource("/stream?" + query());
    source.addEventListener("live", (e) => {
      lastMessage = Date.now();
      $("status").textContent = "live · updated " + new Date(Number(e.lastEventId)).toISOString().slice(11, 19) + " UTC";
      $("status").className = "";
      document.body.dataset.tick = e.lastEventId;
      render(JSON.parse(e.data));
    });
    source.onerror = () => { $("status").textContent = "reconnecting…"; $("status").className = "stale"; };
  }

  FILTERS.forEach((f) => $("f-" + f).addEventListener("change", (e) => {
    const params = new URLSearchParams(location.search);
    if (e.target.value) params.set(f, e.target.value); else params.delete(f);
    history.replaceState(null, "", "?" + params.toString());
    connect();
  }));
  setInterval(() => {
    if (lastMessage && Date.now() - lastMessage > 30000) { $("status").textContent = "no news for 30 s"; }
  }, 5000);
  connect();
})();
