#!/usr/bin/env bash
# Terminal capture of Debian's Neovim showing kptr-lsp's verifier diagnostic on its line, for the
# README: runs nvim with editors/nvim in tmux on a copy of examples/rejected.bpf.c, waits for the
# diagnostic, opens its float and writes the screen to docs/nvim-diagnostic.txt.
# Usage: tests/editors/capture_nvim.sh [OUT]   (make editor-screenshots runs it)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/docs/nvim-diagnostic.txt}
nvim=${NVIM:-nvim}
tmp=$(mktemp -d)
session=kptr-capture-$$
cleanup() { tmux kill-session -t "$session" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
cp "${EXAMPLES:-$root/examples}"/*.bpf.c "$tmp"/
line=$(grep -n 'EXPECT: error' "$tmp/rejected.bpf.c" | head -1 | cut -d: -f1)
line=${line:-1}
cat > "$tmp/init.lua" <<LUA
vim.opt.runtimepath:prepend('$root/editors/nvim')
vim.opt.swapfile = false
vim.opt.number = true
vim.opt.signcolumn = 'yes'
vim.cmd('syntax on')
LUA
export XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data XDG_STATE_HOME=$tmp/state
export XDG_CACHE_HOME=$tmp/cache
tmux new-session -d -s "$session" -x 120 -y 42 -c "$tmp" \
  "env TERM=xterm-256color $nvim -n -i NONE -u $tmp/init.lua +$line rejected.bpf.c"
for _ in $(seq 1 600); do  # up to 60 s for the diagnostic's sign
  if tmux capture-pane -p -t "$session" | grep -q '^E '; then break; fi
  sleep 0.1
done
tmux send-keys -t "$session" "${line}Gzt" C-y C-y C-y C-y C-y C-y  # six lines of context above
sleep 0.3
tmux send-keys -t "$session" ':lua vim.diagnostic.open_float()' Enter
sleep 1
mkdir -p "$(dirname "$out")"
tmux capture-pane -p -t "$session" > "$out"
echo "wrote $out"
