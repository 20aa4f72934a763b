(mod_item name: (identifier) @mod !body)
(use_declaration argument: (_) @use)
