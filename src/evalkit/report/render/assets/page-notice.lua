-- evalkit: reduce a document to the plain text of its `.evalkit-page-notice` Divs,
-- one per line (used to put the notice in every DOCX page header).
function Pandoc(doc)
  local lines = {}
  doc.blocks:walk({
    Div = function(div)
      if div.classes:includes("evalkit-page-notice") then
        local parts = {}
        for _, block in ipairs(div.content) do
          table.insert(parts, pandoc.utils.stringify(block))
        end
        table.insert(lines, table.concat(parts, " "))
      end
    end,
  })
  local blocks = {}
  for _, line in ipairs(lines) do
    table.insert(blocks, pandoc.Plain({ pandoc.Str(line) }))
  end
  return pandoc.Pandoc(blocks)
end
