"use strict";
// Paul P operators' dashboard. Every number comes from an authenticated JSON admin route; the
// page itself holds no data. The operator token is kept in sessionStorage only (this tab) and
// sent as `Authorization: Bearer`; a 401 forgets it and asks again. Behind Cloudflare Access the
// Access session authenticates the same calls without a token. Text is only ever set with
// textContent (never parsed as HTML): market names and reasons come from outside.
(() => {
  const TOKEN_KEY = "paulp.dashboard.token";
  const ACCESS_KEY = "paulp.dashboard.access";
  const SVG = "http://www.w3.org/2000/svg";
  const REFRESH_MS = 60000;
  const $ = (id) => document.getElementById(id);

  class Unauthorized extends Error {}

  // ---- formatting (exact: integers only, no floating point on money) ----------------------
  const group = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  function usd(micros) {
    if (micros === null || micros === undefined) return "n/a";
    const neg = micros < 0;
    const abs = Math.abs(micros);
    let frac = String(abs % 1000000).padStart(6, "0").replace(/0+$/, "");
    while (frac.length < 2) frac += "0";
    return (neg ? "-$" : "$") + group(Math.floor(abs / 1000000)) + "." + frac;
  }
  function qty(e2) {
    if (e2 === null || e2 === undefined) return "n/a";
    const abs = Math.abs(e2);
    return (e2 < 0 ? "-" : "") + group(Math.floor(abs / 100)) + "." + String(abs % 100).padStart(2, "0");
  }
  function bps(n) {
    return n === null || n === undefined ? "n/a" : group(n) + " bps";
  }
  const raw = (v) => (v === null || v === undefined ? "n/a" : typeof v === "string" ? v : JSON.stringify(v));
  function time(v) {
    if (v === null || v === undefined || v === "") return "n/a";
    const d = new Date(typeof v === "number" ? v : String(v));
    return Number.isNaN(d.getTime()) ? String(v) : d.toISOString().slice(0, 19).replace("T", " ") + "Z";
  }
  function age(seconds) {
    if (seconds === null || seconds === undefined) return "n/a";
    const s = Math.max(0, Math.floor(seconds));
    if (s < 120) return s + " s";
    if (s < 7200) return Math.floor(s / 60) + " min";
    if (s < 172800) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d";
  }

  // ---- DOM helpers -----------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else if (k === "testid") e.dataset.testid = v;
      else if (k === "value") e.dataset.value = typeof v === "string" ? v : JSON.stringify(v);
      else if (k === "title") e.title = v;
      else e.setAttribute("data-" + k, String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }
  function set(id, text, value) {
    const e = $(id);
    e.textContent = text;
    if (value !== undefined) e.dataset.value = typeof value === "string" ? value : JSON.stringify(value);
    else delete e.dataset.value;
    return e;
  }
  function fill(id, rows, emptyText, columns) {
    const body = $(id);
    body.replaceChildren();
    if (rows.length === 0) {
      const cell = el("td", { class: "empty" }, emptyText);
      cell.colSpan = columns;
      body.append(el("tr", {}, cell));
    } else {
      body.append(...rows);
    }
  }
  function show(id, visible) {
    $(id).classList.toggle("hidden", !visible);
  }

  // ---- the API ---------------------------------------------------------------------------
  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }
  async function api(method, path, body) {
    const headers = { accept: "application/json" };
    const t = token();
    if (t) headers.authorization = "Bearer " + t;
    const init = { method, headers, cache: "no-store", credentials: "same-origin", redirect: "error" };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    if (resp.status === 401) throw new Unauthorized();
    const value = await resp.json().catch(() => null);
    if (!resp.ok) {
      const err = value && value.error ? value.error : { code: "HTTP_" + resp.status, message: resp.statusText };
      const e = new Error(err.code + ": " + err.message);
      e.code = err.code;
      e.status = resp.status;
      throw e;
    }
    return value;
  }

  // ---- panels ----------------------------------------------------------------------------
  function renderBreaker(b) {
    const state = String(b.state);
    const badge = set("breaker-badge", state, state);
    badge.className = "badge state-" + state;
    const big = set("breaker-state", state, state);
    big.className = "state-" + state;
    set("breaker-since", time(b.since), b.since);
    set("breaker-actor", b.actor || "n/a", b.actor);
    set("breaker-reason", b.reason || "n/a", b.reason);
    const transitions = (b.transitions || []).slice().reverse();
    set("transition-count", "(" + transitions.length + ")", transitions.length);
    fill(
      "breaker-transitions",
      transitions.map((t) =>
        el(
          "tr",
          { testid: "breaker-transition", from: t.from, to: t.to },
          el("td", {}, time(t.at)),
          el("td", {}, el("span", { class: "state-" + t.from }, t.from), " → ", el("span", { class: "state-" + t.to }, t.to)),
          el("td", {}, t.actor),
          el("td", {}, t.reason),
        ),
      ),
      "no transitions yet",
      4,
    );
  }

  function renderLimits(risk) {
    const box = $("limits");
    box.replaceChildren();
    const rows = risk.utilisation || [];
    if (rows.length === 0) box.append(el("p", { class: "empty" }, "no limits reported"));
    for (const u of rows) {
      const known = u.used !== null && u.used !== undefined && u.allowed !== null && u.allowed !== undefined;
      // Percent with one decimal, computed from the integers (rounded down).
      const permille = known && u.allowed > 0 ? Math.floor((u.used * 1000) / u.allowed) : null;
      const bar = el("div", { class: "bar-fill", testid: "limit-bar", value: permille });
      if (permille === null) bar.classList.add("unknown");
      else {
        bar.style.width = Math.min(100, permille / 10) + "%";
        if (permille >= 1000) bar.classList.add("bad");
        else if (permille >= 800) bar.classList.add("warn");
      }
      box.append(
        el(
          "div",
          { class: "limit", testid: "limit-row", limit: u.limit },
          el(
            "div",
            { class: "limit-head" },
            el("span", {}, el("strong", { testid: "limit-name" }, u.limit), u.scope ? el("span", { class: "muted" }, " " + u.scope) : null),
            el(
              "span",
              {},
              el("span", { testid: "limit-used", value: u.used }, usd(u.used)),
              " / ",
              el("span", { testid: "limit-allowed", value: u.allowed }, usd(u.allowed)),
              " ",
              el("span", { class: "muted", testid: "limit-pct", value: permille }, permille === null ? "(unknown)" : "(" + Math.floor(permille / 10) + "." + (permille % 10) + " %)"),
            ),
          ),
          el("div", { class: "bar" }, bar),
        ),
      );
    }
  }

  /** An inline SVG line chart of `values` over `times`; each point is a circle. */
  function chart(id, times, values, format, kind) {
    const box = $(id);
    box.replaceChildren();
    box.dataset.points = String(values.length);
    if (values.length === 0) {
      box.append(el("p", { class: "empty" }, "no points yet"));
      return;
    }
    const W = 800, H = 180, L = 90, R = 12, T = 12, B = 24;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("role", "img");
    svg.dataset.testid = id + "-svg";
    const t0 = Math.min(...times), t1 = Math.max(...times);
    let v0 = Math.min(...values), v1 = Math.max(...values);
    if (v0 === v1) { v0 -= 1; v1 += 1; }
    const x = (t) => (t1 === t0 ? (L + W - R) / 2 : L + ((t - t0) / (t1 - t0)) * (W - L - R));
    const y = (v) => T + (1 - (v - v0) / (v1 - v0)) * (H - T - B);
    const node = (name, attrs) => {
      const n = document.createElementNS(SVG, name);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
      svg.append(n);
      return n;
    };
    node("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B });
    node("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B });
    node("text", { x: 4, y: T + 10 }).textContent = format(Math.max(...values));
    node("text", { x: 4, y: H - B }).textContent = format(Math.min(...values));
    node("text", { x: L, y: H - 6 }).textContent = time(t0);
    if (t1 !== t0) node("text", { x: W - R - 130, y: H - 6 }).textContent = time(t1);
    if (values.length > 1) {
      node("polyline", {
        class: "line" + (kind === "dd" ? " dd" : ""),
        points: values.map((v, i) => `${x(times[i]).toFixed(1)},${y(v).toFixed(1)}`).join(" "),
      });
    }
    values.forEach((v, i) => {
      const c = node("circle", { cx: x(times[i]).toFixed(1), cy: y(v).toFixed(1), r: 3.5, class: kind === "dd" ? "dd" : "" });
      c.dataset.testid = id + "-point";
      c.dataset.value = JSON.stringify(v);
      const title = document.createElementNS(SVG, "title");
      title.textContent = time(times[i]) + "  " + format(v);
      c.append(title);
    });
    box.append(svg);
  }

  function renderEquity(eq) {
    const points = (eq.points || []).filter((p) => p.equity_usd_micros !== null);
    const times = points.map((p) => p.at);
    chart("equity-chart", times, points.map((p) => p.equity_usd_micros), usd, "eq");
    const dd = points.filter((p) => p.drawdown_bps !== null);
    chart("drawdown-chart", dd.map((p) => p.at), dd.map((p) => p.drawdown_bps), bps, "dd");
    const last = points[points.length - 1];
    set("equity-last", last ? usd(last.equity_usd_micros) : "n/a", last ? last.equity_usd_micros : null);
    const lastDd = dd[dd.length - 1];
    set("drawdown-last", lastDd ? bps(lastDd.drawdown_bps) : "n/a", lastDd ? lastDd.drawdown_bps : null);
  }

  function renderPositions(p) {
    const rows = p.positions || [];
    set("position-count", "(" + rows.length + ", " + (p.mode || "paper") + ")", rows.length);
    fill(
      "positions",
      rows.map((r) =>
        el(
          "tr",
          { testid: "position-row", market: r.market },
          el("td", {}, r.market),
          el("td", {}, r.side || ""),
          el("td", { class: "num", testid: "position-qty", value: r.qty_e2 }, qty(r.qty_e2)),
          el("td", { class: "num", testid: "position-cost", value: r.cost_usd_micros }, usd(r.cost_usd_micros)),
        ),
      ),
      "no open positions",
      4,
    );
  }

  function renderRefusals(d) {
    const refused = (d.decisions || []).filter((x) => x.approved === false);
    set("refusal-count", "(" + refused.length + " of the last " + (d.decisions || []).length + " verdicts)", refused.length);
    fill(
      "refusals",
      refused.map((r) => {
        const codes = (r.verdict && r.verdict.codes) || [];
        return el(
          "tr",
          { testid: "refusal-row", order: r.client_order_id },
          el("td", {}, time(r.at)),
          el("td", {}, r.client_order_id, r.dry_run ? el("span", { class: "muted" }, " (dry run)") : null),
          el("td", {}, r.market),
          // One code per limit that gave it: each distinct code once, with its count.
          el("td", { testid: "refusal-codes", value: codes }, distinct(codes)),
        );
      }),
      "no refusals",
      4,
    );
  }

  function distinct(codes) {
    const counts = new Map();
    for (const c of codes) counts.set(c, (counts.get(c) || 0) + 1);
    return [...counts].map(([c, n]) => (n > 1 ? c + " ×" + n : c)).join(", ");
  }

  function renderAudit(a) {
    set("audit-size", a.size === undefined ? "n/a" : group(a.size), a.size);
    const anchors = a.anchors || {};
    set("anchor-count", anchors.count === undefined ? "n/a" : group(anchors.count), anchors.count);
    const last = anchors.last;
    set("anchor-tree-size", last ? group(last.tree_size) : "none", last ? last.tree_size : null);
    set("anchor-age", last ? age(last.age_s) : "n/a", last ? last.timestamp_ms : null);
    const v = a.verification && a.verification.last;
    const e = set("verification-last", v ? verificationText(v) : "never", v ? v.id : null);
    e.className = v ? (v.valid === true ? "st-pass" : v.valid === false ? "st-fail" : "") : "";
  }
  function verificationText(v) {
    const parts = [];
    if (v.valid === true) parts.push("valid");
    else if (v.valid === false) parts.push("INVALID: " + group(v.problems || 0) + " problem(s), first bad seq " + v.first_bad_seq);
    else parts.push("running");
    if (v.checked !== undefined && v.checked !== null) parts.push(group(v.checked) + " events checked");
    if (v.from !== undefined && v.to !== undefined && v.to !== null) parts.push("seq " + v.from + "–" + v.to);
    if (v.full) parts.push("full");
    const at = v.finished_at_ms || v.started_at_ms;
    if (at) parts.push("at " + time(at));
    return parts.join(", ");
  }

  async function renderRuns(list) {
    const runs = list.runs || [];
    const wanted = [];
    for (const job of ["ingest", "cycle", "live"]) {
      const r = runs.find((x) => x.job === job);
      if (r) wanted.push(r);
    }
    const details = await Promise.all(wanted.map((r) => api("GET", "/admin/runs/" + encodeURIComponent(r.run_id))));
    const box = $("runs");
    box.replaceChildren();
    if (details.length === 0) box.append(el("p", { class: "empty" }, "no ingestion or trading runs yet"));
    for (const d of details) {
      const r = d.run;
      box.append(
        el(
          "div",
          { class: "run", testid: "run", job: r.job, "run-id": r.run_id },
          el(
            "div",
            { class: "run-head" },
            el("strong", {}, r.job),
            el("span", { class: "st-" + r.status, testid: "run-status", value: r.status }, r.status),
            el("span", { class: "muted" }, time(r.started_at)),
            el("span", { class: "muted mono" }, r.run_id),
          ),
          el(
            "ul",
            { class: "steps" },
            ...(d.steps || []).map((s) =>
              el("li", { testid: "run-step", step: s.step, value: s.status, class: "st-" + s.status, title: JSON.stringify(s.counts || {}) }, s.step + ": " + s.status),
            ),
          ),
        ),
      );
    }
  }

  function renderApprovals(a) {
    const rows = a.approvals || [];
    set("approval-count", "(" + rows.length + ")", rows.length);
    fill(
      "approvals",
      rows.map((x) =>
        el(
          "tr",
          { testid: "approval-row", id: x.id },
          el("td", {}, x.action),
          el("td", {}, x.requested_by || ""),
          el("td", {}, time(x.expires_at_ms)),
          el("td", { class: "mono" }, x.id),
        ),
      ),
      "nothing pending",
      4,
    );
  }

  function renderGate(g) {
    const index = g.index || {};
    const artifact = g.artifact || {};
    const status = artifact.status || index.status || "unknown";
    const e = set("gate-status", String(status), status);
    e.className = "st-" + status;
    set("gate-run-id", index.run_id || artifact.run_id || "n/a", index.run_id || artifact.run_id);
    set("gate-at", time(index.created_at_ms || artifact.generated_at_ms), index.created_at_ms);
    const list = $("gate-checks");
    list.replaceChildren();
    const checks = Array.isArray(artifact.checks) ? artifact.checks : [];
    for (const c of checks) {
      const passed = c.pass === true;
      list.append(
        el(
          "li",
          { class: passed ? "st-pass" : "st-fail", testid: "gate-check", check: c.name, value: passed },
          (passed ? "✓ " : "✗ ") + c.name + ": " + raw(c.value) + " (threshold " + raw(c.threshold) + ")",
        ),
      );
    }
  }
  function gateMissing(err) {
    set("gate-status", err.code === "GATE_NOT_RUN" ? "not run yet" : err.message, null);
    set("gate-run-id", "n/a", null);
    set("gate-at", "n/a", null);
    $("gate-checks").replaceChildren();
  }

  // ---- loading ---------------------------------------------------------------------------
  let loading = null;
  async function load() {
    if (loading) return loading;
    loading = (async () => {
      const panels = [
        ["/admin/circuit-breaker", renderBreaker],
        ["/admin/risk", renderLimits],
        ["/admin/risk/equity", renderEquity],
        ["/admin/positions", renderPositions],
        ["/admin/risk/decisions?limit=50", renderRefusals],
        ["/admin/audit/status", renderAudit],
        ["/admin/runs?limit=50", renderRuns],
        ["/admin/approvals?status=pending", renderApprovals],
        ["/admin/gates/production", renderGate, gateMissing],
      ];
      const results = await Promise.allSettled(
        panels.map(async ([path, render, onError]) => {
          try {
            await render(await api("GET", path));
          } catch (e) {
            if (onError && !(e instanceof Unauthorized) && e.status === 404) onError(e);
            else throw e;
          }
        }),
      );
      const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason);
      if (failed.some((e) => e instanceof Unauthorized)) return askForToken("The token was refused (401). Enter it again.");
      showDashboard();
      show("load-error", failed.length > 0);
      $("load-error").textContent = failed.map((e) => String(e.message || e)).join("; ");
      $("updated").textContent = "updated " + time(Date.now());
      document.body.dataset.loaded = String(Number(document.body.dataset.loaded || "0") + 1);
    })();
    try {
      await loading;
    } finally {
      loading = null;
    }
  }

  function showDashboard() {
    show("login", false);
    show("main", true);
  }
  function askForToken(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    show("main", false);
    show("login", true);
    show("login-error", Boolean(message));
    $("login-error").textContent = message || "";
    $("token-input").value = "";
    $("token-input").focus();
  }

  // ---- the emergency halt: reason, then confirm, then POST -------------------------------
  function haltReset() {
    show("halt-step-reason", false);
    show("halt-step-confirm", false);
    show("halt-button", true);
  }
  $("halt-button").addEventListener("click", () => {
    show("halt-error", false);
    show("halt-button", false);
    show("halt-step-reason", true);
    $("halt-reason").value = "";
    $("halt-reason").focus();
  });
  $("halt-continue").addEventListener("click", () => {
    const reason = $("halt-reason").value.trim();
    if (!reason) {
      show("halt-error", true);
      $("halt-error").textContent = "A reason is required.";
      return;
    }
    show("halt-error", false);
    $("halt-confirm-reason").textContent = reason;
    show("halt-step-reason", false);
    show("halt-step-confirm", true);
  });
  $("halt-cancel").addEventListener("click", haltReset);
  $("halt-confirm-cancel").addEventListener("click", haltReset);
  $("halt-confirm").addEventListener("click", async () => {
    const reason = $("halt-confirm-reason").textContent;
    $("halt-confirm").disabled = true;
    try {
      await api("POST", "/admin/circuit-breaker/transition", { targetState: "HALT", reason });
      haltReset();
      await load();
    } catch (e) {
      if (e instanceof Unauthorized) return askForToken("The token was refused (401). Enter it again.");
      show("halt-error", true);
      $("halt-error").textContent = "Halt failed: " + (e.message || e);
    } finally {
      $("halt-confirm").disabled = false;
    }
  });

  // ---- token and start -------------------------------------------------------------------
  function useToken() {
    const t = $("token-input").value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    $("token-input").value = "";
    load();
  }
  $("token-submit").addEventListener("click", useToken);
  $("token-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter") useToken();
  });
  $("sign-out").addEventListener("click", () => askForToken(""));
  $("refresh").addEventListener("click", () => load());
  setInterval(() => {
    if (!document.hidden && !$("main").classList.contains("hidden")) load();
  }, REFRESH_MS);

  // With a token from earlier in this tab, or behind Cloudflare Access (?access=1 remembers
  // that this tab has no token to send), load at once; otherwise ask first.
  if (new URLSearchParams(location.search).get("access") === "1") sessionStorage.setItem(ACCESS_KEY, "1");
  if (token() || sessionStorage.getItem(ACCESS_KEY) === "1") load();
  else askForToken("");
})();
