local util = require("lib.util")
local config = require "lib"

--- Greets someone, twice.
local function greet(name)
  return util.twice("hello " .. name)
end

print(greet(config.name))
