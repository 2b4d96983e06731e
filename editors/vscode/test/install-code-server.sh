#!/bin/bash
# Install a real VS Code (code-server, from the npm registry) on this offline machine, for
# end-to-end tests of the VS Code extension. Its own postinstall downloads binaries and fails
# here, so the native modules are built from source instead and ripgrep comes from Debian.
# (A copy of the team's shared/tools/install-code-server.sh, so the repository is self-contained;
# code-server pinned to 4.100.3, VS Code 1.100.3: what npm picks for node 20.)
# Usage: install-code-server.sh DIR   → DIR/node_modules/code-server; run it with
#   node DIR/node_modules/code-server/out/node/entry.js --auth none --bind-addr 127.0.0.1:PORT FOLDER
set -euo pipefail
dir=${1:?usage: install-code-server.sh DIR}
export DEBIAN_FRONTEND=noninteractive npm_config_yes=true
apt-get install -y build-essential pkg-config libkrb5-dev libxkbfile-dev libsecret-1-dev ripgrep >/dev/null
mkdir -p "$dir" && cd "$dir"
[ -f package.json ] || echo '{"private": true}' > package.json
npm install code-server@4.100.3 --ignore-scripts --no-audit --no-fund >/dev/null
npm rebuild argon2 --build-from-source >/dev/null
cd node_modules/code-server/lib/vscode
npm install --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null
npm rebuild kerberos @parcel/watcher @vscode/deviceid @vscode/spdlog native-watchdog node-pty >/dev/null
mkdir -p node_modules/@vscode/ripgrep/bin && cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
ln -sfn node_modules node_modules.asar
(cd extensions && npm install --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
echo "code-server ready: node $dir/node_modules/code-server/out/node/entry.js --help"
