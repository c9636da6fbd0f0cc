-- evalkit under Quarto (DOCX): a captioned table (a `tbl-` float) as the built-in engine
-- writes it, its caption and the table itself in the body.
-- Quarto 1.7 puts each DOCX float in a one-cell layout table (centred by default), so the
-- report's tables came out with centred text and, laid out inside that cell, narrower
-- columns than the built-in engine's, which broke words mid-way. Run `at: post-render`,
-- when the layout table is an ordinary Table whose one cell holds the float's Div (with the
-- float's identifier, the target of cross-references), this filter puts that Div in its
-- place. A figure (a `fig-` float) becomes pandoc's own Figure, as the built-in engine
-- writes it: inside the layout table a word processor clipped a wide picture to the cell
-- (LibreOffice cut the synthetic-control chart's legend), drew the table's border round
-- it, and could put the caption on the next page (a table row may break across pages);
-- pandoc's figure paragraph is kept with its caption ("Captioned Figure", keep with next)
-- and carries the float's identifier as a bookmark for cross-references. A figure of any
-- other shape (several pictures, sub-figures) keeps Quarto's layout. Quarto-only: the
-- built-in engine has no such tables.
-- Quarto's caption: a Para that opens with its own paragraph properties (raw OpenXML).
local function quarto_caption(block)
  local first = block and block.t == "Para" and block.content[1]
  if first and first.t == "RawInline" and first.text:match("^%s*<w:pPr>") then
    local inlines = block.content:clone()
    inlines:remove(1)
    return inlines
  end
  return nil
end

-- A float holding one picture and its caption, as pandoc's Figure; nil for other shapes.
local function figure(div)
  local picture, caption = div.content[1], quarto_caption(div.content[2])
  if #div.content ~= 2 or not caption or (picture.t ~= "Plain" and picture.t ~= "Para")
      or #picture.content ~= 1 or picture.content[1].t ~= "Image" then
    return nil
  end
  return pandoc.Figure({ pandoc.Plain(picture.content) }, { pandoc.Plain(caption) },
    pandoc.Attr(div.identifier))
end

local function float_div(tbl)
  if not FORMAT:match("docx") or #tbl.colspecs ~= 1 or #tbl.head.rows ~= 0
      or #tbl.foot.rows ~= 0 or #tbl.bodies ~= 1 then
    return nil
  end
  local rows = tbl.bodies[1].body
  if #rows ~= 1 or #rows[1].cells ~= 1 then
    return nil
  end
  local contents = rows[1].cells[1].contents
  local div = contents[1]
  if #contents ~= 1 or div.t ~= "Div" then
    return nil
  end
  if div.identifier:match("^fig%-") then
    return figure(div)
  end
  if not div.identifier:match("^tbl%-") then
    return nil
  end
  -- Quarto's caption is a Para that opens with its own paragraph properties (raw OpenXML),
  -- which in the body would follow pandoc's own: it becomes a paragraph in pandoc's "Table
  -- Caption" style (kept with the table), as the built-in engine's captions are.
  for i, block in ipairs(div.content) do
    local inlines = quarto_caption(block)
    if inlines then
      div.content[i] = pandoc.Div({ pandoc.Para(inlines) },
        pandoc.Attr("", {}, { ["custom-style"] = "Table Caption" }))
    end
  end
  return div
end

function Table(tbl)
  return float_div(tbl)
end
