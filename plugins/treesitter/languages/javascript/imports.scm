(import_statement source: (string) @path)
(export_statement source: (string) @path)
(call_expression function: (identifier) @_fn arguments: (arguments . (string) @path) (#eq? @_fn "require"))
(call_expression function: (import) arguments: (arguments . (string) @path))
