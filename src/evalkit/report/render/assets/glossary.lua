-- evalkit: a glossary of only the terms a report uses, each linked from its first use (HTML).
-- The report prints every term it might use (evalkit.report.glossary) in a Div of class
-- `evalkit-glossary`, one Div per term (identifier `gloss-<key>`, attribute
-- `data-phrases`: the phrases that show the term is used, separated by ";"). This filter
-- reads the rest of the document as rendered, keeps the entries whose phrases occur in
-- it, drops the glossary and its heading (`#sec-glossary`) if none does, and in HTML makes the first use of each kept term
-- (outside headings, links, code, images and the glossary) a link to its entry.
-- A phrase in lower case matches in any case, one with capitals exactly; letters and
-- digits at its ends must not run on into a longer word.
-- Used by the built-in engine for every format, and listed in the reports' front matter
-- for Quarto.

-- The identifier of the glossary's heading (evalkit.report.glossary.GLOSSARY_ID), in the report.
local GLOSSARY_ID = "sec-glossary"

local function escape(s)
  return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

local function pattern_of(phrase)
  local p = escape(phrase)
  if phrase:match("^%w") then
    p = "%f[%w]" .. p
  end
  if phrase:match("%w$") then
    p = p .. "%f[%W]"
  end
  return p
end

local function is_glossary(div)
  return div.classes:includes("evalkit-glossary")
end

-- Each entry: key (identifier), its patterns, whether lower case.
local function read_entries(div)
  local entries = {}
  for _, block in ipairs(div.content) do
    if block.t == "Div" and block.classes:includes("evalkit-glossary-entry") then
      local matchers = {}
      for phrase in (block.attributes["data-phrases"] or ""):gmatch("[^;]+") do
        table.insert(matchers, { pattern = pattern_of(phrase), any_case = phrase == phrase:lower() })
      end
      table.insert(entries, { id = block.identifier, matchers = matchers })
    end
  end
  return entries
end

-- Where the first of an entry's phrases occurs in text: start and end, or nil.
local function find(entry, text, lower)
  local best_s, best_e = nil, nil
  for _, m in ipairs(entry.matchers) do
    local s, e = (m.any_case and lower or text):find(m.pattern)
    if s and (best_s == nil or s < best_s) then
      best_s, best_e = s, e
    end
  end
  return best_s, best_e
end

-- The text of an inline as matching sees it, and whether it can be split (a word or a
-- space) or is opaque (emphasis, a link, code...: its text counts for the order of uses,
-- and a use inside it is linked when the walk reaches its own inlines, if it can be).
local function piece(inline)
  if inline.t == "Str" then
    return inline.text, false
  elseif inline.t == "Space" or inline.t == "SoftBreak" then
    return " ", false
  end
  return pandoc.utils.stringify(inline), true
end

local function glossary_link(inlines, id)
  return pandoc.Link(inlines, "#" .. id, "", pandoc.Attr("", { "evalkit-glossary-link" }))
end

-- Link the first use of `entry` in a list of inlines, splitting Str elements at the use's
-- ends. Returns the new inlines, or nil if there is no use here, or the first one is
-- (partly) inside an opaque inline.
local function link_in(inlines, entry)
  local text, spans = "", {}
  for i, inline in ipairs(inlines) do
    local t, opaque = piece(inline)
    spans[i] = { first = #text + 1, last = #text + #t, text = t, opaque = opaque }
    text = text .. t
  end
  local s, e = find(entry, text, text:lower())
  if not s then
    return nil
  end
  for _, span in ipairs(spans) do
    if span.opaque and span.first <= e and span.last >= s then
      return nil
    end
  end
  local out, linked = pandoc.Inlines({}), pandoc.Inlines({})
  for i, inline in ipairs(inlines) do
    local span = spans[i]
    local a, b, t = span.first, span.last, span.text
    if b < s or a > e then
      if a > e and #linked > 0 then
        out:insert(glossary_link(linked, entry.id))
        linked = pandoc.Inlines({})
      end
      out:insert(inline)
    else
      local before = t:sub(1, math.max(0, s - a))
      local inside = t:sub(math.max(1, s - a + 1), math.min(#t, e - a + 1))
      local after = t:sub(math.min(#t, e - a + 1) + 1)
      if before ~= "" then
        out:insert(pandoc.Str(before))
      end
      linked:insert(inline.t == "Str" and pandoc.Str(inside) or inline)
      if after ~= "" then
        out:insert(glossary_link(linked, entry.id))
        linked = pandoc.Inlines({})
        out:insert(pandoc.Str(after))
      end
    end
  end
  if #linked > 0 then
    out:insert(glossary_link(linked, entry.id))
  end
  return out
end

local function skip(el)
  return el, false
end

-- The glossary Div's entries, kept only if used; nil if none is.
local function kept_entries(glossary, used)
  local kept, any = pandoc.Blocks({}), false
  for _, block in ipairs(glossary.content) do
    if block.t == "Div" and block.classes:includes("evalkit-glossary-entry") then
      if used[block.identifier] then
        block.attributes["data-phrases"] = nil
        kept:insert(block)
        any = true
      end
    else
      kept:insert(block)
    end
  end
  return any and kept or nil
end

function Pandoc(doc)
  local entries = nil
  doc:walk({
    Div = function(div)
      if entries == nil and is_glossary(div) then
        entries = read_entries(div)
      end
    end,
  })
  if entries == nil then
    return nil
  end
  -- The report's text as rendered, the glossary left out.
  local rest = doc:walk({
    Div = function(div)
      if is_glossary(div) then
        return {}
      end
    end,
  })
  local parts = {}
  local function collect(block)
    table.insert(parts, pandoc.utils.stringify(block))
  end
  rest:walk({ Plain = collect, Para = collect, Header = collect, LineBlock = collect })
  local text = table.concat(parts, "\n")
  local lower = text:lower()
  local used, pending = {}, {}
  for _, entry in ipairs(entries) do
    if find(entry, text, lower) then
      used[entry.id] = entry
      table.insert(pending, entry)
    end
  end
  -- Keep the used entries; no glossary (nor its heading) when none is used.
  local empty = next(used) == nil
  doc = doc:walk({
    Div = function(div)
      if is_glossary(div) then
        if empty then
          return {}
        end
        div.content = kept_entries(div, used)
        return div
      end
    end,
    Header = function(header)
      if empty and header.identifier == GLOSSARY_ID then
        return {}
      end
    end,
  })
  if empty or not FORMAT:match("html") then
    return doc
  end
  -- HTML: the first use of each term links to its entry, in document order.
  return doc:walk({
    traverse = "topdown",
    Header = skip, Link = skip, Code = skip, CodeBlock = skip, RawBlock = skip,
    RawInline = skip, Image = skip, Math = skip,
    Div = function(div)
      if is_glossary(div) or div.classes:includes("evalkit-page-notice") then
        return div, false
      end
    end,
    Inlines = function(inlines)
      local changed = false
      local i = 1
      while i <= #pending do
        local result = link_in(inlines, pending[i])
        if result then
          inlines = result
          table.remove(pending, i)
          changed = true
        else
          i = i + 1
        end
      end
      if changed then
        return inlines
      end
    end,
  })
end
