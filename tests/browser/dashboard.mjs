// The dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
// Run by tests/e2e/tests/dashboard.rs after it seeded activity; it passes
//   DASHBOARD_BASE       the Worker's base URL
//   DASHBOARD_TOKEN      an operator token
//   DASHBOARD_EXPECTED   a JSON file with the numbers it read from the JSON routes and D1
//   DASHBOARD_SCREENSHOT where to save the screenshot
//   CHROMIUM             the browser binary (default /usr/bin/chromium)
// Asserts: the page asks for a token and asks again after a refused one; with the token every
// panel shows exactly the expected numbers and both charts have points; the emergency-halt
// button (reason, then confirm) halts the breaker; no console error, page error or failed
// request. Exits non-zero with the reasons otherwise.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const base = env("DASHBOARD_BASE");
const token = env("DASHBOARD_TOKEN");
const expected = JSON.parse(fs.readFileSync(env("DASHBOARD_EXPECTED"), "utf8"));
const screenshot = env("DASHBOARD_SCREENSHOT");
const HALT_REASON = "dashboard e2e: emergency halt";

// The page's formats, written out again here: money is exact (micro-dollars), quantities in
// hundredths of a contract.
const group = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
function usd(m) {
  if (m === null || m === undefined) return "n/a";
  const abs = Math.abs(m);
  let frac = String(abs % 1000000).padStart(6, "0").replace(/0+$/, "");
  while (frac.length < 2) frac += "0";
  return (m < 0 ? "-$" : "$") + group(Math.floor(abs / 1000000)) + "." + frac;
}
const qty = (e2) => group(Math.floor(Math.abs(e2) / 100)) + "." + String(Math.abs(e2) % 100).padStart(2, "0");
const raw = (v) => (typeof v === "string" ? v : JSON.stringify(v));

