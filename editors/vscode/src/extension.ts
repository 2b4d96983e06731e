// kptr-lsp for VS Code: starts the kptr-lsp language server for C files and passes it the
// kptrLsp.* settings. The server decides which C files are BPF sources (*.bpf.c, or files
// using SEC(), bpf_helpers.h or vmlinux.h) and leaves the others alone.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
} from "vscode-languageclient/node";

const SECTION = "kptrLsp";
const EXECUTABLE = "kptr-lsp";

// Settings the server reads (kptr_lsp/settings.py), by their camelCase name. Client-only
// settings (server.path, trace.server) are never sent: the server reports unknown keys.
const SERVER_SETTINGS = [
  "clang",
  "extraFlags",
  "includeDirs",
  "verifyHelper",
  "kernels",
  "guestVerify",
  "kernelBtf",
  "kernelRelease",
  "useCompileCommands",
  "compileCommands",
  "precompiledHeader",
  "trimVmlinux",
  "diagnosticsOnChange",
  "changeDelayMs",
  "verify",
  "verifierLogLevel",
  "jobs",
  "compileTimeoutS",
  "mapMemoryCapMb",
  "rodataOverrides",
  "costHints",
  "costHintMinInsns",
  "logLevel",
] as const;

// Changing one of these needs a new server process.
const RESTART_SETTINGS = ["server.path", "logLevel"];

// Settings that name a program to run or flags for clang: a cloned repository's
// .vscode/settings.json must not choose them. In Restricted Mode (an untrusted workspace) only
// the user's own values or the defaults apply, and the server is not taken from a workspace
// .venv; package.json declares them as capabilities.untrustedWorkspaces'
// restrictedConfigurations.
export const RESTRICTED_SETTINGS = [
  "clang",
  "server.path",
  "verifyHelper",
  "extraFlags",
  "kernels",
  "guestVerify",
];

function restricted(): boolean {
  return !vscode.workspace.isTrusted;
}

/** A setting's value; in Restricted Mode a restricted setting's user value or default only,
 * never the workspace's (.vscode/settings.json, a folder's settings). */
function setting<T>(key: string): T | undefined {
  const config = vscode.workspace.getConfiguration(SECTION);
  if (restricted() && RESTRICTED_SETTINGS.includes(key)) {
    const values = config.inspect<T>(key);
    return values?.globalValue ?? values?.defaultValue;
  }
  return config.get<T>(key);
}

let client: LanguageClient | undefined;
let output: vscode.OutputChannel;
let traceOutput: vscode.OutputChannel;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("kptr-lsp");
  traceOutput = vscode.window.createOutputChannel("kptr-lsp trace");
  context.subscriptions.push(
    output,
    traceOutput,
    vscode.commands.registerCommand("kptrLsp.restart", () => restart()),
    vscode.commands.registerCommand("kptrLsp.showOutput", () => output.show(true)),
    vscode.workspace.onDidChangeConfiguration((event) => onConfigurationChanged(event)),
    // Trusted now: start again with the workspace's settings.
    vscode.workspace.onDidGrantWorkspaceTrust(() => restart()),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}

/** The settings the server understands, as the JSON object it expects. */
export function serverSettings(): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const key of SERVER_SETTINGS) {
    const value = setting<unknown>(key);
    if (value !== undefined) {
      settings[key] = value;
    }
  }
  return settings;
}

