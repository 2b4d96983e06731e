-- kptr-lsp for Neovim 0.7+: starts the kptr-lsp language server on FileType c.
--
--   require('kptr_lsp').setup({
--     init_options = { extraFlags = { '-DDEBUG' }, diagnosticsOnChange = false },
--     cmd = { '/path/to/kptr-lsp' },      -- default: see lsp/kptr_lsp.lua
--     root_markers = { 'compile_commands.json', '.git' },
--   })
--
-- Neovim >= 0.11 gets `vim.lsp.config('kptr_lsp', opts)` + `vim.lsp.enable('kptr_lsp')`, with
-- the table of lsp/kptr_lsp.lua as the base. Older Neovim: `vim.lsp.start` (0.8-0.10), or
-- `vim.lsp.start_client` + `vim.lsp.buf_attach_client` (0.7, Debian bookworm's). In every case
-- the buffer is re-analysed when it is saved (the server asks for textDocument/didSave), and
-- on change after an idle delay unless init_options.diagnosticsOnChange is false.
local M = {}

local NAME = 'kptr_lsp'
local uv = vim.uv or vim.loop

M.user = {} -- what setup() was given
M.did_setup = false
local clients_by_root = {} -- Neovim 0.7: one client per root directory

local function modern()
  return vim.fn.has('nvim-0.11') == 1 and type(vim.lsp.enable) == 'function'
end

--- The table from lsp/kptr_lsp.lua (first on 'runtimepath').
function M.base_config()
  local file = vim.api.nvim_get_runtime_file('lsp/' .. NAME .. '.lua', false)[1]
  if not file then
    error('kptr_lsp: lsp/kptr_lsp.lua is not on runtimepath')
  end
  return dofile(file)
end

--- lsp/kptr_lsp.lua merged with what setup() was given.
function M.config()
  return vim.tbl_deep_extend('force', M.base_config(), M.user)
end

local function find_root(path, markers)
  local dir = vim.fn.fnamemodify(path, ':p:h')
  while dir do
    for _, marker in ipairs(markers or {}) do
      if uv.fs_stat(dir .. '/' .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ':h')
    dir = parent ~= dir and parent or nil
  end
  return vim.fn.fnamemodify(path, ':p:h')
end

--- Start (or reuse) the server for a C buffer; Neovim < 0.11. Returns the client id.
function M.start(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local path = vim.api.nvim_buf_get_name(bufnr)
  if path == '' or vim.bo[bufnr].buftype ~= '' then
    return nil
  end
  local cfg = M.config()
  local root = cfg.root_dir or find_root(path, cfg.root_markers)
  local client_config = {
    name = NAME,
    cmd = cfg.cmd,
    root_dir = root,
    init_options = cfg.init_options,
    capabilities = cfg.capabilities,
    on_attach = cfg.on_attach,
    flags = cfg.flags,
    handlers = cfg.handlers,
  }
  if vim.lsp.start then -- Neovim 0.8 - 0.10
    return vim.lsp.start(client_config, { bufnr = bufnr })
  end
  local id = clients_by_root[root]
  if id == nil or vim.lsp.client_is_stopped(id) then
    id = vim.lsp.start_client(client_config)
    clients_by_root[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

local function clients()
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  return vim.tbl_filter(function(c)
    return c.name == NAME
  end, get())
end

--- Stop every kptr-lsp client and start again for the open C buffers.
function M.restart()
  local stopped = clients()
  for _, client in ipairs(stopped) do
    client.stop()
  end
  clients_by_root = {}
  local function again()
    for _, client in ipairs(stopped) do
      if not client.is_stopped() then
        return vim.defer_fn(again, 100)
      end
    end
    if modern() then
      vim.lsp.enable(NAME, false)
      vim.lsp.enable(NAME)
      return
    end
    for _, buf in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].filetype == 'c' then
        M.start(buf)
      end
    end
  end
  vim.defer_fn(again, 100)
end

function M.setup(opts)
  M.user = vim.tbl_deep_extend('force', M.user, opts or {})
  M.did_setup = true
  vim.cmd([[command! KptrLspRestart lua require('kptr_lsp').restart()]])
  if modern() then
    if next(M.user) ~= nil then
      vim.lsp.config(NAME, M.user)
    end
    vim.lsp.enable(NAME)
    return
  end
  vim.cmd([[
    augroup kptr_lsp
      autocmd!
      autocmd FileType c lua require('kptr_lsp').start(tonumber(vim.fn.expand('<abuf>')))
    augroup END
  ]])
  -- C buffers opened before setup() ran
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].filetype == 'c' then
      M.start(buf)
    end
  end
end

return M
