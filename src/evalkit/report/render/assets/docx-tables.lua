-- evalkit (DOCX): no number or word broken inside a table cell when Word or LibreOffice
-- lays the table out.
-- A word processor breaks a word mid-way only when the column is narrower than the word
-- ("0.00|7"), and may break between a sign and its number ("<|0.001", "−|£486"). So, in
-- every table of a DOCX:
-- 1. a comparison sign and the number after it ("< 0.001") are joined by a no-break
--    space, and a sign before a currency symbol ("−£486") by a word joiner (U+2060);
-- 2. each column is made at least as wide as its longest unbreakable piece of text (a
--    hyphenated word may break after its hyphens) at the
--    table's 9 pt (evalkit's reference document: A4, 2 cm margins, 0.19 cm cell padding),
--    the width taken from columns that have room to spare; the relative widths the report
--    chose are kept otherwise.
-- 3. in all text, a year-month ("2019-10") is kept whole by a word joiner after its hyphen
--    (LibreOffice breaks after a hyphen even before a digit).
-- Used by the built-in engine for DOCX, and listed in the reports' front matter for
-- Quarto (`at: post-render`, after quarto-tables.lua has taken the tables out of Quarto's
-- layout tables). Other formats are left alone.
local NBSP = "\u{00A0}"
local JOINER = "\u{2060}"
-- The text width of an A4 page with 2 cm margins, and the width of one character at 9 pt
-- (an upper bound for the digits and most letters of the fonts Word and LibreOffice use,
-- Calibri, Carlito, Liberation and DejaVu Sans), both in twips; the cell's own padding.
local TEXT_WIDTH = 11906 - 2 * 1134
local CHAR_WIDTH = 9 * 20 * 0.64
local PADDING = 2 * 108 + 60

local SIGNS = { ["<"] = true, [">"] = true, ["≤"] = true, ["≥"] = true, ["="] = true,
                ["~"] = true, ["±"] = true }

local function starts_with_number(text)
  return text:match("^[%d.]") or text:match("^−%d") or text:match("^%-%d")
      or text:match("^[£$€]") or text:match("^−[£$€]")
end

-- A minus or hyphen joined to the currency symbol after it by one word joiner. Only that
-- joiner is touched: the one after a year-month's hyphen (Str, below) stays. (Plain
-- string replacement: in a Lua pattern a class such as [−£] matches single bytes.)
local function join_currency(text)
  for _, sign in ipairs({ "−", "-" }) do
    for _, currency in ipairs({ "£", "$", "€" }) do
      local joined = sign .. JOINER .. currency
      local pattern = (sign .. currency):gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
      text = text:gsub(pattern, joined)
    end
  end
  return text
end

-- Join a sign and the number after it; keep a minus with the currency symbol after it.
local function join_inlines(inlines)
  local out = pandoc.Inlines({})
  local i = 1
  while i <= #inlines do
    local item = inlines[i]
    local nxt, after = inlines[i + 1], inlines[i + 2]
    if item.t == "Str" and SIGNS[item.text] and nxt and nxt.t == "Space" and after
        and after.t == "Str" and starts_with_number(after.text) then
      out:insert(pandoc.Str(item.text .. NBSP .. after.text))
      i = i + 3
    else
      if item.t == "Str" then
        item = pandoc.Str(join_currency(item.text))
      end
      out:insert(item)
      i = i + 1
    end
  end
  return out
end

-- The longest piece of a cell's text that cannot be broken, in characters: split at
-- spaces (a no-break space joins) and after a hyphen between letters, where a word
-- processor breaks a hyphenated word ("mental-|health-|primary-care"; a column as wide
-- as the whole word took a third of the page from a column of sentences). A hyphen
-- between digits, or one followed by a word joiner (a year-month), does not split.
local function longest_piece(cell)
  local text = pandoc.utils.stringify(cell.contents)
  local longest = 0
  for piece in text:gsub("(%a%-)%f[%a]", "%1 "):gmatch("[^ \t\n]+") do
    piece = piece:gsub(JOINER, "")
    local n = utf8.len(piece) or #piece
    if n > longest then
      longest = n
    end
  end
  return longest
end

local function rows_of(tbl)
  local rows = {}
  for _, row in ipairs(tbl.head.rows) do
    table.insert(rows, row)
  end
  for _, body in ipairs(tbl.bodies) do
    for _, row in ipairs(body.head) do
      table.insert(rows, row)
    end
    for _, row in ipairs(body.body) do
      table.insert(rows, row)
    end
  end
  for _, row in ipairs(tbl.foot.rows) do
    table.insert(rows, row)
  end
  return rows
end

-- Widen columns narrower than their longest piece, taking the width from columns with
-- room to spare, in proportion to that room.
local function fit_widths(tbl)
  local n = #tbl.colspecs
  local widths, need = {}, {}
  for i, spec in ipairs(tbl.colspecs) do
    if type(spec[2]) ~= "number" then
      return -- widths left to the word processor (they fit their text)
    end
    widths[i], need[i] = spec[2], 0
  end
  for _, row in ipairs(rows_of(tbl)) do
    local col = 1
    for _, cell in ipairs(row.cells) do
      if cell.col_span == 1 and col <= n then
        local w = (longest_piece(cell) * CHAR_WIDTH + PADDING) / TEXT_WIDTH
        need[col] = math.max(need[col], w)
      end
      col = col + cell.col_span
    end
  end
  local short, spare = 0, 0
  for i = 1, n do
    short = short + math.max(0, need[i] - widths[i])
    spare = spare + math.max(0, widths[i] - need[i])
  end
  if short == 0 or spare == 0 then
    return
  end
  local take = math.min(short, spare)
  for i = 1, n do
    if need[i] > widths[i] then
      widths[i] = widths[i] + (need[i] - widths[i]) * take / short
    else
      widths[i] = widths[i] - (widths[i] - need[i]) * take / spare
    end
  end
  for i, spec in ipairs(tbl.colspecs) do
    tbl.colspecs[i] = { spec[1], widths[i] }
  end
end

local function Str(str)
  local text = str.text:gsub(JOINER, ""):gsub("(%d%d%d%d%-)(%d%d)", "%1" .. JOINER .. "%2")
  if text ~= str.text then
    return pandoc.Str(text)
  end
end

-- An image's description (its alt text) is left as it is: it is not laid out.
local function skip_image(img)
  return img, false
end

local function Table(tbl)
  tbl = tbl:walk({ traverse = "topdown", Image = skip_image, Inlines = join_inlines })
  fit_widths(tbl)
  return tbl
end

if not FORMAT:match("docx") then
  return {}
end
return { { traverse = "topdown", Image = skip_image, Str = Str }, { Table = Table } }
