-- evalkit: Quarto callouts (`::: {.callout-note}` and friends) without Quarto.
-- The title comes from the `title` attribute, else a leading heading, else the kind.
-- HTML gets classed Divs (styled by report.css), typst a coloured block, other
-- formats a bold title paragraph.
-- Under Quarto (listed in the reports' front matter `at: pre-ast`, before Quarto reads
-- callouts) it draws only typst callouts: Quarto 1.7's own typst callouts import the
-- `@preview/fontawesome` package, which typst downloads on first use, so a PDF could not be
-- made offline. Quarto draws the callouts of every other format itself.
local titles = {
  note = "Note", warning = "Warning", important = "Important", tip = "Tip", caution = "Caution",
}
local colours = {
  note = { "#005EB8", "#EAF2FA" }, warning = { "#FFB81C", "#FFF9E6" },
  important = { "#DA291C", "#FDECEA" }, tip = { "#009639", "#E8F5EC" },
  caution = { "#ED8B00", "#FEF3E6" },
}

local function kind_of(div)
  for _, class in ipairs(div.classes) do
    local kind = class:match("^callout%-(%a+)$")
    if kind and titles[kind] then
      return kind
    end
  end
  return nil
end

local function split_title(div, kind)
  local body = pandoc.Blocks({})
  local title = nil
  if div.attributes["title"] then
    title = pandoc.utils.blocks_to_inlines(pandoc.read(div.attributes["title"], "markdown").blocks)
  end
  for i, block in ipairs(div.content) do
    if i == 1 and title == nil and block.t == "Header" then
      title = block.content
    else
      body:insert(block)
    end
  end
  return title or pandoc.Inlines({ pandoc.Str(titles[kind]) }), body
end

local function Div(div)
  local kind = kind_of(div)
  if kind == nil then
    return nil
  end
  local title, body = split_title(div, kind)
  if FORMAT:match("html") then
    return pandoc.Div({
      pandoc.Div({ pandoc.Plain(title) }, pandoc.Attr("", { "callout-title" })),
      pandoc.Div(body, pandoc.Attr("", { "callout-body" })),
    }, pandoc.Attr(div.identifier, { "callout", "callout-" .. kind }))
  end
  local blocks = pandoc.Blocks({ pandoc.Para({ pandoc.Strong(title) }) })
  blocks:extend(body)
  if FORMAT:match("typst") then
    local c = colours[kind]
    blocks:insert(1, pandoc.RawBlock("typst", string.format(
      '#block(width: 100%%, inset: 8pt, radius: 2pt, fill: rgb("%s"), '
      .. 'stroke: (left: 3pt + rgb("%s")))[', c[2], c[1])))
    blocks:insert(pandoc.RawBlock("typst", "]"))
    return blocks
  end
  return pandoc.Div(blocks, pandoc.Attr(div.identifier, div.classes))
end

if quarto ~= nil and not FORMAT:match("typst") then
  return {}
end
return { { Div = Div } }
