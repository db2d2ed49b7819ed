// Lab stand-in for sst-dev.opencode: the upstream extension opens a terminal running the
// opencode CLI and can insert "@file#Lx-Ly" references into it. This does the same, so the
// lab proves the CLI is on PATH and the keybindings are wired.
const vscode = require("vscode");

function openTerminal(reuse) {
  let terminal = reuse && vscode.window.terminals.find((t) => t.name === "opencode");
  if (!terminal) {
    terminal = vscode.window.createTerminal({
      name: "opencode",
      location: { viewColumn: vscode.ViewColumn.Beside },
    });
    terminal.sendText("opencode");
  }
  terminal.show();
  return terminal;
}

function fileReference() {
  const editor = vscode.window.activeTextEditor;
  if (!editor) return undefined;
  const path = vscode.workspace.asRelativePath(editor.document.uri);
  const { start, end } = editor.selection;
  if (editor.selection.isEmpty) return `@${path}`;
  return `@${path}#L${start.line + 1}-${end.line + 1}`;
}

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("opencode.openTerminal", () => openTerminal(true)),
    vscode.commands.registerCommand("opencode.openNewTerminal", () => openTerminal(false)),
    vscode.commands.registerCommand("opencode.addFilepathToTerminal", () => {
      const reference = fileReference();
      if (reference) openTerminal(true).sendText(reference, false);
    }),
  );
}

module.exports = { activate, deactivate() {} };
