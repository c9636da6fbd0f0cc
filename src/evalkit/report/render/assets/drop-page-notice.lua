-- evalkit: drop the `.evalkit-page-notice` Divs from the body of a paged document (PDF,
-- DOCX), whose page headers carry the notice on every page instead; HTML keeps them (styled
-- small and right-aligned by report.css, or quarto.css under Quarto).
-- Used by the built-in engine for DOCX and PDF, and listed in the reports' front matter for
-- Quarto. The notice's text is kept in the metadata field `evalkit-page-notice`, which
-- pandoc's DOCX writer stores as a custom document property; the page header of evalkit's
-- reference DOCX shows that property (a DOCPROPERTY field), so a plain `quarto render`
-- has the notice on every page, and `evalkit report` writes it into the header as text.
-- A DOCX without a notice gets a no-break space there, so that the field never shows
-- Word's "unknown document property" error.
local notices = {}

function Div(div)
  if div.classes:includes("evalkit-page-notice") and not FORMAT:match("html") then
    table.insert(notices, pandoc.utils.stringify(div.content))
    return {}
  end
end

function Meta(meta)
  if meta["evalkit-page-notice"] ~= nil then
    return nil
  end
  if #notices > 0 then
    meta["evalkit-page-notice"] = table.concat(notices, " ")
    return meta
  elseif FORMAT:match("docx") then
    meta["evalkit-page-notice"] = pandoc.MetaString("\u{00A0}")
    return meta
  end
end

return { { Div = Div }, { Meta = Meta } }
