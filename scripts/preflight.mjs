// The strict dependency preflight (runbook §1–3), driven by ./scripts/preflight.sh, which sets
// PATH, ADVISORY_DB and the pinned tool versions. Node (already required for wrangler) does the
// JSON work so the script needs nothing else.
//
// Checks, all run even after one fails so the report shows everything:
//   settings        ENABLE_SECURITY_CHECKS / SECURITY_STRICT / SECURITY_HARD_FAIL are 0 or 1
//   allowlist       security/allowlist.toml: every entry complete, unexpired, at most 90 days out;
//                   SECURITY_IGNORE_VULN_IDS names only ids that have an entry
//   advisory-db     the offline snapshot exists and is younger than deny.toml's staleness limit
//   cargo-lock      `cargo metadata --locked`: Cargo.lock matches every Cargo.toml
//   npm-lock        `npm ci --dry-run` and `npm ls --package-lock-only`: package-lock.json
//                   matches package.json
//   cargo-audit     RustSec advisories for Cargo.lock, offline
//   cargo-deny      advisories, licenses, bans, sources, offline
// Every run writes reports/security_preflight_<UTC timestamp>.json.

import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const ROOT = process.env.PREFLIGHT_ROOT;
if (!ROOT) {
  console.error("preflight.mjs is run by scripts/preflight.sh");
  process.exit(2);
}
const DAY_MS = 86_400_000;
/** Allowlist entries may not be granted for longer than this (runbook §3: review dates). */
const MAX_ALLOW_DAYS = 90;
/** Past this age the snapshot is flagged loudly (cargo-deny's own default). */
const WARN_DB_AGE_DAYS = 90;

const now = new Date();
const today = now.toISOString().slice(0, 10);

const report = {
  schema: "paul-p/security-preflight/1",
  started_at: now.toISOString(),
  finished_at: null,
  verdict: null,
  exit_code: null,
  overrides: {},
  repository: {},
  tools: {},
  advisory_db: {},
  checks: [],
  findings: [],
  allowlisted: [],
  warnings: [],
};

function log(msg) {
  process.stderr.write(`[preflight] ${msg}\n`);
}

function warn(msg) {
  report.warnings.push(msg);
  log(`WARNING: ${msg}`);
}

function check(name, status, detail) {
  report.checks.push({ name, status, ...detail });
  const extra = detail?.reason ? ` — ${detail.reason}` : "";
  log(`${status === "pass" ? "ok  " : status === "skipped" ? "skip" : "FAIL"} ${name}${extra}`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...(opts.env ?? {}) },
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  return {
    status: r.error ? null : r.status,
    stdout: r.stdout ?? "",
    stderr: r.stderr ?? "",
    error: r.error ? String(r.error.message) : null,
  };
}

function tail(text, lines = 12) {
  return text.trim().split("\n").slice(-lines).join("\n");
}

// ---------------------------------------------------------------------------------------------
// Settings

function flag(name, dflt) {
  const raw = process.env[name];
  const value = raw === undefined || raw === "" ? dflt : raw.trim();
  report.overrides[name] = value;
  if (value !== "0" && value !== "1") {
    return { value: dflt, invalid: `${name}=${JSON.stringify(raw)} is neither 0 nor 1` };
  }
  return { value };
}