function expand(value: string, folder: vscode.WorkspaceFolder | undefined): string {
  let result = value;
  if (result === "~" || result.startsWith("~/")) {
    result = path.join(os.homedir(), result.slice(1));
  }
  if (folder) {
    result = result.replace(/\$\{workspaceFolder\}/g, folder.uri.fsPath);
  }
  return result;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** kptrLsp.server.path, else kptr-lsp on PATH, else .venv/bin/kptr-lsp in a workspace
 * folder or one of its parents (the project's own virtualenv after `make setup`). */
export function findServer(): { command?: string; tried: string[] } {
  const folders = vscode.workspace.workspaceFolders ?? [];
  const configured = setting<string>("server.path") ?? "";
  const tried: string[] = [];
  if (configured.trim() !== "") {
    const candidate = expand(configured.trim(), folders[0]);
    const resolved = path.isAbsolute(candidate) || !folders[0]
      ? candidate
      : path.join(folders[0].uri.fsPath, candidate);
    tried.push(resolved);
    return { command: isExecutable(resolved) ? resolved : undefined, tried };
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") {
      continue;
    }
    const candidate = path.join(dir, EXECUTABLE);
    if (isExecutable(candidate)) {
      return { command: candidate, tried };
    }
  }
  tried.push(`${EXECUTABLE} on PATH`);
  if (restricted()) {
    return { command: undefined, tried }; // never a program from an untrusted workspace's .venv
  }
  const roots = folders.map((f) => f.uri.fsPath);
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active?.scheme === "file") {
    roots.push(path.dirname(active.fsPath));
  }
  for (const root of new Set(roots)) {
    for (let dir = root; ; dir = path.dirname(dir)) {
      const candidate = path.join(dir, ".venv", "bin", EXECUTABLE);
      tried.push(candidate);
      if (isExecutable(candidate)) {
        return { command: candidate, tried };
      }
      if (path.dirname(dir) === dir) {
        break;
      }
    }
  }
  return { command: undefined, tried };
}

async function start(): Promise<void> {
  const { command, tried } = findServer();
  if (!command) {
    output.appendLine(`kptr-lsp not found; looked for: ${tried.join(", ")}`);
    const choice = await vscode.window.showErrorMessage(
      "kptr-lsp: the language server was not found. Install it (`make setup` in the kptr-lsp " +
        "repository) or set kptrLsp.server.path" +
        (restricted() ? " in your user settings (Restricted Mode ignores the workspace's)." : "."),
      "Open Settings",
      "Show Log",
    );
    if (choice === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "kptrLsp.server.path");
    } else if (choice === "Show Log") {
      output.show(true);
    }
    return;
  }
  if (restricted()) {
    output.appendLine(
      `Restricted Mode: the workspace's ${RESTRICTED_SETTINGS.map((k) => `${SECTION}.${k}`).join(", ")} ` +
        "are ignored (your user settings or the defaults apply) until the workspace is trusted",
    );
  }
  const logLevel = vscode.workspace.getConfiguration(SECTION).get<string>("logLevel", "info");
  // No `transport`: with TransportKind.stdio the client would append `--stdio`, which
  // kptr-lsp does not take (stdio is its default).
  const executable = { command, args: ["--log-level", logLevel] };
  const serverOptions: ServerOptions = { run: executable, debug: executable };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file", language: "c" }],
    initializationOptions: serverSettings(),
    outputChannel: output,
    traceOutputChannel: traceOutput,
    // Settings changes are sent by onConfigurationChanged, filtered to the server's keys.
  };
  output.appendLine(`starting ${command} ${executable.args.join(" ")}`);
  client = new LanguageClient(SECTION, "kptr-lsp", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (error) {
    output.appendLine(`kptr-lsp failed to start: ${String(error)}`);
    void vscode.window.showErrorMessage(`kptr-lsp failed to start: ${String(error)}`);
  }
}

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (running) {
    try {
      await running.stop();
    } catch (error) {
      output.appendLine(`kptr-lsp did not stop cleanly: ${String(error)}`);
    }
  }
}

async function restart(): Promise<void> {
  output.appendLine("restarting kptr-lsp");
  await stop();
  await start();
}

async function onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
  if (!event.affectsConfiguration(SECTION)) {
    return;
  }
  if (!client || RESTART_SETTINGS.some((k) => event.affectsConfiguration(`${SECTION}.${k}`))) {
    await restart();
    return;
  }
  if (client.isRunning()) {
    await client.sendNotification(DidChangeConfigurationNotification.type, {
      settings: serverSettings(),
    });
  }
}
