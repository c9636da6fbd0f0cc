-- evalkit: make an image's `fig-alt` attribute its alt text.
-- Pandoc 3 writes an image's own description as HTML `alt` and DOCX `descr`; the
-- visible caption belongs to the enclosing Figure and is left as it is. Pandoc's
-- typst writer drops the description, so for typst the image is written directly
-- with typst's `alt:` (used in tagged PDF).
local function typst_string(s)
  return '"' .. s:gsub("\\", "\\\\"):gsub('"', '\\"'):gsub("\n", " ") .. '"'
end

local function typst_length(value)
  if value and (value:match("^[%d.]+%%$") or value:match("^[%d.]+[cm]m$")
      or value:match("^[%d.]+in$") or value:match("^[%d.]+pt$")) then
    return value
  end
  return nil
end

function Image(img)
  local alt = img.attributes["fig-alt"]
  if alt == nil then
    return nil
  end
  img.attributes["fig-alt"] = nil
  if FORMAT:match("typst") then
    local args = { typst_string(img.src), "alt: " .. typst_string(alt) }
    local width = typst_length(img.attributes["width"])
    if width then
      table.insert(args, "width: " .. width)
    end
    return pandoc.RawInline("typst", "#image(" .. table.concat(args, ", ") .. ")")
  end
  img.caption = pandoc.Inlines({ pandoc.Str(alt) })
  return img
end