const enabled = flag("ENABLE_SECURITY_CHECKS", "1");
const strict = flag("SECURITY_STRICT", "1");
const hardFail = flag("SECURITY_HARD_FAIL", "1");
const ignoreIds = (process.env.SECURITY_IGNORE_VULN_IDS ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
report.overrides.SECURITY_IGNORE_VULN_IDS = ignoreIds;
report.overrides.ADVISORY_DB = process.env.ADVISORY_DB ?? null;
const STRICT = strict.value === "1";
// An unreadable setting never weakens the run: it fails it, and hard-fail stays on.
const HARD_FAIL = hardFail.value === "1" || Boolean(hardFail.invalid);

report.repository = repositoryState();
report.tools.cargo = { version: run("cargo", ["--version"]).stdout.trim().split(/\s+/)[1] ?? null };
report.tools.node = { version: process.versions.node };
report.tools.npm = { version: run("npm", ["--version"]).stdout.trim() || null };

function repositoryState() {
  const head = run("git", ["rev-parse", "HEAD"]);
  const dirty = run("git", ["status", "--porcelain", "--untracked-files=no"]);
  return {
    root: ROOT,
    commit: head.status === 0 ? head.stdout.trim() : null,
    dirty: dirty.status === 0 ? dirty.stdout.trim().length > 0 : null,
  };
}

function finish() {
  const failed = report.checks.filter((c) => c.status === "fail");
  const unresolved = report.findings.length;
  if (report.verdict !== "SKIPPED") {
    report.verdict = failed.length === 0 && unresolved === 0 ? "PASS" : "FAIL";
  }
  let code = 0;
  if (report.verdict === "FAIL") {
    if (HARD_FAIL) {
      code = 1;
    } else {
      warn(
        "SECURITY_HARD_FAIL=0: the preflight FAILED and the run continues anyway. " +
          "Use only for a short maintenance window; restore SECURITY_HARD_FAIL=1 immediately.",
      );
      report.continued_despite_failure = true;
    }
  }
  report.exit_code = code;
  report.finished_at = new Date().toISOString();
  const dir = path.join(ROOT, "reports");
  fs.mkdirSync(dir, { recursive: true });
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  let file = path.join(dir, `security_preflight_${stamp}.json`);
  for (let n = 2; fs.existsSync(file); n++) {
    file = path.join(dir, `security_preflight_${stamp}-${n}.json`);
  }
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + "\n");

  const banner = "=".repeat(78);
  log(banner);
  log(
    `verdict: ${report.verdict}` +
      (failed.length ? ` (failed checks: ${failed.map((c) => c.name).join(", ")})` : "") +
      (unresolved ? ` (unresolved findings: ${report.findings.map(describe).join("; ")})` : ""),
  );
  if (report.allowlisted.length) {
    log(`allowlisted: ${report.allowlisted.map((a) => `${a.id} until ${a.expires}`).join(", ")}`);
  }
  if (report.warnings.length) log(`warnings: ${report.warnings.length} (see the report)`);
  if (report.continued_despite_failure) {
    log("!!! SECURITY PREFLIGHT FAILED — CONTINUING BECAUSE SECURITY_HARD_FAIL=0 !!!");
  }
  if (report.verdict === "SKIPPED") {
    log("!!! SECURITY PREFLIGHT SKIPPED — ENABLE_SECURITY_CHECKS=0 !!!");
  }
  log(banner);
  process.stdout.write(`report: ${path.relative(process.cwd(), file) || file}\n`);
  process.exit(code);
}

function describe(f) {
  return f.id ? `${f.id} ${f.crate ?? ""}@${f.version ?? "?"}` : `${f.kind}: ${f.message}`;
}

for (const s of [enabled, strict, hardFail]) {
  if (s.invalid) check("settings", "fail", { reason: s.invalid });
}

if (enabled.value === "0" && !enabled.invalid) {
  report.verdict = "SKIPPED";
  warn(
    "ENABLE_SECURITY_CHECKS=0: no dependency, advisory or lock-file check ran. " +
      "Nothing about this build's dependencies is known to be safe.",
  );
  finish();
}

// ---------------------------------------------------------------------------------------------
// Allowlist

/**
 * Reads security/allowlist.toml. The format is a strict subset of TOML: comments, blank lines,
 * `[[allow]]` headers and `key = "string"` lines; anything else is an error, so nothing can be
 * half-understood.
 */
