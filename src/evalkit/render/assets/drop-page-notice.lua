-- evalkit: drop the `.evalkit-page-notice` Divs from the body of a paged document (PDF,
-- DOCX), whose page headers carry the notice on every page instead; HTML keeps them (styled
-- small and right-aligned by report.css, or quarto.css under Quarto).
-- Used by the built-in engine for DOCX and PDF, and listed in the reports' front matter for
-- Quarto. The notice's text is kept in the metadata field `evalkit-page-notice`, which
-- pandoc's DOCX writer stores as a custom document property; `evalkit report --engine
-- quarto` puts it in the DOCX page header from there (Quarto's DOCX has no page header).
local notices = {}

function Div(div)
  if div.classes:includes("evalkit-page-notice") and not FORMAT:match("html") then
    table.insert(notices, pandoc.utils.stringify(div.content))
    return {}
  end
end

function Meta(meta)
  if #notices > 0 and meta["evalkit-page-notice"] == nil then
    meta["evalkit-page-notice"] = table.concat(notices, " ")
    return meta
  end
end

return { { Div = Div }, { Meta = Meta } }
