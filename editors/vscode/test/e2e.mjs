// End-to-end test of the packaged extension in a real VS Code (code-server), driven by Debian's
// chromium through playwright-core. Run by tests/editors/test_vscode.py (`make test-editors`).
//
//   node test/e2e.mjs --code-server DIR --vsix FILE --file PROGRAM --line N --text TEXT
//                     [--screenshot PNG] [--timeout-s S] [--server KPTR_LSP]
//                     [--failure-screenshot PNG] [--restricted]
//
// DIR is where ../shared/tools/install-code-server.sh put code-server. PROGRAM is opened from
// its own folder (the workspace); the extension must find the server by itself (.venv of a
// parent folder), so kptr-lsp is removed from PATH. N is the 1-based line where the verifier
// error must land, TEXT a part of its message. Prints one JSON line with what it saw; exit 0
// when the diagnostic was found on line N. Every process it starts is killed before it exits.
// `related` in the JSON: the diagnostic's related rows in the Problems view ({line, message}:
// the causal path, `fix here:`), read with the panel made tall enough to draw them all.
// --restricted: workspace trust on and the folder left untrusted (Restricted Mode); the run
// stops after the diagnostic, reporting the extension's output and the initialize request.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: opt } = parseArgs({
  options: {
    "code-server": { type: "string" },
    vsix: { type: "string" },
    file: { type: "string" },
    line: { type: "string" },
    text: { type: "string" },
    screenshot: { type: "string" },
    "timeout-s": { type: "string", default: "180" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    server: { type: "string" }, // kptrLsp.server.path; default: the extension finds it
    "failure-screenshot": { type: "string" }, // where to put a screenshot when it fails
    restricted: { type: "boolean", default: false }, // an untrusted workspace: Restricted Mode
  },
});
for (const required of ["code-server", "vsix", "file", "line", "text"]) {
  if (!opt[required]) {
    console.error(`missing --${required}`);
    process.exit(2);
  }
}
const entry = path.join(path.resolve(opt["code-server"]), "node_modules/code-server/out/node/entry.js");
const file = path.resolve(opt.file);
const folder = path.dirname(file);
const wantLine = Number(opt.line);
const deadline = Date.now() + Number(opt["timeout-s"]) * 1000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kptr-vscode-e2e-"));
const log = (msg) => console.error(`[e2e ${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
const t0 = Date.now();

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// PATH without kptr-lsp, so the extension's .venv discovery is what finds the server.
function pathWithoutServer() {
  return (process.env.PATH ?? "")
    .split(path.delimiter)
    .filter((dir) => dir && !fs.existsSync(path.join(dir, "kptr-lsp")))
    .join(path.delimiter);
}

const userData = path.join(tmp, "user-data");
const extensions = path.join(tmp, "extensions");
const browserProfile = path.join(tmp, "chromium-profile");
// code-server's extension host puts its IPC sockets in the temp dir: keep them in ours.
const privateTmp = path.join(tmp, "tmp");
fs.mkdirSync(privateTmp);
const env = {
  ...process.env,
  TMPDIR: privateTmp,
  XDG_RUNTIME_DIR: privateTmp,
  PATH: pathWithoutServer(),
  HOME: process.env.HOME ?? tmp,
  XDG_CONFIG_HOME: path.join(tmp, "config"),
  XDG_DATA_HOME: path.join(tmp, "data"),
};
delete env.VIRTUAL_ENV;
const common = [
  "--config", path.join(tmp, "code-server.yaml"),
  "--user-data-dir", userData,
  "--extensions-dir", extensions,
];

let codeServer;
let context;
const result = { line: null, message: null, problems: [], squiggleLines: [], ok: false };

let cleaning;
function cleanup() {
  cleaning ??= doCleanup();
  return cleaning;
}

async function doCleanup() {
  if (context) {
    await context.close().catch(() => {});
  }
  if (codeServer && codeServer.exitCode === null && codeServer.signalCode === null) {
    try {
      process.kill(-codeServer.pid, "SIGTERM"); // its whole process group
    } catch {
      /* already gone */
    }
    const gone = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), 5000);
      codeServer.once("exit", () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!gone) {
      try {
        process.kill(-codeServer.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

async function main() {
  fs.writeFileSync(path.join(tmp, "code-server.yaml"), "auth: none\n");
  fs.mkdirSync(path.join(userData, "User"), { recursive: true });
  fs.writeFileSync(
    path.join(userData, "User", "settings.json"),
    JSON.stringify({
      "workbench.startupEditor": "none",
      "workbench.tips.enabled": false,
      "workbench.enableExperiments": false,
      ...(opt.restricted
        ? {
            "security.workspace.trust.enabled": true,
            "security.workspace.trust.startupPrompt": "never",
            "security.workspace.trust.banner": "never",
            "security.workspace.trust.untrustedFiles": "open",
            "security.workspace.trust.emptyWindow": false,
          }
        : { "security.workspace.trust.enabled": false }),
      "telemetry.telemetryLevel": "off",
      "extensions.autoCheckUpdates": false,
      "extensions.autoUpdate": false,
      "update.mode": "none",
      "editor.hover.enabled": false,
      "window.restoreWindows": "none",
      "git.openRepositoryInParentFolders": "never",
      "editor.stickyScroll.enabled": false,
      "kptrLsp.trace.server": "verbose",
      ...(opt.server ? { "kptrLsp.server.path": path.resolve(opt.server) } : {}),
    }),
  );

  log(`installing ${opt.vsix}`);
  const install = spawnSync(
    process.execPath,
    [entry, ...common, "--install-extension", path.resolve(opt.vsix), "--force"],
    { env, encoding: "utf8", timeout: 120_000 },
  );
  if (install.status !== 0 || !/successfully installed/i.test(install.stdout + install.stderr)) {
    throw new Error(`--install-extension failed (${install.status}):\n${install.stdout}\n${install.stderr}`);
  }

  const port = await freePort();
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}`;
  log(`starting code-server on 127.0.0.1:${port}, folder ${folder}`);
  codeServer = spawn(
    process.execPath,
    [entry, ...common, "--auth", "none", "--bind-addr", `127.0.0.1:${port}`,
      "--disable-telemetry", "--disable-update-check",
      ...(opt.restricted ? [] : ["--disable-workspace-trust"]),
      "--disable-getting-started-override", "--ignore-last-opened", folder],
    { env, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  let serverLog = "";
  codeServer.stdout.on("data", (d) => (serverLog += d));
  codeServer.stderr.on("data", (d) => (serverLog += d));
  const started = Date.now();
  while (!/HTTP server listening/.test(serverLog)) {
    if (codeServer.exitCode !== null || Date.now() - started > 60_000) {
      throw new Error(`code-server did not start:\n${serverLog}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  log("launching chromium");
  context = await chromium.launchPersistentContext(browserProfile, {
    executablePath: opt.chromium,
    headless: true,
    viewport: { width: 1360, height: 900 },
    // Signals are ours: cleanup() closes the browser, stops code-server and removes tmp.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(Math.max(1000, deadline - Date.now()));
  await page.goto(url);
  await page.locator(".monaco-workbench").waitFor();
  await page.locator(".explorer-folders-view, .explorer-viewlet").first().waitFor();
  log("workbench loaded; opening the file with Quick Open");

  const name = path.basename(file);
  await page.locator(".monaco-workbench").click({ position: { x: 640, y: 300 } });
  for (let attempt = 0; ; attempt++) {
    await page.keyboard.press("Control+P");
    const input = page.locator(".quick-input-widget input");
    try {
      await input.waitFor({ timeout: 5000 });
    } catch (e) {
      if (attempt < 5) continue;
      throw e;
    }
    await input.fill(name);
    const row = page.locator(".quick-input-list .monaco-list-row", { hasText: name }).first();
    try {
      await row.waitFor({ timeout: 10_000 });
    } catch (e) {
      await page.keyboard.press("Escape");
      if (attempt < 5) continue;
      throw e;
    }
    await page.keyboard.press("Enter");
    break;
  }
  await page.locator(`.tab[aria-label*="${name}"]`).first().waitFor();
  log("file open; waiting for the diagnostic in the Problems view");

  await page.keyboard.press("Control+Shift+M");
  const marker = page.locator(".markers-panel .monaco-list-row", { hasText: opt.text }).first();
  await marker.waitFor();
  for (const row of await page.locator(".markers-panel .monaco-list-row").all()) {
    const label = (await row.getAttribute("aria-label")) ?? (await row.innerText());
    result.problems.push(label.replace(/\s+/g, " ").trim());
  }
  const rowText = ((await marker.getAttribute("aria-label")) ?? "") + " " + (await marker.innerText());
  // "[Ln 19, Col 9]" in the row, or "at line 19 column 9" in its aria-label.
  const m = /Ln (\d+), Col (\d+)/.exec(rowText) ?? /line (\d+) column (\d+)/i.exec(rowText);
  result.line = m ? Number(m[1]) : null;
  result.message = rowText.replace(/\s+/g, " ").trim();

  // Clicking the problem reveals its line in the editor and puts the cursor there. The squiggle
  // in the editor: the overlay line that holds .squiggly-error, matched to the line number
  // drawn at the same height.
  await marker.click();
  await page.locator(".editor-instance .monaco-editor .squiggly-error").first().waitFor();
  await page.waitForTimeout(300);
  result.squiggleLines = await page.evaluate(() => {
    const editor = document.querySelector(".editor-instance .monaco-editor");
    if (!editor) return [];
    const numbers = new Map();
    for (const el of editor.querySelectorAll(".margin-view-overlays > div")) {
      const n = el.querySelector(".line-numbers");
      if (n) numbers.set(el.style.top, Number(n.textContent.trim()));
    }
    const lines = new Set();
    for (const sq of editor.querySelectorAll(".view-overlays .squiggly-error")) {
      const top = sq.parentElement?.style.top;
      if (numbers.has(top)) lines.add(numbers.get(top));
    }
    return [...lines].sort((a, b) => a - b);
  });
  result.ok = result.line === wantLine && result.squiggleLines.includes(wantLine);

  // The diagnostic's related information (the causal path, `fix here:`) is listed under it in
  // the Problems view, one row each: make the panel tall enough that every row is drawn (the
  // list renders only the rows in view), then read them.
  await page.keyboard.press("Control+B"); // the side bar closed: the rows' full width
  await growProblemsPanel(page, 400);
  await marker.click(); // the editor is shorter now: reveal the line again
  const related = page.locator(".markers-panel .monaco-list-row", { hasText: "fix here:" }).first();
  await related.waitFor({ timeout: 10_000 }).catch(() => {});
  result.related = [];
  for (const row of await page.locator(".markers-panel .monaco-list-row").all()) {
    // A related row's aria-label: `<message> at line N and character M in <file>`.
    const label = ((await row.getAttribute("aria-label")) ?? "").replace(/\s+/g, " ").trim();
    const r = /^(.*) at line (\d+) and character (\d+) in \S+$/.exec(label);
    if (r) result.related.push({ line: Number(r[2]), message: r[1] });
  }

  if (opt.screenshot) {
    fs.mkdirSync(path.dirname(path.resolve(opt.screenshot)), { recursive: true });
    await page.screenshot({ path: path.resolve(opt.screenshot) });
    result.screenshot = path.resolve(opt.screenshot);
  }
  log(`diagnostic: line ${result.line}, squiggles on ${JSON.stringify(result.squiggleLines)}`);

  if (opt.restricted) {
    // What the extension did in Restricted Mode: its own log, and the initialize request.
    result.output = channelLog("kptr-lsp");
    const trace = channelLog("kptr-lsp trace");
    const request = trace.indexOf("Sending request 'initialize");
    const at = request >= 0 ? trace.indexOf('"initializationOptions"', request) : -1;
    result.initialize = at >= 0 ? trace.slice(at, trace.indexOf("\n}", at) + 2) : "";
    return;
  }

  // A settings change reaches the server (didChangeConfiguration, server's keys only: no
  // "unknown setting" back) and re-analyses; kptr-lsp: Restart Server starts a new server
  // that publishes again. Seen in the output channels' log files.
  const publishes = () => (channelLog("kptr-lsp trace").match(/Received notification 'textDocument\/publishDiagnostics'/g) ?? []).length;
  const waitFor = async (what, predicate) => {
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  let seen = publishes();
  // As a person would: the Settings editor, search, type a new value.
  await page.keyboard.press("F1");
  await page.locator(".quick-input-widget input").fill(">Preferences: Open User Settings");
  await page.locator(".quick-input-list .monaco-list-row", { hasText: /Open User Settings$/ }).first().click();
  await page.locator(".settings-editor .suggest-input-container textarea, .settings-editor .settings-header input").first().waitFor();
  await page.keyboard.type("kptrLsp.verifierLogLevel");
  await page.locator(".settings-count-widget", { hasText: "1 Setting Found" }).waitFor();
  await page.waitForTimeout(500); // the list re-renders once more after the count
  const number = page.locator(".setting-item-number input").first();
  await number.click();
  await page.keyboard.press("Control+A");
  await page.keyboard.type("2");
  await page.keyboard.press("Tab");
  await waitFor("didChangeConfiguration", () =>
    /Sending notification 'workspace\/didChangeConfiguration'/.test(channelLog("kptr-lsp trace")) && publishes() > seen);
  result.settingsReachServer = !/unknown setting/.test(channelLog("kptr-lsp trace"));
  log("settings change sent and re-analysed");

  seen = publishes();
  await page.locator(".tab", { hasText: name }).first().click(); // back to the C file
  await page.keyboard.press("F1");
  const palette = page.locator(".quick-input-widget input");
  await palette.fill(">kptr-lsp: Restart Server");
  await page.locator(".quick-input-list .monaco-list-row", { hasText: "Restart Server" }).first().waitFor();
  await page.keyboard.press("Enter");
  await waitFor("the restarted server's diagnostics", () =>
    (channelLog("kptr-lsp").match(/^starting /gm) ?? []).length >= 2 && publishes() > seen);
  result.restarted = true;
  await marker.waitFor();
  log("restarted; the diagnostic is back");
  result.ok = result.ok && result.settingsReachServer && result.restarted;
}

// Drag the sash above the panel until the panel is `height` pixels tall (the editor keeps
// the rest of the window).
async function growProblemsPanel(page, height) {
  const panel = await page.locator(".part.panel").first().boundingBox();
  if (!panel || panel.height >= height) return;
  const sash = await page.evaluate((top) => {
    for (const el of document.querySelectorAll(".monaco-sash.horizontal")) {
      const r = el.getBoundingClientRect();
      if (r.width > 200 && Math.abs(r.top + r.height / 2 - top) <= 4) {
        return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
      }
    }
    return null;
  }, panel.y);
  if (!sash) return;
  await page.mouse.move(sash.x, sash.y);
  await page.mouse.down();
  await page.mouse.move(sash.x, sash.y - (height - panel.height), { steps: 8 });
  await page.mouse.up();
  await page.waitForTimeout(300);
}

// The text of an output channel, from its log file under the user data dir.
function channelLog(name) {
  const files = [];
  const walk = (dir) => {
    for (const ent of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.name.replace(/^\d+-/, "") === `${name}.log`) files.push(p);
    }
  };
  walk(path.join(userData, "logs"));
  return files.map((f) => fs.readFileSync(f, "utf8")).join("\n");
}

// On failure: a screenshot and the extension's output channels, for the test's report.
async function postMortem() {
  const shot = opt["failure-screenshot"] && path.resolve(opt["failure-screenshot"]);
  const page = context?.pages()[0];
  if (page && shot) {
    await page.screenshot({ path: shot }).then(() => (result.failureScreenshot = shot), () => {});
  }
  const logs = [];
  const walk = (dir) => {
    for (const ent of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (/kptr-lsp|exthost\.log|remoteexthost\.log/.test(ent.name)) logs.push(p);
    }
  };
  walk(path.join(userData, "logs"));
  logs.push(...["User", "Machine"].map((d) => path.join(userData, d, "settings.json")).filter((f) => fs.existsSync(f)));
  result.logs = Object.fromEntries(logs.map((p) => [path.relative(userData, p), fs.readFileSync(p, "utf8").slice(-4000)]));
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    cleanup().finally(() => process.exit(1));
  });
}

let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  result.error = String(error?.stack ?? error);
  await postMortem().catch(() => {});
} finally {
  await cleanup();
}
console.log(JSON.stringify(result));
process.exit(!failed && result.ok ? 0 : 1);