function parseAllowlist(text) {
  const entries = [];
  const errors = [];
  let current = null;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    const at = `line ${i + 1}`;
    if (line === "" || line.startsWith("#")) return;
    if (line === "[[allow]]") {
      current = { line: i + 1, fields: {} };
      entries.push(current);
      return;
    }
    const m = line.match(/^([a-z_]+)\s*=\s*"((?:[^"\\]|\\["\\])*)"\s*(#.*)?$/);
    if (!m) {
      errors.push(`${at}: expected [[allow]] or key = "value"`);
      return;
    }
    if (!current) {
      errors.push(`${at}: ${m[1]} outside an [[allow]] entry`);
      return;
    }
    if (!["id", "justification", "expires", "tracking"].includes(m[1])) {
      errors.push(`${at}: unknown field ${m[1]}`);
      return;
    }
    if (m[1] in current.fields) {
      errors.push(`${at}: ${m[1]} given twice`);
      return;
    }
    current.fields[m[1]] = m[2].replace(/\\(["\\])/g, "$1");
  });
  return { entries, errors };
}

function validateAllowlist() {
  const file = path.join(ROOT, "security", "allowlist.toml");
  if (!fs.existsSync(file)) {
    check("allowlist", "fail", { reason: "security/allowlist.toml is missing" });
    return new Map();
  }
  const { entries, errors } = parseAllowlist(fs.readFileSync(file, "utf8"));
  const valid = new Map();
  for (const e of entries) {
    const f = e.fields;
    const where = `entry at line ${e.line}${f.id ? ` (${f.id})` : ""}`;
    const missing = ["id", "justification", "expires", "tracking"].filter(
      (k) => !(f[k] ?? "").trim(),
    );
    if (missing.length) {
      errors.push(`${where}: missing ${missing.join(", ")}`);
      continue;
    }
    if (!/^\d{4}-\d{2}-\d{2}$/.test(f.expires) || isNaN(Date.parse(`${f.expires}T00:00:00Z`))) {
      errors.push(`${where}: expires ${JSON.stringify(f.expires)} is not YYYY-MM-DD`);
      continue;
    }
    const expires = Date.parse(`${f.expires}T00:00:00Z`);
    const todayMs = Date.parse(`${today}T00:00:00Z`);
    if (expires < todayMs) {
      errors.push(`${where}: expired on ${f.expires}`);
      continue;
    }
    if (expires - todayMs > MAX_ALLOW_DAYS * DAY_MS) {
      errors.push(`${where}: expires ${f.expires}, more than ${MAX_ALLOW_DAYS} days ahead`);
      continue;
    }
    if (f.justification.trim().length < 20) {
      errors.push(`${where}: justification too short to explain anything`);
      continue;
    }
    if (valid.has(f.id)) {
      errors.push(`${where}: ${f.id} listed twice`);
      continue;
    }
    valid.set(f.id, { ...f, used: false });
  }
  for (const id of ignoreIds) {
    if (!valid.has(id)) {
      errors.push(
        `SECURITY_IGNORE_VULN_IDS names ${id}, which has no valid entry in security/allowlist.toml`,
      );
    }
  }
  report.allowlist = {
    file: "security/allowlist.toml",
    entries: entries.length,
    valid: [...valid.keys()],
  };
  if (errors.length) {
    check("allowlist", "fail", { reason: errors.join("; "), errors });
  } else {
    check("allowlist", "pass", { reason: `${valid.size} entr${valid.size === 1 ? "y" : "ies"}` });
  }
  return valid;
}

const allow = validateAllowlist();

// ---------------------------------------------------------------------------------------------
// Advisory database

function denyStalenessDays() {
  const text = fs.readFileSync(path.join(ROOT, "deny.toml"), "utf8");
  const m = text.match(/^maximum-db-staleness\s*=\s*"P(\d+)D"/m);
  return m ? Number(m[1]) : null;
}

function advisoryDb() {
  const dir = process.env.ADVISORY_DB;
  const info = { path: dir ?? null };
  report.advisory_db = info;
  if (!dir || !fs.existsSync(path.join(dir, "crates"))) {
    check("advisory-db", "fail", {
      reason: `no advisory database at ${dir ?? "(unset)"}; set ADVISORY_DB to the offline RustSec snapshot`,
    });
    return null;
  }
  const snapshot = path.join(dir, "SNAPSHOT");
  if (fs.existsSync(snapshot)) {
    const text = fs.readFileSync(snapshot, "utf8");
    info.snapshot = text.split("\n")[0].trim();
    info.commit = text.match(/commit ([0-9a-f]{40})/)?.[1] ?? null;
    info.date = text.match(/\((\d{4}-\d{2}-\d{2})\)/)?.[1] ?? null;
    info.source = "SNAPSHOT";
  } else {
    const git = run("git", ["-C", dir, "log", "-1", "--format=%H %cs"]);
    if (git.status === 0) {
      [info.commit, info.date] = git.stdout.trim().split(" ");
      info.source = "git";
    }
  }
  info.advisories = countAdvisories(dir);
  info.max_age_days = denyStalenessDays();
  if (!info.date || !info.max_age_days) {
    check("advisory-db", "fail", {
      reason: "cannot tell the snapshot's date (SNAPSHOT or git) or deny.toml's staleness limit",
    });
    return null;
  }
  info.age_days = Math.floor((Date.parse(`${today}T00:00:00Z`) - Date.parse(`${info.date}T00:00:00Z`)) / DAY_MS);
  if (info.age_days > info.max_age_days) {
    check("advisory-db", "fail", {
      reason: `snapshot of ${info.date} is ${info.age_days} days old (limit ${info.max_age_days})`,
    });
    return null;
  }
  if (info.age_days > WARN_DB_AGE_DAYS) {
    warn(
      `advisory database snapshot of ${info.date} is ${info.age_days} days old: advisories ` +
        "published since then are not checked. Refresh the snapshot.",
    );
  }
  check("advisory-db", "pass", {
    reason: `snapshot ${info.commit?.slice(0, 12) ?? "?"} of ${info.date} (${info.age_days} days old)`,
  });
  return info;
}

function countAdvisories(dir) {
  let n = 0;
  for (const sub of ["crates", "rust"]) {
    const base = path.join(dir, sub);
    if (!fs.existsSync(base)) continue;
    for (const pkg of fs.readdirSync(base)) {
      const p = path.join(base, pkg);
      if (fs.statSync(p).isDirectory()) {
        n += fs.readdirSync(p).filter((f) => f.endsWith(".md")).length;
      }
    }
  }
  return n;
}

const db = advisoryDb();

// ---------------------------------------------------------------------------------------------
// Lock files

function cargoLock() {
  const r = run("cargo", ["metadata", "--locked", "--format-version", "1"]);
  if (r.status === 0) {
    const meta = JSON.parse(r.stdout);
    check("cargo-lock", "pass", { reason: `${meta.packages.length} packages resolved from Cargo.lock` });
  } else {
    check("cargo-lock", "fail", {
      reason: "Cargo.lock does not match the manifests (cargo metadata --locked failed)",
      output: tail(r.stderr),
    });
  }
}

function npmLock() {
  if (!fs.existsSync(path.join(ROOT, "package.json"))) {
    check("npm-lock", "skipped", { reason: "no package.json" });
    return;
  }
  const ci = run("npm", [
    "ci", "--dry-run", "--ignore-scripts", "--no-audit", "--no-fund", "--offline", "--loglevel=error",
  ]);
  const ls = run("npm", ["ls", "--package-lock-only", "--all", "--loglevel=error"]);
  if (ci.status === 0 && ls.status === 0) {
    check("npm-lock", "pass", { reason: "package-lock.json agrees with package.json" });
  } else {
    check("npm-lock", "fail", {
      reason: "package-lock.json and package.json disagree (npm ci --dry-run / npm ls)",
      output: tail(`${ci.stderr}\n${ls.stdout}\n${ls.stderr}`),
    });
  }
}

cargoLock();
npmLock();

// ---------------------------------------------------------------------------------------------
// Advisory and policy tools

const findings = new Map();

/** Records an advisory hit; the same advisory from both tools is one finding. */
function addAdvisory({ id, aliases = [], crate, version, kind, title, url, patched }, tool) {
  const key = `${id}|${crate}|${version}`;
  const f = findings.get(key) ?? {
    id, aliases, crate, version, kind, title, url: url ?? null, patched: patched ?? [], tools: [],
  };
  if (!f.tools.includes(tool)) f.tools.push(tool);
  findings.set(key, f);
}

/** Records a policy violation (license, ban, source); these are fixed, never allowlisted. */
function addPolicy(kind, message, tool) {
  findings.set(`${kind}|${message}`, { id: null, kind, message, tools: [tool] });
}

function toolVersion(bin, sub, pinned) {
  const r = run(bin, [sub, "--version"]);
  const have = r.status === 0 ? r.stdout.trim().split(/\s+/).pop() : null;
  report.tools[sub] = { version: have, pinned: pinned ?? null };
  if (!have) return null;
  if (pinned && have !== pinned) {
    const msg = `${sub} ${have} is installed but ${pinned} is pinned (run ./scripts/setup.sh)`;
    if (STRICT) return { mismatch: msg };
    warn(msg);
  }
  return { have };
}

function missingTool(name) {
  const reason = `${name} is not installed (./scripts/setup.sh installs it)`;
  if (STRICT) {
    check(name, "fail", { reason });
  } else {
    warn(`SECURITY_STRICT=0: ${reason}; check skipped`);
    check(name, "skipped", { reason });
  }
}

function cargoAudit() {
  const v = toolVersion("cargo", "audit", process.env.CARGO_AUDIT_VERSION);
  if (!v) return missingTool("cargo-audit");
  if (v.mismatch) return check("cargo-audit", "fail", { reason: v.mismatch });
  if (!db) return check("cargo-audit", "fail", { reason: "no usable advisory database" });
  const r = run("cargo", [
    "audit", "--db", db.path, "--no-fetch", "--stale", "--json", "--color", "never",
    "--file", path.join(ROOT, "Cargo.lock"),
  ]);
  let out;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    return check("cargo-audit", "fail", {
      reason: `cargo audit did not produce a report (exit ${r.status})`,
      output: tail(`${r.stderr}\n${r.stdout}`),
    });
  }
  for (const v of out.vulnerabilities?.list ?? []) {
    addAdvisory(
      {
        id: v.advisory.id,
        aliases: v.advisory.aliases ?? [],
        crate: v.package.name,
        version: v.package.version,
        kind: "vulnerability",
        title: v.advisory.title,
        url: v.advisory.url,
        patched: v.versions?.patched ?? [],
      },
      "cargo-audit",
    );
  }
  for (const [kind, list] of Object.entries(out.warnings ?? {})) {
    for (const w of list ?? []) {
      if (!w.advisory) continue;
      addAdvisory(
        {
          id: w.advisory.id,
          aliases: w.advisory.aliases ?? [],
          crate: w.package.name,
          version: w.package.version,
          kind: w.advisory.informational ?? kind,
          title: w.advisory.title,
          url: w.advisory.url,
          patched: w.versions?.patched ?? [],
        },
        "cargo-audit",
      );
    }
  }
  const count = out.lockfile?.["dependency-count"];
  check("cargo-audit", "pass", {
    reason: `ran against ${count ?? "?"} locked packages`,
  });
}

/**
 * cargo-deny wants its database as a git repository: build one from the snapshot in a cache
 * directory, dated with the snapshot's date (so cargo-deny's staleness check sees the real age),
 * and rebuild it only when the snapshot's content changes.
 */
function denyDatabase() {
  const cache = process.env.ADVISORY_DB_CACHE || path.join(ROOT, "target", "advisory-db-git");
  // cargo-deny names the checkout after its URL (last path segment + xxhash64 of the URL):
  // this is the directory for deny.toml's db-urls with the pinned cargo-deny (its debug log
  // prints "Opening advisory database at …").
  const repo = path.join(cache, "advisory-db-3157b0e258782691");
  const fingerprint = snapshotFingerprint(db.path);
  const stampFile = path.join(cache, "fingerprint");
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, "utf8") === fingerprint && fs.existsSync(path.join(repo, ".git"))) {
    return cache;
  }
  log("building cargo-deny's advisory repository from the snapshot");
  fs.rmSync(cache, { recursive: true, force: true });
  fs.mkdirSync(repo, { recursive: true });
  fs.cpSync(db.path, repo, { recursive: true });
  for (const f of walk(repo)) fs.chmodSync(f, 0o644);
  const date = `${db.date}T00:00:00Z`;
  const env = {
    GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date,
    GIT_AUTHOR_NAME: "preflight", GIT_AUTHOR_EMAIL: "preflight@localhost",
    GIT_COMMITTER_NAME: "preflight", GIT_COMMITTER_EMAIL: "preflight@localhost",
  };
  for (const args of [
    ["init", "-q", "-b", "main"],
    ["add", "-A"],
    ["-c", "commit.gpgsign=false", "commit", "-q", "-m", `offline snapshot: ${db.snapshot ?? db.commit}`],
  ]) {
    const r = run("git", ["-C", repo, ...args], { env });
    if (r.status !== 0) throw new Error(`git ${args[0]} failed: ${tail(r.stderr)}`);
  }
  // cargo-deny takes the newer of the HEAD commit date and the HEAD file's mtime.
  const when = new Date(date);
  fs.utimesSync(path.join(repo, ".git", "HEAD"), when, when);
  fs.writeFileSync(stampFile, fingerprint);
  return cache;
}

function* walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== ".git") {
        fs.chmodSync(p, 0o755);
        yield* walk(p);
      }
    } else yield p;
  }
}

function snapshotFingerprint(dir) {
  const h = crypto.createHash("sha256");
  const files = [...walk0(dir)].sort();
  for (const f of files) {
    h.update(path.relative(dir, f));
    h.update("\0");
    h.update(fs.readFileSync(f));
    h.update("\0");
  }
  return h.digest("hex");
}

function* walk0(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== ".git") yield* walk0(p);
    } else yield p;
  }
}

const ADVISORY_CODES = new Set(["vulnerability", "unmaintained", "unsound", "notice", "yanked"]);

function cargoDeny() {
  const v = toolVersion("cargo", "deny", process.env.CARGO_DENY_VERSION);
  if (!v) return missingTool("cargo-deny");
  if (v.mismatch) return check("cargo-deny", "fail", { reason: v.mismatch });
  if (!db) return check("cargo-deny", "fail", { reason: "no usable advisory database" });
  let cache;
  try {
    cache = denyDatabase();
  } catch (e) {
    return check("cargo-deny", "fail", { reason: `cannot build its advisory repository: ${e.message}` });
  }
  const r = run(
    "cargo",
    [
      // --offline: never fetch the advisory database (nor anything else); the crates themselves
      // are already in Cargo's cache after the cargo-lock check.
      "deny", "--offline", "--locked", "--format", "json", "--color", "never", "--log-level", "warn",
      "--config", path.join(ROOT, "deny.toml"),
      "check", "advisories", "bans", "licenses", "sources",
    ],
    { env: { PAULP_DENY_DB_PATH: cache } },
  );
  const lines = `${r.stdout}\n${r.stderr}`.split("\n").filter((l) => l.startsWith("{"));
  let summary = null;
  const toolErrors = [];
  const duplicates = [];
  for (const line of lines) {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      continue;
    }
    if (msg.type === "summary") summary = msg.fields;
    if (msg.type === "log" && /error/i.test(msg.fields?.level ?? "")) toolErrors.push(msg.fields.message);
    if (msg.type !== "diagnostic") continue;
    const d = msg.fields;
    const krate = d.graphs?.[0]?.Krate;
    if (d.advisory && ADVISORY_CODES.has(d.code)) {
      addAdvisory(
        {
          id: d.advisory.id,
          aliases: d.advisory.aliases ?? [],
          crate: krate?.name ?? d.advisory.package,
          version: krate?.version,
          kind: d.advisory.informational ?? d.code,
          title: d.advisory.title,
          url: d.advisory.url,
          patched: d.advisory.patched ?? [],
        },
        "cargo-deny",
      );
      continue;
    }
    const text = `${d.code}: ${d.message}${krate ? ` (${krate.name}@${krate.version})` : ""}`;
    if (d.severity === "error") {
      addPolicy(d.code, text, "cargo-deny");
    } else if (d.code === "duplicate") {
      const versions = (d.graphs ?? []).map((g) => `${g.Krate.name}@${g.Krate.version}`);
      duplicates.push(versions.length ? versions.join(" + ") : d.message);
    } else if (d.severity === "warning") {
      warn(`cargo-deny: ${text}`);
    }
  }
  if (duplicates.length) {
    report.duplicates = duplicates;
    warn(`cargo-deny: duplicate crate versions in the tree: ${duplicates.join(", ")}`);
  }
  if (!summary || toolErrors.length) {
    return check("cargo-deny", "fail", {
      reason: `cargo deny did not complete (exit ${r.status})`,
      output: tail([...toolErrors, r.stderr].join("\n")),
    });
  }
  check("cargo-deny", "pass", {
    reason: "ran advisories, bans, licenses, sources",
    summary,
  });
}

