-- Make a figure's `fig-alt` attribute its image's alt text (HTML alt, DOCX descr).
function Image(img)
  local alt = img.attributes["fig-alt"]
  if alt then
    img.attributes["fig-alt"] = nil
    img.caption = pandoc.Inlines(pandoc.Str(alt))
  end
  return img
end
