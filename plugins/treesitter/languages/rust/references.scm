(call_expression function: (identifier) @call)
(call_expression function: (field_expression field: (field_identifier) @call))
(call_expression function: (scoped_identifier path: (identifier) @reference name: (identifier) @call))
(call_expression function: (scoped_identifier path: (scoped_identifier name: (identifier) @reference) name: (identifier) @call))
(macro_invocation macro: (identifier) @call)
(field_expression field: (field_identifier) @attribute)
(struct_expression name: (type_identifier) @reference)
(type_identifier) @reference
(scoped_type_identifier name: (type_identifier) @reference)