cargoAudit();
cargoDeny();

// ---------------------------------------------------------------------------------------------
// Verdict

const INFORMATIONAL = new Set(["unmaintained", "unsound", "notice", "yanked"]);

for (const f of findings.values()) {
  const entry = f.id ? [f.id, ...(f.aliases ?? [])].map((i) => allow.get(i)).find(Boolean) : null;
  if (entry) {
    entry.used = true;
    report.allowlisted.push({
      id: f.id,
      crate: f.crate,
      version: f.version,
      kind: f.kind,
      title: f.title,
      justification: entry.justification,
      expires: entry.expires,
      tracking: entry.tracking,
      tools: f.tools,
    });
  } else if (f.id && INFORMATIONAL.has(f.kind) && !STRICT) {
    warn(`SECURITY_STRICT=0: informational advisory not enforced: ${describe(f)} (${f.kind})`);
    report.informational = [...(report.informational ?? []), f];
  } else {
    report.findings.push(f);
  }
}
for (const [id, entry] of allow) {
  if (!entry.used) warn(`allowlist entry ${id} matched nothing: remove it`);
}
// A tool that ran but reported something unresolved has failed its check.
for (const c of report.checks) {
  const n = report.findings.filter((f) => f.tools.includes(c.name)).length;
  if (n && c.status === "pass") {
    c.status = "fail";
    c.reason += `; ${n} unresolved finding${n === 1 ? "" : "s"}`;
    log(`FAIL ${c.name} — ${n} unresolved finding${n === 1 ? "" : "s"}`);
  }
}

finish();
