// slamon wallboard: snapshots arrive over server-sent events (one a second, and at once on a change);
// between them the page advances every duration itself, and recomputes rings and colours with the
// same rules as the server (monitor/service/wallboard.py), so a ring or a breach shows on time.
(() => {
  "use strict";

  const TOKEN_KEY = "slamon.wallboard.token";
  const STALE_AFTER_S = 5;
  const $ = (id) => document.getElementById(id);

  let token = null;
  let site = null;
  let source = null;
  let retry = null;
  let current = null; // {snap, received: performance.now() at arrival}
  let connected = false;

  // --- token and site -----------------------------------------------------------------------------
  function takeFragment() {
    // #token=...&site=...: kept in sessionStorage, then removed from the address bar.
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    if (params.has("token")) sessionStorage.setItem(TOKEN_KEY, params.get("token"));
    if (params.has("site")) site = params.get("site");
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
    const query = new URLSearchParams(location.search);
    if (query.has("site")) site = query.get("site");
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function askToken(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    token = null;
    if (message) $("token-message").textContent = message;
    $("token-form").hidden = false;
    $("token-input").focus();
  }

  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    token = value;
    $("token-input").value = "";
    $("token-form").hidden = true;
    connect();
  });

  $("site-select").addEventListener("change", (ev) => {
    site = ev.target.value;
    const query = new URLSearchParams(location.search);
    query.set("site", site);
    history.replaceState(null, "", location.pathname + "?" + query);
    current = null;
    connect();
  });

  // --- connection ---------------------------------------------------------------------------------
  function url(path, withToken) {
    const q = new URLSearchParams();
    if (site) q.set("site", site);
    if (withToken) q.set("access_token", token);
    return path + "?" + q;
  }

  function connect() {
    clearTimeout(retry);
    if (source) source.close();
    if (!token) return askToken();
    source = new EventSource(url("/api/v1/wallboard/stream", true));
    source.addEventListener("snapshot", (ev) => {
      connected = true;
      show(JSON.parse(ev.data));
    });
    source.onerror = () => {
      connected = false;
      render();
      // CONNECTING: the browser retries by itself. CLOSED: the server refused the stream; EventSource
      // hides the status, so ask the snapshot endpoint why.
      if (source.readyState === EventSource.CLOSED) diagnose();
    };
  }

  async function diagnose() {
    source.close();
    try {
      const r = await fetch(url("/api/v1/wallboard/snapshot", false), {
        headers: { Authorization: "Bearer " + token },
        cache: "no-store",
      });
      if (r.status === 401) return askToken("That token was not accepted (401). Paste a valid token.");
      if (r.status === 403) return askToken("That token may not read the wallboard (403).");
      if (r.status === 404 && site) {
        site = null; // a site that is no longer configured: fall back to the first one
        return connect();
      }
      if (r.ok) show(await r.json());
    } catch (e) {
      // server unreachable: the banner says so; try again below
    }
    retry = setTimeout(connect, 3000 + Math.random() * 2000);
  }

  // --- the rules, as the server applies them ------------------------------------------------------
  function ringsFor(elapsed, cycle) {
    if (elapsed <= 0) return 0;
    return Math.max(1, Math.ceil(elapsed / cycle - 1e-9));
  }

  function ringLevel(rings, within) {
    if (rings > within) return "breach";
    return rings === within ? "warn" : "ok";
  }

  function holdLevel(holdS, maxS, share) {
    if (holdS > maxS) return "breach";
    return maxS - holdS < share * maxS ? "warn" : "ok";
  }

  function worst(levels) {
    const order = { ok: 0, warn: 1, breach: 2 };
    return levels.reduce((a, b) => (order[b] > order[a] ? b : a), "ok");
  }

  // --- formatting ---------------------------------------------------------------------------------
  function seconds(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + " s";
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const r = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
  }

  function businessTime(s) {
    const min = Math.floor(Math.max(0, s) / 60);
    if (min < 60) return min + " min";
    return `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, "0")}`;
  }

  function ringWord(level, within) {
    if (level === "breach") return `OVER ${within} RINGS`;
    if (level === "warn") return "LAST RING";
    return "";
  }

  function setTile(id, level, active) {
    const tile = $(id);
    tile.dataset.level = level;
    tile.classList.remove("level-ok", "level-warn", "level-breach");
    tile.classList.add("level-" + level);
    tile.classList.toggle("active", Boolean(active));
  }

  function chips(listId, items, limit) {
    const list = $(listId);
    list.replaceChildren();
    for (const item of items.slice(0, limit)) {
      const li = document.createElement("li");
      li.dataset.level = item.level;
      li.textContent = item.text;
      list.appendChild(li);
    }
    if (items.length > limit) {
      const li = document.createElement("li");
      li.textContent = `+${items.length - limit} more`;
      list.appendChild(li);
    }
  }

  // --- drawing ------------------------------------------------------------------------------------
  function show(snap) {
    current = { snap, received: performance.now() };
    site = snap.site;
    const select = $("site-select");
    const ids = snap.sites.join("\n");
    if (select.dataset.ids !== ids) {
      select.replaceChildren(...snap.sites.map((id) => new Option(id, id)));
      select.dataset.ids = ids;
    }
    select.value = snap.site;
    select.parentElement.hidden = snap.sites.length < 2;
    $("board").setAttribute("aria-busy", "false");
    render();
  }

  function render() {
    if (!current) {
      banner();
      return;
    }
    const { snap } = current;
    const dt = (performance.now() - current.received) / 1000;
    const p = snap.policy;
    const within = p.answer_within_rings;
    const calls = snap.calls;

    $("site-name").textContent = "· " + snap.site;
    $("open-state").textContent = snap.business_open ? "open" : "closed";
    $("clock").textContent = new Intl.DateTimeFormat(undefined, {
      timeZone: snap.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).format(new Date((snap.at + dt) * 1000));

    // Callers waiting for a person: each one's rings from its arrival, as durations grow.
    const ringing = calls.ringing.items.map((c) => {
      const elapsed = c.since_arrival_s + dt;
      const rings = ringsFor(elapsed, p.ring_cycle_s);
      return { state: c.state, elapsed, rings, level: ringLevel(rings, within) };
    });
    const queued = ringing.filter((c) => c.state === "waiting");
    const longest = queued.length ? queued[0] : null;

    $("waiting-count").textContent = String(queued.length);
    const waitLevel = longest ? longest.level : "ok";
    setTile("tile-waiting", waitLevel, queued.length);
    $("waiting-state").textContent = longest ? ringWord(waitLevel, within) : "";

    $("longest-wait").textContent = longest ? seconds(longest.elapsed) : "–";
    setTile("tile-longest", waitLevel, longest);
    $("longest-state").textContent = longest ? `${longest.rings} ring${longest.rings === 1 ? "" : "s"}` : "";

    $("ringing-count").textContent = String(ringing.length);
    setTile("tile-ringing", worst(ringing.map((c) => c.level)), ringing.length);
    chips("ringing-list", ringing.map((c) => ({
      level: c.level, text: `${c.rings} ring${c.rings === 1 ? "" : "s"} · ${seconds(c.elapsed)}`,
    })), 4);

    const holds = calls.on_hold.items.map((h) => {
      const s = h.hold_s + dt;
      return { level: holdLevel(s, p.max_hold_s, p.at_risk_share), text: seconds(s) };
    });
    $("hold-count").textContent = String(holds.length);
    setTile("tile-hold", worst(holds.map((h) => h.level)), holds.length);
    chips("hold-list", holds, 5);

    const today = snap.today;
    $("answer-rings").textContent = String(within);
    $("answer-pct").textContent = today.answer_within_pct == null ? "–" : Math.round(today.answer_within_pct) + "%";
    $("answer-detail").textContent = today.answered == null
      ? (today.error || "")
      : `${today.answered_within} of ${today.answered + today.abandoned} calls`;
    $("abandoned-count").textContent = today.abandoned == null ? "–" : String(today.abandoned);
    $("abandoned-detail").textContent = today.answered == null
      ? ""
      : `${today.answered} answered` + (today.short_abandoned ? ` · ${today.short_abandoned} hung up at once` : "");
    $("tile-answer").title = today.formula;

    const inq = snap.inquiries;
    $("inq-open").textContent = String(inq.open);
    $("inq-risk").textContent = String(inq.at_risk);
    // Business time only runs while the site is open.
    const oldest = inq.oldest_open_business_s + (snap.business_open && inq.open ? dt : 0);
    $("inq-oldest").textContent = inq.open ? businessTime(oldest) : "–";
    setTile("tile-inquiries", inq.level, inq.open);

    $("policy").textContent = `policy ${p.version} · ${within} rings = ${p.answer_within_s} s · hold ${p.max_hold_s} s`;
    $("updated").textContent = connected ? `updated ${Math.floor(dt)} s ago` : "not connected";
    document.body.classList.toggle("stale", !connected || dt > STALE_AFTER_S);
    banner();
  }

  function banner() {
    const el = $("banner");
    const lines = [];
    if (current) {
      const { snap } = current;
      for (const s of snap.sources.filter((x) => !x.up)) {
        const what = s.source === "ami" ? "Phone system (AMI)" : `Mailbox ${s.name} (IMAP)`;
        const last = s.last_event_at
          ? " · last event " + new Intl.DateTimeFormat(undefined, {
            timeZone: snap.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit",
          }).format(new Date(s.last_event_at * 1000))
          : "";
        lines.push(`${what} DOWN${last} — figures may be incomplete`);
      }
    }
    const sourceDown = lines.length > 0;
    const dt = current ? (performance.now() - current.received) / 1000 : 0;
    if (token && (!connected || dt > STALE_AFTER_S)) {
      lines.push(current ? `No update from slamon for ${Math.floor(dt)} s — reconnecting` : "Connecting to slamon…");
    }
    el.hidden = lines.length === 0;
    el.classList.toggle("connection", !sourceDown);
    el.dataset.sourceDown = sourceDown ? "yes" : "no";
    el.textContent = lines.join("\n");
  }

  token = takeFragment();
  connect();
  setInterval(render, 250);
})();
