-- Driven by test_neovim.py inside a real headless Neovim that opened the program as its first
-- file (so FileType c fired and the plugin started kptr-lsp the way it does for a user).
-- Waits for the verifier's diagnostic, applies the fixing edit, checks the diagnostic stays
-- until the buffer is saved (diagnosticsOnChange = false), saves, waits for it to go, and
-- writes what it saw as JSON to $KPTR_TEST_OUT. Never asserts itself: Python does.
local out_path = assert(os.getenv('KPTR_TEST_OUT'))
local timeout = tonumber(os.getenv('KPTR_TEST_TIMEOUT_MS') or '120000')
local edits = vim.fn.json_decode(assert(os.getenv('KPTR_TEST_EDITS')))
local hold_ms = tonumber(os.getenv('KPTR_TEST_HOLD_MS') or '1500')
local ERROR = vim.diagnostic.severity.ERROR
local bufnr = vim.api.nvim_get_current_buf()
local started = vim.loop.hrtime()
local result = { nvim = tostring(vim.version().major .. '.' .. vim.version().minor .. '.' .. vim.version().patch) }

local function elapsed_ms()
  return math.floor((vim.loop.hrtime() - started) / 1e6)
end

local function errors()
  local list = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr, { severity = ERROR })) do
    table.insert(list, { line = d.lnum + 1, col = d.col + 1, message = d.message, source = d.source })
  end
  return list
end

local function clients()
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  local list = {}
  for _, c in ipairs(get()) do
    local attached = (vim.lsp.buf_is_attached and vim.lsp.buf_is_attached(bufnr, c.id)) or false
    table.insert(list, {
      name = c.name,
      cmd = c.config.cmd,
      root_dir = c.config.root_dir,
      init_options = c.config.init_options,
      attached = attached,
    })
  end
  return list
end

local function finish()
  result.ms_total = elapsed_ms()
  local fh = assert(io.open(out_path, 'w'))
  fh:write(vim.fn.json_encode(result))
  fh:close()
  vim.cmd('qall!')
end

local ok, err = pcall(function()
  result.filetype = vim.bo[bufnr].filetype
  result.started_with = vim.lsp.enable and vim.fn.has('nvim-0.11') == 1 and 'vim.lsp.enable'
    or (vim.lsp.start and 'vim.lsp.start')
    or 'vim.lsp.start_client'
  -- 1. the verifier's diagnostic arrives
  result.got_errors = vim.wait(timeout, function()
    return #errors() > 0
  end, 50)
  result.ms_first_diagnostic = elapsed_ms()
  result.clients = clients()
  result.before = errors()
  if not result.got_errors then
    return
  end
  -- 2. the fixing edit, unsaved: with diagnosticsOnChange = false the Error must stay
  for i = #edits, 1, -1 do
    local e = edits[i]
    vim.api.nvim_buf_set_lines(bufnr, e.start, e['end'], true, e.lines)
  end
  vim.wait(hold_ms, function()
    return false
  end, 50)
  result.after_edit_unsaved = errors()
  -- 3. save: the server re-analyses on didSave and the Error goes
  vim.cmd('write')
  local saved_at = elapsed_ms()
  result.cleared = vim.wait(timeout, function()
    return #errors() == 0
  end, 50)
  result.ms_save_to_clear = elapsed_ms() - saved_at
  result.after_save = errors()
  result.all_after_save = #vim.diagnostic.get(bufnr)
end)
if not ok then
  result.error = tostring(err)
end
finish()
