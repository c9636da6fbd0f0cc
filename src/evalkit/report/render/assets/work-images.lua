-- evalkit: the report's own images, and nothing else.
-- Pandoc runs with --sandbox, so its readers and writers open no file but those named on
-- the command line and make no network request: an image or iframe a document points at
-- elsewhere (a file outside the report, a URL) is not fetched. The report's own figures
-- are files directly in the render's work folder (the first --resource-path); this filter
-- reads each image named by a plain file name there into pandoc's media bag, where the
-- HTML, DOCX and typst writers find it, and shows any other image as its description
-- (so that no writer, and not typst, ever looks for it).
local MIME = { png = "image/png", svg = "image/svg+xml", jpg = "image/jpeg",
               jpeg = "image/jpeg", gif = "image/gif" }
local work = PANDOC_STATE.resource_path[1]

local function read(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local data = f:read("a")
  f:close()
  return data
end

function Image(img)
  local src = img.src
  local ext = src:match("^[%w][%w_.-]*%.(%w+)$")
  local mime = ext and MIME[ext:lower()]
  if work and mime and not src:find("..", 1, true) then
    if pandoc.mediabag.lookup(src) then
      return nil
    end
    local data = read(work .. "/" .. src)
    if data then
      pandoc.mediabag.insert(src, mime, data)
      return nil
    end
  end
  return img.caption
end
