-- Starts kptr-lsp for C buffers, unless `vim.g.kptr_lsp_autostart = false` or init.lua already
-- called require('kptr_lsp').setup{...}. Settings for the server can also be given as
-- `vim.g.kptr_lsp_settings = { extraFlags = { '-DDEBUG' } }` (they become init_options).
if vim.g.loaded_kptr_lsp then
  return
end
vim.g.loaded_kptr_lsp = true
if vim.g.kptr_lsp_autostart == false then
  return
end
local kptr = require('kptr_lsp')
if not kptr.did_setup then
  local opts = {}
  if type(vim.g.kptr_lsp_settings) == 'table' then
    opts.init_options = vim.g.kptr_lsp_settings
  end
  kptr.setup(opts)
end
