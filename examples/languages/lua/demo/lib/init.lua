local M = {}
M.name = "world"
return M
