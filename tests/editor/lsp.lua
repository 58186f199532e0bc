-- Drives `moat lsp` from Neovim's built-in LSP client, headless (tests/lsp_editor.rs).
--   MOAT_BIN=target/debug/moat MOAT_FILE=dir/main.moat nvim --headless -u NONE -l ... (0.7: -c 'luafile ...')
-- Opens the file, waits for diagnostics, asks for hover, definition,
-- completion and rename, and prints one line per result on stdout:
--   DIAG <code> <line>:<col> <first line of the message>
--   HOVER <first line>    DEF <file name> <line>:<col>    COMPLETE <labels>
--   RENAME <edited line>  DONE
-- Any failure prints `FAIL <why>` and exits 1.

local out = io.stdout
local function say(...) out:write(table.concat({ ... }, " "), "\n") out:flush() end
local function fail(why) say("FAIL", why) vim.cmd("cquit 1") end

local bin, file = os.getenv("MOAT_BIN"), os.getenv("MOAT_FILE")
if not bin or not file then fail("MOAT_BIN and MOAT_FILE must be set") return end

local ready = false
local id = vim.lsp.start_client({
  name = "moat",
  cmd = { bin, "lsp" },
  root_dir = vim.fn.fnamemodify(file, ":h"),
  on_init = function() ready = true end,
})
if not id then fail("the server did not start") return end
vim.cmd("edit " .. vim.fn.fnameescape(file))
local buf = vim.api.nvim_get_current_buf()
vim.lsp.buf_attach_client(buf, id)
if not vim.wait(10000, function() return ready end, 20) then fail("no initialize answer") return end
local client = vim.lsp.get_client_by_id(id)

-- diagnostics
if not vim.wait(10000, function() return #vim.diagnostic.get(buf) > 0 end, 20) then
  fail("no diagnostics") return
end
for _, d in ipairs(vim.diagnostic.get(buf)) do
  local lsp = d.user_data and d.user_data.lsp or {}
  local code = d.code or lsp.code or "?"
  say("DIAG", code, (d.lnum + 1) .. ":" .. (d.col + 1), (vim.split(d.message, "\n")[1]))
end

-- the position of the n-th `needle` in the buffer, `skip` characters in (UTF-16 = bytes here: ASCII)
local function pos(needle, skip, n)
  local seen = 0
  for l, text in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    local from = 1
    while true do
      local s = text:find(needle, from, true)
      if not s then break end
      seen = seen + 1
      if seen == (n or 1) then
        return { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = l - 1, character = s - 1 + skip } }
      end
      from = s + 1
    end
  end
  fail("`" .. needle .. "` is not in the file")
end

local function ask(method, params)
  local r, err = client.request_sync(method, params, 10000, buf)
  if not r then fail(method .. ": " .. tostring(err)) end
  if r.err then fail(method .. ": " .. vim.inspect(r.err)) end
  return r.result
end

-- completion: a new line typed up to `allow dmz.web -> mz.` and then up to `: `
local last = vim.api.nvim_buf_line_count(buf)
vim.api.nvim_buf_set_lines(buf, last, last, false, { "allow dmz.web -> mz." })
local function complete(line_text)
  vim.api.nvim_buf_set_lines(buf, last, last + 1, false, { line_text })
  local r = ask("textDocument/completion", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = last, character = #line_text },
  })
  local labels = {}
  for _, it in ipairs(r.items or r) do table.insert(labels, it.label) end
  say("COMPLETE", table.concat(labels, ","))
end
complete("allow dmz.web -> mz.")
complete("allow dmz.web -> mz.postgres : ")
vim.api.nvim_buf_set_lines(buf, last, last + 1, false, {})

-- the quick fix for the typo, applied; the diagnostics then clear
local d = vim.diagnostic.get(buf)[1]
local range = { start = { line = d.lnum, character = d.col }, ["end"] = { line = d.end_lnum, character = d.end_col } }
local lspd = vim.tbl_extend("force", d.user_data and d.user_data.lsp or {}, { range = range, message = d.message, source = d.source or "moat" })
local actions = ask("textDocument/codeAction", {
  textDocument = { uri = vim.uri_from_bufnr(buf) },
  range = range,
  context = { diagnostics = { lspd } },
})
if not actions[1] then fail("no code action") return end
say("ACTION", actions[1].title)
vim.lsp.util.apply_workspace_edit(actions[1].edit, client.offset_encoding)
say("FIXED", vim.api.nvim_buf_get_lines(buf, d.lnum, d.lnum + 1, false)[1])
if not vim.wait(10000, function() return #vim.diagnostic.get(buf) == 0 end, 20) then
  fail("the diagnostics did not clear") return
end
say("CLEAN")

-- hover on the service in `allow internet -> dmz.web`
local h = ask("textDocument/hover", pos("-> dmz.web", 8))
say("HOVER", (vim.split(h.contents.value, "\n")[1]))
for _, l in ipairs(vim.split(h.contents.value, "\n")) do
  if l:find("internet %-> dmz.web") then say("HOVER-FLOW", vim.trim(l)) end
end

-- definition of `internet`, declared in the included file
local defs = ask("textDocument/definition", pos("internet ->", 1))
for _, d in ipairs(defs) do
  say("DEF", vim.fn.fnamemodify(vim.uri_to_fname(d.uri), ":t"), (d.range.start.line + 1) .. ":" .. (d.range.start.character + 1))
end

-- rename the service `web` from a use; apply the edit to every file it touches
local edit = ask("textDocument/rename", vim.tbl_extend("force", pos("dmz.web ->", 4), { newName = "portal" }))
vim.lsp.util.apply_workspace_edit(edit, client.offset_encoding)
for _, l in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
  if l:find("portal", 1, true) then say("RENAME", l) end
end
say("DONE")
vim.lsp.stop_client(id)
vim.wait(5000, function() return vim.lsp.client_is_stopped(id) end, 20)
vim.cmd("qall!")
