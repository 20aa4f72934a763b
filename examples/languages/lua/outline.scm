; Lua outline for repo2agent's `tree-sitter` analyzer type (grammar:
; tree-sitter-lua). Conventions: plugins/treesitter/queries/README.md.
(function_declaration name: (identifier) @name) @definition.function
(function_declaration name: (dot_index_expression) @name) @definition.function
(function_declaration name: (method_index_expression) @name) @definition.method
(chunk (variable_declaration (assignment_statement (variable_list name: (identifier) @name) (expression_list value: (function_definition)))) @definition.function)
(chunk (variable_declaration (assignment_statement (variable_list name: (identifier) @name))) @definition.variable)
