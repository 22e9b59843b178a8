// The abuse-desk console: a static page whose script calls the JSON API
// (docs/api.md) with the desk's token from sessionStorage in an
// Authorization header. No cookies, so no ambient credentials: another
// site's page cannot make this browser act for the desk (CSRF). Every value
// from the server goes into the page as text (textContent), never as HTML.
"use strict";
(function () {
  const KEY = "rblzone.token";
  const $ = (id) => document.getElementById(id);
  let zones = [];
  let qpmTimer = null;
  const qpmSamples = []; // {t, total}

  function token() { return sessionStorage.getItem(KEY); }

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + token() };
    const init = { method: method, headers: headers, credentials: "omit", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    const text = await res.text();
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { raw: text }; }
    if (res.status === 401) { signOut("Your token was refused; sign in again."); }
    if (!res.ok) {
      const msg = data && data.error ? data.error.message : res.status + " " + res.statusText;
      throw new Error(msg);
    }
    return data;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      if (c instanceof Node) td.appendChild(c); else td.textContent = c == null ? "" : String(c);
      tr.appendChild(td);
    }
    return tr;
  }
  function say(text, isError) {
    const m = $("message");
    m.textContent = text;
    m.className = isError ? "error" : "muted";
  }
  function utc(t) { return t == null ? "" : typeof t === "number" ? new Date(t * 1000).toISOString().replace(".000", "") : t; }
  function seg(s) { return encodeURIComponent(s); }

  // --- sign in ----------------------------------------------------------------------------

  function showSignIn(error) {
    $("app").classList.add("hidden");
    $("signin").classList.remove("hidden");
    $("signin-error").textContent = error || "";
  }

  function signOut(why) {
    sessionStorage.removeItem(KEY);
    if (qpmTimer) { clearInterval(qpmTimer); qpmTimer = null; }
    showSignIn(why);
  }

  async function start() {
    let who;
    try { who = await api("GET", "/api/v1/whoami"); } catch (e) { return; }
    if (who.role !== "desk" && who.role !== "admin") {
      signOut("The token has role " + who.role + "; the console needs desk or admin.");
      return;
    }
    $("signin").classList.add("hidden");
    $("app").classList.remove("hidden");
    $("who").textContent = "Signed in as " + who.actor + " (" + who.role + ")";
    zones = (await api("GET", "/api/v1/zones")).filter((z) => z.kind !== "combined");
    const sel = $("zone");
    sel.textContent = "";
    for (const z of zones) sel.appendChild(el("option", z.name));
    await Promise.all([loadPending(), search(), loadActivity()]);
    sampleQpm();
    loadTop();
    let tick = 0;
    qpmTimer = setInterval(() => { sampleQpm(); if (++tick % 3 === 0) loadTop(); }, 5000);
  }

  // --- pending delist requests ---------------------------------------------------------------

  // The newest page first; "Older" appends the next one (the API's `next`).
  // A decision reloads from the newest.
  const PENDING_PAGE = 100;
  let pendingNext = null;

  async function loadPending(older) {
    let path = "/api/v1/delist-requests?status=pending&limit=" + PENDING_PAGE;
    if (older && pendingNext) path += "&before=" + seg(pendingNext);
    const data = await api("GET", path);
    const body = $("pending").querySelector("tbody");
    if (!older) body.textContent = "";
    pendingNext = data.next;
    for (const r of data.requests) {
      const decide = document.createElement("div");
      const reason = el("input");
      reason.type = "text";
      reason.placeholder = "reason (shown to the requester)";
      reason.setAttribute("aria-label", "reason for request " + r.id);
      const approve = el("button", "Approve", "approve");
      const deny = el("button", "Deny", "deny");
      approve.type = deny.type = "button";
      approve.dataset.id = deny.dataset.id = r.id;
      const act = (verb) => async () => {
        try {
          await api("POST", "/api/v1/delist-requests/" + seg(r.id) + "/" + verb,
                    { reason: reason.value || (verb === "approve" ? "approved" : "denied") });
          say("Request " + r.id + " " + (verb === "approve" ? "approved" : "denied") + ".");
          await Promise.all([loadPending(), search(), loadActivity()]);
        } catch (e) { say(e.message, true); }
      };
      approve.addEventListener("click", act("approve"));
      deny.addEventListener("click", act("deny"));
      decide.append(reason, approve, document.createTextNode(" "), deny);
      const tr = row([utc(r.created), r.zone, r.subject, r.matched, r.contact, r.explanation, decide]);
      tr.dataset.id = r.id;
      body.appendChild(tr);
    }
    const shown = body.rows.length;
    $("pending-empty").classList.toggle("hidden", shown !== 0);
    $("pending-total").textContent = data.total + " pending" +
      (shown < data.total ? ", the newest " + shown + " shown" : "");
    $("pending-older").classList.toggle("hidden", !pendingNext);
  }

  // --- listings -----------------------------------------------------------------------------------

  async function search(ev) {
    if (ev) ev.preventDefault();
    const zone = $("zone").value;
    if (!zone) return;
    const q = $("search").value.trim();
    const body = $("listings").querySelector("tbody");
    let items = [];
    try {
      if (q && q.indexOf("/") < 0) {
        try {
          items = [await api("GET", "/api/v1/zones/" + seg(zone) + "/listings/" + seg(q))];
          $("listings-note").textContent = "";
        } catch (e) {
          // Not listed is an answer, not a failure: keep the status line for the desk's actions.
          items = [];
          $("listings-note").textContent = e.message;
        }
      } else {
        let path = "/api/v1/zones/" + seg(zone) + "/listings?limit=200";
        if (q) path += "&within=" + seg(q);
        if ($("source").value) path += "&source=" + seg($("source").value);
        const data = await api("GET", path);
        items = data.listings;
        $("listings-note").textContent = data.next ? "First 200 shown; narrow the search." : "";
      }
    } catch (e) { say(e.message, true); return; }
    body.textContent = "";
    for (const l of items) {
      const remove = el("button", "Remove", "remove");
      remove.type = "button";
      remove.addEventListener("click", async () => {
        try {
          await api("DELETE", "/api/v1/zones/" + seg(zone) + "/listings/" + seg(l.subject),
                    { reason: "removed by the desk from the console" });
          say("Removed " + l.subject + " from " + zone + ".");
          await Promise.all([search(), loadActivity()]);
        } catch (e) { say(e.message, true); }
      });
      const tr = row([l.subject + (l.exclusion ? " (exclusion)" : ""), (l.codes || []).join(", "),
                      l.source, l.reason, utc(l.first_seen), l.permanent ? "permanent" : utc(l.expires), remove]);
      body.appendChild(tr);
    }
    if (items.length === 0) body.appendChild(row(["no listings", "", "", "", "", "", ""]));
  }

  async function add(ev) {
    ev.preventDefault();
    const zone = $("zone").value;
    const subject = $("add-subject").value.trim();
    const body = { reason: $("add-reason").value };
    if ($("add-code").value.trim()) body.code = $("add-code").value.trim();
    if ($("add-duration").value.trim()) body.duration = $("add-duration").value.trim();
    if ($("add-exclusion").checked) body.exclusion = true;
    try {
      await api("PUT", "/api/v1/zones/" + seg(zone) + "/listings/" + seg(subject), body);
      say("Listed " + subject + " in " + zone + ".");
      $("add-form").reset();
      await Promise.all([search(), loadActivity()]);
    } catch (e) { say(e.message, true); }
  }

  // --- activity and charts ----------------------------------------------------------------------

  const COLORS = { trap: "#b42318", report: "#9a6700", manual: "#1f5fbf", import: "#1a7f37" };

  async function loadActivity() {
    const zone = $("zone").value;
    if (!zone) return;
    const data = await api("GET", "/api/v1/zones/" + seg(zone) + "/activity?limit=50&hours=24");
    const feed = $("feed");
    feed.textContent = "";
    for (const e of data.events) {
      const li = el("li");
      li.append(el("time", e.time), document.createTextNode(" " + e.actor + " "),
                el("strong", e.action), document.createTextNode(" " + e.subject),
                el("span", e.reason ? " - " + e.reason : "", "muted"));
      feed.appendChild(li);
    }
    if (data.events.length === 0) feed.appendChild(el("li", "nothing yet", "muted"));
    const labels = data.listings.times.map((t) => t.slice(11, 16));
    const series = Object.keys(data.listings.by_source).map((s) => (
      { name: s, color: COLORS[s] || "#333", values: data.listings.by_source[s] }));
    window.RblChart.line($("chart-listings"), labels, series);
  }

  async function sampleQpm() {
    let text;
    try {
      const res = await fetch("/metrics", { credentials: "omit", cache: "no-store" });
      text = await res.text();
    } catch (e) { return; }
    const m = /^rblzone_dns_queries_total (\d+)/m.exec(text);
    if (!m) return;
    qpmSamples.push({ t: Date.now(), total: Number(m[1]) });
    if (qpmSamples.length > 61) qpmSamples.shift();
    const labels = [], values = [];
    for (let i = 1; i < qpmSamples.length; i++) {
      const a = qpmSamples[i - 1], b = qpmSamples[i];
      labels.push(new Date(b.t).toISOString().slice(11, 19));
      values.push(Math.max(0, (b.total - a.total) * 60000 / Math.max(1, b.t - a.t)));
    }
    window.RblChart.line($("chart-qpm"), labels, [{ name: "queries/min", color: "#1f5fbf", values: values }]);
  }

  // The most queried listed subjects (GET /api/v1/stats/top-listed): a bar per
  // subject, its length the share of the top one. The subject links to the
  // public lookup page; a plain click shows the listing in the search above.
  async function loadTop() {
    let data;
    try { data = await api("GET", "/api/v1/stats/top-listed?limit=10"); } catch (e) { return; }
    const body = $("top-listed").querySelector("tbody");
    body.textContent = "";
    const minutes = Math.round(data.interval_seconds / 60);
    $("top-window").textContent = minutes + " to " + 2 * minutes;
    const max = data.subjects.reduce((m, s) => Math.max(m, s.count), 0);
    for (const s of data.subjects) {
      const link = el("a", s.subject);
      link.href = "/lookup/" + s.subject.split("/").map(seg).join("/");
      link.addEventListener("click", (ev) => {
        const zone = s.listed_in || s.zone;
        if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || !zones.some((z) => z.name === zone)) return;
        ev.preventDefault();
        $("zone").value = zone;
        $("search").value = s.subject;
        $("source").value = "";
        search().then(() => $("listings").scrollIntoView());
        loadActivity();
      });
      const bar = el("span", null, "bar");
      bar.style.width = (max > 0 ? (100 * s.count) / max : 0).toFixed(1) + "%";
      const zoneText = s.listed_in && s.listed_in !== s.zone ? s.zone + " (" + s.listed_in + ")" : s.zone;
      // count is an upper bound; with error > 0 the true figure is at least count - error.
      const count = String(s.count) + (s.error > 0 ? " (at least " + (s.count - s.error) + ")" : "");
      const tr = row([zoneText, link, count, bar]);
      tr.children[2].className = "num";
      tr.children[3].className = "bar-cell";
      tr.dataset.subject = s.subject;
      body.appendChild(tr);
    }
    $("top-listed-note").textContent = !data.dns ? "DNS is off on this server."
      : data.subjects.length === 0 ? "No listed subject was queried in this window." : "";
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("signin-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(KEY, $("token").value.trim());
      $("token").value = "";
      await start();
      if (!token()) return;
      if ($("app").classList.contains("hidden")) signOut("Sign-in failed.");
    });
    $("signout").addEventListener("click", () => signOut(""));
    $("search-form").addEventListener("submit", search);
    $("zone").addEventListener("change", () => { search(); loadActivity(); });
    $("add-form").addEventListener("submit", add);
    $("pending-older").addEventListener("click", async () => {
      try { await loadPending(true); } catch (e) { say(e.message, true); }
    });
    if (token()) start(); else showSignIn("");
  });
})();
