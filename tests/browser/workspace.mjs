#!/usr/bin/env node
// A person's first visit to a deployed workspace, in a real (headless Debian) Chromium:
//   a. an unknown name under the domain shows the friendly 404 landing page;
//   b. a wrong password shows code-server's "Incorrect password";
//   c. the right password opens the VS Code workbench with README.md in the explorer;
//   d. the integrated terminal works through the WebSocket: it runs `opencode --version`
//      into /home/coder/project/browser-proof.txt, and the file shows up in the explorer.
// One JSON line with the results goes to stdout (and result.json); exit 1 on any failure,
// with failure.png. Screenshots land in --out.
//
// code-server allows 2 failed logins a minute (12 more an hour): a run makes exactly one
// wrong and one right login, so do not run this in a tight loop against one user.
//
// Usage:
//   node tests/browser/workspace.mjs --base http://alice.lab.test:8080 --user alice \
//        --password lab-alice-password --out artifacts/browser [--ca-file ca.pem]
// Options (all optional but --base and --password):
//   --user NAME          for the report only (default: the first label of the base host)
//   --out DIR            screenshots and result.json (default artifacts/browser)
//   --ca-file PEM        CA certificate(s) to trust (HTTPS with a private CA such as pebble):
//                        imported with certutil into a fresh NSS db in the throw-away profile
//   --resolve IP         map *.DOMAIN to IP inside Chromium (default 127.0.0.1; "" = use DNS)
//   --unknown-host NAME  the host for step a (default nobody.DOMAIN, same scheme and port)
//   --expect-file NAME   a file the explorer must show after login (default README.md, the
//                        welcome file of a new workspace)
//   --chromium PATH      the browser (default $CHROMIUM or /usr/bin/chromium)
//   --timeout-scale N    multiply every wait (default 1; the waits already suit a TCG VM)
//   --keep-profile       leave the profile directory behind for a look
//   --observe-only       only log in (right password) and report what the workbench shows:
//                        the negative controls of the observations (a trust prompt, a chat)

import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const PLAYWRIGHT_VERSION = require("playwright-core/package.json").version;

const NOT_FOUND_TEXT = "There is no workspace at this address";
const PROOF_FILE = "browser-proof.txt";
const PROOF_COMMAND = `opencode --version > /home/coder/project/${PROOF_FILE}; echo done-$RANDOM`;

// Run as a script (not imported, e.g. by a test of makeProfile/launchBrowser).
const IS_MAIN = !!process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;

// ---------------------------------------------------------------------------------------------

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      base: { type: "string" },
      user: { type: "string" },
      password: { type: "string" },
      out: { type: "string", default: "artifacts/browser" },
      "ca-file": { type: "string" },
      resolve: { type: "string", default: "127.0.0.1" },
      "unknown-host": { type: "string" },
      "expect-file": { type: "string", default: "README.md" },
      chromium: { type: "string", default: process.env.CHROMIUM || "/usr/bin/chromium" },
      "timeout-scale": { type: "string", default: "1" },
      "keep-profile": { type: "boolean", default: false },
      "observe-only": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(readFileSync(new URL(import.meta.url), "utf8").split("\n")
      .filter((l) => l.startsWith("//")).map((l) => l.slice(3)).join("\n"));
    process.exit(0);
  }
  if (!values.base || values.password === undefined) {
    throw new Error("--base and --password are required (see --help)");
  }
  const base = new URL(values.base);
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  const labels = base.hostname.split(".");
  if (labels.length < 3) throw new Error(`--base host ${base.hostname} is not USER.DOMAIN`);
  const domain = labels.slice(1).join(".");
  const unknown = new URL(base.href);
  unknown.hostname = values["unknown-host"] || `nobody.${domain}`;
  unknown.pathname = "/";
  const scale = Number(values["timeout-scale"]);
  if (!(scale > 0)) throw new Error("--timeout-scale must be a positive number");
  return {
    base,
    unknown,
    domain,
    user: values.user || labels[0],
    password: values.password,
    out: resolve(values.out),
    caFile: values["ca-file"] ? resolve(values["ca-file"]) : null,
    resolveTo: values.resolve,
    expectFile: values["expect-file"],
    chromiumPath: values.chromium,
    scale,
    keepProfile: values["keep-profile"],
    observeOnly: values["observe-only"],
  };
}

