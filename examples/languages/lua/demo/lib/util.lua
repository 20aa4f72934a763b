local M = {}

--- Repeats a string.
function M.twice(s)
  return s .. s
end

function M:method() end

return M
