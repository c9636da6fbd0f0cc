-- evalkit: drop the `.evalkit-page-notice` Divs from the body of a paged document (PDF,
-- DOCX), whose page headers carry the notice on every page instead; the HTML keeps them.
function Div(div)
  if div.classes:includes("evalkit-page-notice") then
    return {}
  end
end