// A fresh profile. Chromium on Linux reads its certificate store from $HOME/.pki/nssdb, so the
// browser runs with HOME pointing into the profile and a CA file becomes a trusted root there.
export function makeProfile(caFile) {
  const root = mkdtempSync(join(tmpdir(), "vscode-browser-"));
  const home = join(root, "home");
  const userData = join(root, "user-data");
  mkdirSync(userData, { recursive: true });
  const nssdb = join(home, ".pki", "nssdb");
  mkdirSync(nssdb, { recursive: true });
  const cas = [];
  if (caFile) {
    const pems = readFileSync(caFile, "utf8")
      .match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
    if (!pems) throw new Error(`${caFile} holds no PEM certificate`);
    const certutil = (args) => execFileSync("certutil", args, { stdio: ["ignore", "pipe", "pipe"] });
    try {
      certutil(["-N", "-d", `sql:${nssdb}`, "--empty-password"]);
      pems.forEach((pem, i) => {
        const file = join(root, `ca-${i}.pem`);
        writeFileSync(file, pem + "\n");
        certutil(["-A", "-d", `sql:${nssdb}`, "-n", `lab-ca-${i}`, "-t", "C,,", "-a", "-i", file]);
        cas.push(`lab-ca-${i}`);
      });
    } catch (err) {
      if (err.code === "ENOENT") throw new Error("certutil not found: apt-get install libnss3-tools");
      throw new Error(`certutil failed: ${err.stderr || err.message}`);
    }
  }
  return { root, home, userData, cas };
}

// Chromium with the profile's HOME (hence its NSS db) and user-data dir. No certificate
// errors are ignored: HTTPS works only with a CA trusted through makeProfile(caFile).
export async function launchBrowser(profile, { chromiumPath = "/usr/bin/chromium", domain = null,
  resolveTo = "127.0.0.1", timeout = 120_000 } = {}) {
  const args = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    // A local lab: never a proxy. No WebGL, so the terminal's rows are DOM text (below).
    "--no-proxy-server", "--disable-3d-apis",
  ];
  if (resolveTo && domain) args.push(`--host-resolver-rules=MAP *.${domain} ${resolveTo}`);
  return chromium.launchPersistentContext(profile.userData, {
    executablePath: chromiumPath,
    headless: true,
    args,
    env: { ...process.env, HOME: profile.home },
    viewport: { width: 1440, height: 900 },
    locale: "en-US",
    timeout,
  });
}

// ---------------------------------------------------------------------------------------------

const opts = IS_MAIN ? (() => {
  try {
    return parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`workspace.mjs: ${err.message}`);
    process.exit(2);
  }
})() : null;
const T = (ms) => Math.round(ms * (opts ? opts.scale : 1));

const result = {
  ok: false,
  user: opts?.user,
  base: opts?.base.href,
  playwright_core: PLAYWRIGHT_VERSION,
  chromium: null,
  steps: {},
  observations: {},
  websockets: [],
  screenshots: [],
  error: null,
};

let page = null;
let context = null;
let profile = null;
const started = Date.now();

async function screenshot(name) {
  if (!page) return;
  try {
    await page.screenshot({ path: join(opts.out, name), timeout: T(30_000) });
    result.screenshots.push(name);
  } catch (err) {
    log(`screenshot ${name} failed: ${err.message.split("\n")[0]}`);
  }
}

