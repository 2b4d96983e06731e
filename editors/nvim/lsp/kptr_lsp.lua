-- kptr-lsp: the Linux BPF verifier's verdict on the C line.
--
-- Neovim >= 0.11: with this directory on 'runtimepath' (or this file copied into
-- ~/.config/nvim/lsp/), `vim.lsp.enable('kptr_lsp')` starts the server for C buffers; override
-- anything with `vim.lsp.config('kptr_lsp', { init_options = { extraFlags = { '-DDEBUG' } } })`.
-- The plugin in ../plugin/ does the enable for you, and uses this same table on older Neovim.
--
-- The server is, in order: vim.g.kptr_lsp_cmd (a list), `kptr-lsp` on $PATH, .venv/bin/kptr-lsp
-- in the current directory or a parent, or the .venv of the kptr-lsp checkout holding this file.

local uv = vim.uv or vim.loop

local function executable(path)
  return path and vim.fn.executable(path) == 1
end

local function find_server()
  if type(vim.g.kptr_lsp_cmd) == 'table' then
    return vim.g.kptr_lsp_cmd
  end
  local on_path = vim.fn.exepath('kptr-lsp')
  if on_path ~= '' then
    return { on_path }
  end
  local dirs = { uv.cwd() }
  -- this file is <checkout>/editors/nvim/lsp/kptr_lsp.lua
  local source = debug.getinfo(1, 'S').source
  if source:sub(1, 1) == '@' then
    table.insert(dirs, vim.fn.fnamemodify(source:sub(2), ':p:h:h:h:h'))
  end
  for _, start in ipairs(dirs) do
    local dir = start
    while dir do
      local candidate = dir .. '/.venv/bin/kptr-lsp'
      if executable(candidate) then
        return { candidate }
      end
      local parent = vim.fn.fnamemodify(dir, ':h')
      dir = parent ~= dir and parent or nil
    end
  end
  return { 'kptr-lsp' } -- not found: Neovim reports that it cannot start it
end

-- Neovim shows a diagnostic's message but not its relatedInformation, where kptr-lsp puts
-- the verifier's causal path (each step on its line, in order) and the `fix here` points:
-- append them to the message, so the float (and `:lua vim.diagnostic.open_float()`) shows them.
local function with_related(err, result, ctx, config)
  if result and type(result.diagnostics) == 'table' then
    for _, d in ipairs(result.diagnostics) do
      local related = d.relatedInformation
      if type(related) == 'table' and #related > 0 then
        local lines = {}
        for _, r in ipairs(related) do
          local file = vim.fn.fnamemodify(vim.uri_to_fname(r.location.uri), ':t')
          local line = r.location.range.start.line + 1
          table.insert(lines, string.format('  %s:%d: %s', file, line, r.message))
        end
        d.message = d.message .. '\n' .. table.concat(lines, '\n')
      end
    end
  end
  return vim.lsp.handlers['textDocument/publishDiagnostics'](err, result, ctx, config)
end

---@type vim.lsp.Config
return {
  cmd = find_server(),
  filetypes = { 'c' },
  handlers = { ['textDocument/publishDiagnostics'] = with_related },
  root_markers = { 'compile_commands.json', '.git' },
  -- Everything the server reads (kptr_lsp/settings.py); these are its defaults.
  init_options = {
    clang = vim.NIL, -- newest clang / clang-NN on $PATH
    extraFlags = {},
    includeDirs = {},
    kernelBtf = '/sys/kernel/btf/vmlinux',
    kernelRelease = vim.NIL, -- the running kernel's
    useCompileCommands = true,
    compileCommands = vim.NIL, -- the nearest compile_commands.json above the file
    precompiledHeader = true,
    trimVmlinux = true, -- false: never compile on the cut vmlinux.h
    diagnosticsOnChange = true, -- false: analyse on open and on save only
    changeDelayMs = 600,
    verify = true,
    verifierLogLevel = 5, -- 1 (the failing path) + 4 (time and stack depth for the lens)
    jobs = 2,
    compileTimeoutS = 30,
    mapMemoryCapMb = 256,
    verifyHelper = {}, -- e.g. { 'sudo', '-n', '/opt/kptr-lsp/.venv/bin/kptr-lsp', 'verify-helper' }
    rodataOverrides = vim.empty_dict(), -- e.g. { targ_pid = 1 }; {} would be sent as []
    kernels = {}, -- other kernels to verify in, each in a VM (see the README)
    guestVerify = 'auto', -- verify in a guest kernel what the host will not load; 'off'
    costHints = true,
    costHintMinInsns = 1000,
    logLevel = 'info',
  },
}