const failures = [];
function check(cond, what) {
  if (!cond) failures.push(what);
  return cond;
}
function eq(actual, want, what) {
  return check(actual === want, `${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(want)}`);
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "paulp-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1400, height: 1000 },
});
const problems = [];
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20000);
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  const byId = (id) => page.getByTestId(id);
  const text = async (id) => ((await byId(id).textContent()) ?? "").trim();
  const value = (id) => byId(id).getAttribute("data-value");

  // 1. No token: the page asks for one and shows nothing else.
  const resp = await page.goto(`${base}/admin/dashboard`);
  eq(resp.status(), 200, "page status");
  check((resp.headers()["content-security-policy"] ?? "").startsWith("default-src 'none'"), "CSP header");
  await byId("login").waitFor({ state: "visible" });
  check(await byId("dashboard").isHidden(), "no dashboard before a token");

  // 2. A wrong token is refused (401) and the page asks again. The 401s of this step are the
  //    only HTTP errors expected; anything else is a problem.
  await byId("token-input").fill("not-a-valid-token");
  await byId("token-submit").click();
  await byId("login-error").waitFor({ state: "visible" });
  check((await text("login-error")).includes("401"), "the refusal says 401");
  const wrong = problems.splice(0);
  check(wrong.length > 0 && wrong.every((p) => p.includes("401")), `only 401s for a wrong token: ${wrong.join(" | ")}`);
  eq(await page.evaluate(() => sessionStorage.length), 0, "a refused token is forgotten");

  // 3. The real token: every panel loads.
  await byId("token-input").fill(token);
  await byId("token-submit").click();
  await page.waitForFunction(() => Number(document.body.dataset.loaded || 0) >= 1);
  await byId("dashboard").waitFor({ state: "visible" });
  check(await byId("login").isHidden(), "login hidden once loaded");
  check(await byId("load-error").isHidden(), `no panel failed: ${await text("load-error")}`);
  const storage = await page.evaluate(() => ({
    session: Object.keys(sessionStorage),
    local: localStorage.length,
    cookies: document.cookie,
    token: sessionStorage.getItem("paulp.dashboard.token"),
  }));
  eq(storage.local, 0, "nothing in localStorage");
  eq(storage.cookies, "", "no cookies");
  eq(storage.token, token, "the token is in sessionStorage");

  // Breaker.
  eq(await text("breaker-state"), expected.breaker.state, "breaker state");
  eq(await text("breaker-badge"), expected.breaker.state, "breaker badge");
  eq(await byId("breaker-transition").count(), expected.breaker.transitions, "transitions shown");

  // Limits: each utilisation row with its numbers and a bar.
  const limitRows = byId("limit-row");
  eq(await limitRows.count(), expected.limits.length, "limit rows");
  for (let i = 0; i < expected.limits.length; i++) {
    const u = expected.limits[i];
    const row = limitRows.nth(i);
    eq(await row.getAttribute("data-limit"), u.limit, `limit ${i} name`);
    const used = row.getByTestId("limit-used");
    const allowed = row.getByTestId("limit-allowed");
    eq(await used.textContent(), usd(u.used), `${u.limit} used`);
    eq(await used.getAttribute("data-value"), u.used === null ? null : raw(u.used), `${u.limit} used value`);
    eq(await allowed.textContent(), usd(u.allowed), `${u.limit} allowed`);
    const bar = row.getByTestId("limit-bar");
    check(await bar.isVisible(), `${u.limit} bar visible`);
    if (u.used !== null && u.allowed > 0) {
      const permille = Math.floor((u.used * 1000) / u.allowed);
      eq(await bar.getAttribute("data-value"), String(permille), `${u.limit} bar per mille`);
    }
  }

  // Charts: both have the points of the curve.
  const eqPoints = byId("equity-chart-point");
  eq(await eqPoints.count(), expected.equity.points, "equity chart points");
  check(expected.equity.points > 0, "the seeded equity curve has points");
  const ddPoints = byId("drawdown-chart-point");
  check((await ddPoints.count()) > 0, "drawdown chart has points");
  eq(await value("equity-last"), raw(expected.equity.last_equity_usd_micros), "last equity");
  eq(await text("equity-last"), usd(expected.equity.last_equity_usd_micros), "last equity text");
  eq(await value("drawdown-last"), raw(expected.equity.last_drawdown_bps), "last drawdown");
  eq(
    await eqPoints.last().getAttribute("data-value"),
    raw(expected.equity.last_equity_usd_micros),
    "last equity point",
  );

  // Positions.
  const posRows = byId("position-row");
  eq(await posRows.count(), expected.positions.length, "position rows");
  for (const p of expected.positions) {
    const row = page.locator(`[data-testid="position-row"][data-market="${p.market}"]`);
    eq(await row.getByTestId("position-qty").textContent(), qty(p.qty_e2), `${p.market} contracts`);
    eq(await row.getByTestId("position-qty").getAttribute("data-value"), raw(p.qty_e2), `${p.market} qty`);
  }

  // Refusals with their codes.
  const refRows = byId("refusal-row");
  eq(await refRows.count(), expected.refusals.length, "refusal rows");
  for (let i = 0; i < expected.refusals.length; i++) {
    const r = expected.refusals[i];
    const row = refRows.nth(i);
    eq(await row.getAttribute("data-order"), r.client_order_id, `refusal ${i} order`);
    const codes = r.codes || [];
    eq(await row.getByTestId("refusal-codes").getAttribute("data-value"), raw(codes), `refusal ${i} codes`);
    const shown = await row.getByTestId("refusal-codes").textContent();
    for (const c of codes) check(shown.includes(c), `refusal ${i} shows ${c}: ${shown}`);
  }

  // Audit log.
  eq(await value("audit-size"), raw(expected.audit.size), "audit size");
  eq(await text("audit-size"), group(expected.audit.size), "audit size text");
  eq(await value("anchor-count"), raw(expected.audit.anchors), "anchor count");
  eq(await value("anchor-tree-size"), raw(expected.audit.anchor_tree_size), "anchor tree size");
  eq(await value("anchor-age"), raw(expected.audit.anchor_timestamp_ms), "anchor time");
  check(/^\d+ (s|min)$/.test(await text("anchor-age")), `anchor age: ${await text("anchor-age")}`);
  eq(await value("verification-last"), expected.audit.verification.id, "last verification");
  check(
    (await text("verification-last")).startsWith(expected.audit.verification.valid ? "valid" : "INVALID"),
    `verification result: ${await text("verification-last")}`,
  );
  check(
    (await text("verification-last")).includes(`${group(expected.audit.verification.checked)} events checked`),
    `verification count: ${await text("verification-last")}`,
  );

  // Runs and their steps.
  for (const run of expected.runs) {
    const box = page.locator(`[data-testid="run"][data-run-id="${run.run_id}"]`);
    eq(await box.count(), 1, `run ${run.job} ${run.run_id} shown`);
    eq(await box.getByTestId("run-status").textContent(), run.status, `run ${run.job} status`);
    eq(await box.getByTestId("run-step").count(), run.steps.length, `run ${run.job} steps`);
    for (const s of run.steps) {
      const step = box.locator(`[data-testid="run-step"][data-step="${s.step}"]`);
      eq(await step.getAttribute("data-value"), s.status, `run ${run.job} step ${s.step}`);
    }
  }

  // Pending approvals.
  eq(await byId("approval-row").count(), expected.approvals.length, "pending approvals");
  for (const id of expected.approvals) {
    eq(await page.locator(`[data-testid="approval-row"][data-id="${id}"]`).count(), 1, `approval ${id}`);
  }

  // Gate.
  eq(await text("gate-status"), expected.gate.status, "gate status");
  eq(await text("gate-run-id"), expected.gate.run_id, "gate run id");
  eq(await byId("gate-check").count(), expected.gate.checks.length, "gate checks");
  for (const c of expected.gate.checks) {
    const item = page.locator(`[data-testid="gate-check"][data-check="${c.name}"]`);
    eq(await item.getAttribute("data-value"), String(c.pass), `gate check ${c.name}`);
  }

  await page.screenshot({ path: screenshot, fullPage: true });

  // 4. Emergency halt: a reason, then a confirmation, then the transition.
  await byId("halt-button").click();
  await byId("halt-step-reason").waitFor({ state: "visible" });
  await byId("halt-continue").click(); // without a reason: refused in the page
  await byId("halt-error").waitFor({ state: "visible" });
  check(await byId("halt-step-confirm").isHidden(), "no confirmation without a reason");
  await byId("halt-reason").fill(HALT_REASON);
  await byId("halt-continue").click();
  await byId("halt-step-confirm").waitFor({ state: "visible" });
  eq(await text("halt-confirm-reason"), HALT_REASON, "the confirmation repeats the reason");
  eq(await text("breaker-state"), expected.breaker.state, "nothing changed before confirming");
  await byId("halt-confirm").click();
  await page.waitForFunction(
    () => document.querySelector('[data-testid="breaker-state"]')?.textContent === "HALT",
  );
  eq(await text("breaker-badge"), "HALT", "badge after the halt");
  eq(await text("breaker-reason"), HALT_REASON, "reason after the halt");
  eq(await byId("breaker-transition").count(), Math.min(expected.breaker.transitions + 1, 50), "one more transition");
  check(await byId("halt-error").isHidden(), `halt error: ${await text("halt-error")}`);

  await page.screenshot({ path: screenshot.replace(/\.png$/, "-halted.png"), fullPage: true });
} catch (e) {
  failures.push(`exception: ${e.stack || e}`);
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}

for (const p of problems) failures.push(p);
if (failures.length > 0) {
  console.error(`dashboard browser test: ${failures.length} failure(s)`);
  for (const f of failures) console.error(" - " + f);
  process.exit(1);
}
console.log("dashboard browser test: ok");