function log(message) {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[browser ${t}s] ${message}\n`);
}

async function step(name, fn) {
  const t0 = Date.now();
  log(`${name} ...`);
  const entry = { ok: false, seconds: null };
  result.steps[name] = entry;
  try {
    Object.assign(entry, (await fn()) || {});
    entry.ok = true;
  } finally {
    entry.seconds = Number(((Date.now() - t0) / 1000).toFixed(1));
    log(`${name} ${entry.ok ? "ok" : "FAILED"} in ${entry.seconds}s`);
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

// ---------------------------------------------------------------------------------------------
// The steps

async function notFoundPage() {
  const response = await page.goto(opts.unknown.href, { waitUntil: "load", timeout: T(60_000) });
  const status = response ? response.status() : null;
  const heading = page.getByRole("heading", { name: NOT_FOUND_TEXT });
  await heading.waitFor({ timeout: T(15_000) });
  expect(status === 404, `${opts.unknown.href} answered ${status}, expected 404`);
  await screenshot("404.png");
  return { url: opts.unknown.href, status, title: await page.title() };
}

async function loginForm() {
  const password = page.locator('input[type="password"]');
  await password.waitFor({ state: "visible", timeout: T(60_000) });
  return password;
}

async function submitPassword(password) {
  const field = await loginForm();
  await field.fill(password);
  await Promise.all([
    page.waitForNavigation({ waitUntil: "domcontentloaded", timeout: T(120_000) }),
    field.press("Enter"),
  ]);
}

// The message code-server's login page shows under the field (empty if none).
async function loginError() {
  const error = page.locator(".error");
  if (!(await error.count())) return "";
  return (await error.first().innerText().catch(() => "")).trim();
}

async function wrongPassword() {
  const response = await page.goto(opts.base.href, { waitUntil: "domcontentloaded", timeout: T(60_000) });
  const landed = page.url();
  expect(/\/login\b/.test(new URL(landed).pathname),
    `${opts.base.href} did not redirect to the login page (status ${response && response.status()}, now at ${landed})`);
  log(`login page at ${landed}; submitting a wrong password`);
  await submitPassword(`wrong-${Date.now()}`);
  const message = page.getByText("Incorrect password");
  try {
    await message.waitFor({ state: "visible", timeout: T(30_000) });
  } catch {
    await screenshot("wrong-password.png");
    const shown = await loginError();
    if (/rate limited/i.test(shown)) {
      throw new Error("code-server says 'Login rate limited!': too many failed logins (2/min, 12/h); wait and retry");
    }
    throw new Error(`a wrong password did not show "Incorrect password"; the login page says: ${JSON.stringify(shown)}`);
  }
  const cookies = await context.cookies();
  expect(!cookies.some((c) => c.name === "code-server-session"), "a wrong password got a session cookie");
  await screenshot("wrong-password.png");
  return { login_url: landed, message: (await message.first().innerText()).trim() };
}

async function rightPassword() {
  await submitPassword(opts.password);
  if (new URL(page.url()).pathname.endsWith("/login")) {
    throw new Error(`the right password did not log in; the login page says: ${JSON.stringify(await loginError())}`);
  }
  log(`logged in, now at ${page.url()}; waiting for the workbench`);
  const t0 = Date.now();
  await page.locator(".monaco-workbench").waitFor({ state: "attached", timeout: T(240_000) });
  const workbenchSeconds = (Date.now() - t0) / 1000;
  log(`workbench element after ${workbenchSeconds.toFixed(1)}s, waiting for ${opts.expectFile} in the explorer`);
  const readme = explorerRow(opts.expectFile);
  try {
    await readme.waitFor({ state: "visible", timeout: T(150_000) });
  } catch (err) {
    // The explorer may be collapsed in some layouts: show it, as a person would.
    log(`${opts.expectFile} not visible yet; opening the explorer (Ctrl+Shift+E)`);
    await page.keyboard.press("Control+Shift+E");
    await readme.waitFor({ state: "visible", timeout: T(60_000) });
  }
  // "workbench.startupEditor": "readme" opens README.md once the extensions are up.
  let readmeTab = opts.expectFile === "README.md";
  if (readmeTab) {
    await page.locator(".tabs-container .tab", { hasText: "README.md" }).first()
      .waitFor({ state: "visible", timeout: T(90_000) }).catch(() => { readmeTab = false; });
  }
  // Let late notifications and panels settle before we look at them.
  await page.waitForTimeout(T(3_000));
  await observe();
  await screenshot("workbench.png");
  const cookies = await context.cookies();
  expect(cookies.some((c) => c.name === "code-server-session"), "no session cookie after login");
  return {
    url: page.url(),
    workbench_seconds: Number(workbenchSeconds.toFixed(1)),
    readme_tab_opened: readmeTab,
  };
}

function explorerRow(name) {
  return page.locator(".explorer-folders-view .monaco-list-row").filter({
    has: page.locator(".label-name", { hasText: new RegExp(`^${name.replace(/\./g, "\\.")}$`) }),
  });
}

// What the person sees besides the editor: a trust prompt, a chat panel, notifications.
async function observe() {
  const o = result.observations;
  o.trust_prompt = await trustPrompt();
  o.restricted_mode = (await page.getByText(/Restricted Mode/).filter({ visible: true }).count()) > 0;
  // The secondary side bar: with chat.disableAIFeatures it may still be open, but empty.
  const aux = page.locator(".part.auxiliarybar");
  o.secondary_sidebar_visible = (await aux.count()) > 0 && (await aux.first().isVisible());
  o.secondary_sidebar_composite = o.secondary_sidebar_visible
    ? await aux.first().getAttribute("data-active-composite") : null;
  o.secondary_sidebar_views = o.secondary_sidebar_visible
    ? await aux.first().locator(".pane-header").allInnerTexts().catch(() => []) : [];
  // A usable chat: the chat widget, its input, or Copilot's "Build with Agent" welcome.
  o.chat_panel_visible = (await page.locator(".interactive-session, .chat-widget, .chat-input-part")
    .filter({ visible: true }).count()) > 0
    || (await page.getByText(/Build with Agent|Ask Copilot/i).filter({ visible: true }).count()) > 0;
  o.notifications = await page.locator(".notification-toast .notification-list-item-message")
    .allInnerTexts().catch(() => []);
  o.editor_tabs = await page.locator(".tabs-container .tab .label-name").allInnerTexts().catch(() => []);
  o.proof_file_before = (await explorerRow(PROOF_FILE).count()) > 0;
  o.readme_preview_chars = await webviewTextLength();
}

// VS Code asks "Do you trust the authors of the files in this folder?" unless workspace
// trust is off (and again for the first terminal).
async function trustPrompt() {
  return (await page.getByText(/Do you trust the authors/i).filter({ visible: true }).count()) > 0;
}

// How much text the README preview shows. Webviews are nested iframes; they need a secure
// context (HTTPS or localhost), so over plain HTTP the preview stays empty.
async function webviewTextLength() {
  let longest = 0;
  for (const frame of page.frames()) {
    if (!frame.url().includes("/webview/")) continue;
    const text = await frame.locator("body").innerText({ timeout: 2_000 }).catch(() => "");
    longest = Math.max(longest, text.trim().length);
  }
  return longest;
}

// The text of the terminal on show. Chromium runs with --disable-3d-apis, so xterm.js falls
// back from WebGL to its DOM renderer and the rows are readable here.
async function terminalText() {
  return page.locator(".terminal-wrapper.active .xterm-rows").filter({ visible: true })
    .allInnerTexts().then((t) => t.join("\n").replace(/\u00a0/g, " ")).catch(() => "");
}

// Keys must reach the workbench, not the README preview: a webview is an iframe that keeps
// the keyboard focus. A click on the empty part of the explorer gives it back, as it would
// for a person.
async function focusWorkbench() {
  const view = page.locator(".explorer-folders-view").first();
  const box = await view.boundingBox();
  if (box) await page.mouse.click(box.x + box.width / 2, box.y + box.height - 10);
}

// A NEW terminal, so that its text is this run's alone: code-server revives terminals of
// earlier sessions (persistent sessions), and Ctrl+` would only show such an old one.
async function openTerminal() {
  const viaKey = async () => {
    await focusWorkbench();
    await page.keyboard.press("Control+Shift+Backquote");
    await page.locator(".terminal-wrapper.active .xterm").filter({ visible: true }).first()
      .waitFor({ state: "visible", timeout: T(30_000) });
  };
  const viaPalette = async () => {
    await runCommand("Terminal: Create New Terminal", /^Terminal: Create New Terminal(?! \()/);
    await page.locator(".terminal-wrapper.active .xterm").filter({ visible: true }).first()
      .waitFor({ state: "visible", timeout: T(120_000) });
  };
  let how = "Ctrl+Shift+`";
  try {
    await viaKey();
  } catch {
    log("Ctrl+Shift+` showed no terminal; using the command palette");
    how = "command palette";
    await viaPalette();
  }
  return { how };
}

async function terminalProof() {
  const opened = await openTerminal();
  log(`terminal opened with ${opened.how}; waiting for the shell prompt`);
  // Wait for a prompt before typing, so that no keystroke races the shell's start.
  const promptDeadline = Date.now() + T(120_000);
  let text = "";
  while (Date.now() < promptDeadline) {
    text = await terminalText();
    if (/[$#]\s*$/.test(text.trimEnd())) break;
    await page.waitForTimeout(1_000);
  }
  const sawPrompt = /[$#]\s*$/.test(text.trimEnd());
  expect(sawPrompt, `no shell prompt in the new terminal after ${T(120)}s: ${JSON.stringify(text.slice(-400))}`);
  result.observations.trust_prompt_at_terminal = await trustPrompt();
  const markersBefore = (text.match(/^done-\d+\s*$/gm) || []).length;
  await page.locator(".terminal-wrapper.active .xterm-helper-textarea").first().focus();
  await page.keyboard.type(PROOF_COMMAND, { delay: 15 });
  await page.keyboard.press("Enter");
  const typedAt = Date.now();

  // The shell prints done-NNN (the terminal's WebSocket works both ways), and the file shows
  // up in the explorer (the server's file watcher reported it to this browser).
  const deadline = Date.now() + T(240_000);
  let marker = null;
  let markerSeconds = null;
  let inExplorer = false;
  let refreshed = false;
  while (Date.now() < deadline) {
    text = await terminalText();
    const markers = text.match(/^done-\d+\s*$/gm) || [];
    if (!marker && markers.length > markersBefore) {
      marker = markers[markers.length - 1].trim();
      markerSeconds = Number(((Date.now() - typedAt) / 1000).toFixed(1));
      log(`shell answered ${marker} after ${markerSeconds}s`);
    }
    inExplorer = (await explorerRow(PROOF_FILE).count()) > 0;
    if (marker && inExplorer) break;
    if (marker && !refreshed && Date.now() - typedAt > markerSeconds * 1000 + T(30_000)) {
      // The file watcher should have shown it by now; refresh the explorer once, as a
      // person would, and say so in the result.
      log("file not in the explorer 30 s after the shell's answer; refreshing the explorer");
      await runCommand("Refresh Explorer");
      refreshed = true;
    }
    await page.waitForTimeout(1_000);
  }
  const seconds = Number(((Date.now() - typedAt) / 1000).toFixed(1));
  expect(marker, `the shell printed no done-NNN within ${seconds}s; terminal: ${JSON.stringify(text.slice(-600))}`);
  expect(inExplorer, `${PROOF_FILE} did not appear in the explorer within ${seconds}s`);

  // Open the file, as a person would, and read opencode's version in the editor.
  await explorerRow(PROOF_FILE).first().click();
  await page.locator(".tabs-container .tab", { hasText: PROOF_FILE }).first()
    .waitFor({ state: "visible", timeout: T(60_000) });
  const editor = page.locator(".editor-group-container.active .monaco-editor .view-lines").first();
  let content = "";
  const contentDeadline = Date.now() + T(60_000);
  while (Date.now() < contentDeadline) {
    content = (await editor.innerText().catch(() => "")).replace(/\u00a0/g, " ").trim();
    if (/\d+\.\d+\.\d+/.test(content)) break;
    await page.waitForTimeout(500);
  }
  expect(/\d+\.\d+\.\d+/.test(content), `${PROOF_FILE} shows no version in the editor: ${JSON.stringify(content)}`);
  // Back to the terminal, so the screenshot shows the command and its answer.
  await page.locator(".terminal-wrapper.active .xterm-helper-textarea").first().focus();
  await page.waitForTimeout(T(1_000));
  await screenshot("terminal.png");
  return {
    opened_with: opened.how,
    marker,
    marker_seconds: markerSeconds,
    proof_in_explorer: inExplorer,
    explorer_refreshed: refreshed,
    proof_content: content,
    seconds_after_enter: seconds,
    terminal_tail: text.trimEnd().split("\n").slice(-4).join("\n"),
  };
}

// Run a command from the command palette (F1), picking the entry that matches `pattern`.
async function runCommand(label, pattern = label) {
  await focusWorkbench();
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: T(30_000) });
  await input.fill(`>${label}`);
  const item = page.locator(".quick-input-list .monaco-list-row").filter({ hasText: pattern }).first();
  await item.waitFor({ state: "visible", timeout: T(30_000) });
  await item.click();
}

// ---------------------------------------------------------------------------------------------

async function main() {
  mkdirSync(opts.out, { recursive: true });
  for (const name of ["404.png", "wrong-password.png", "workbench.png", "terminal.png", "failure.png", "result.json"]) {
    rmSync(join(opts.out, name), { force: true });
  }
  profile = makeProfile(opts.caFile);
  result.ca_certificates = profile.cas;
  context = await launchBrowser(profile, {
    chromiumPath: opts.chromiumPath, domain: opts.domain, resolveTo: opts.resolveTo, timeout: T(120_000),
  });
  result.chromium = context.browser()?.version() ?? null;
  page = context.pages()[0] || (await context.newPage());
  if (!result.chromium) {
    const cdp = await context.newCDPSession(page);
    result.chromium = (await cdp.send("Browser.getVersion")).product;
    await cdp.detach();
  }
  page.setDefaultTimeout(T(60_000));
  result.console_errors = [];
  page.on("console", (message) => {
    if (message.type() !== "error" || result.console_errors.length >= 30) return;
    result.console_errors.push(message.text().replace(/%c|color: #\w+/g, "").trim().split("\n")[0].slice(0, 240));
  });
  page.on("websocket", (ws) => {
    const entry = { url: ws.url(), frames_received: 0, frames_sent: 0, closed: false, error: null };
    result.websockets.push(entry);
    ws.on("framereceived", () => { entry.frames_received += 1; });
    ws.on("framesent", () => { entry.frames_sent += 1; });
    ws.on("socketerror", (e) => { entry.error = String(e); });
    ws.on("close", () => { entry.closed = true; });
  });

  if (opts.observeOnly) {
    await page.goto(opts.base.href, { waitUntil: "domcontentloaded", timeout: T(60_000) });
    await step("login", rightPassword);
    result.ok = true;
    return;
  }
  await step("not_found", notFoundPage);
  await step("wrong_password", wrongPassword);
  await step("login", rightPassword);
  await step("terminal", terminalProof);

  const sockets = result.websockets.filter((w) => w.url.startsWith(opts.base.origin.replace(/^http/, "ws")));
  expect(sockets.some((w) => w.frames_received > 0), `no WebSocket to ${opts.base.origin} received data: ${JSON.stringify(result.websockets)}`);
  result.ok = true;
}

if (IS_MAIN) {
  let exitCode = 0;
  try {
    await main();
  } catch (err) {
    exitCode = 1;
    // eslint-disable-next-line no-control-regex
    result.error = err.message.replace(/\u001b\[[0-9;]*m/g, "").split("\n").slice(0, 6).join("\n");
    log(`FAILED: ${err.stack || err.message}`);
    if (page) {
      result.failed_at_url = page.url();
      // VS Code's own word when the server went away (container restart, VM down).
      const lost = await page.getByText(/Attempting to reconnect|Cannot reconnect|connection .* lost/i)
        .filter({ visible: true }).allInnerTexts().catch(() => []);
      if (lost.length) {
        result.server_connection_lost = lost[0].trim();
        result.error = `the workbench lost its server connection ("${lost[0].trim()}"): ${result.error}`;
      }
      await screenshot("failure.png");
    }
  } finally {
    result.seconds = Number(((Date.now() - started) / 1000).toFixed(1));
    if (context) await context.close().catch(() => {});
    if (profile && !opts.keepProfile) rmSync(profile.root, { recursive: true, force: true });
    else if (profile) result.profile_dir = profile.root;
    const line = JSON.stringify(result);
    try {
      mkdirSync(opts.out, { recursive: true });
      writeFileSync(join(opts.out, "result.json"), JSON.stringify(result, null, 2) + "\n");
    } catch { /* the JSON line below is the result */ }
    console.log(line);
  }
  process.exit(exitCode);
}
