; `require("a.b")`, `require "a.b"` (both parse as `arguments`).
(function_call name: (identifier) @_fn arguments: (arguments (string content: (string_content) @path)) (#eq? @_fn "require"))
