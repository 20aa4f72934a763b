(call_expression function: (identifier) @call)
(call_expression function: (field_expression field: (field_identifier) @call))
(call_expression function: (qualified_identifier scope: (namespace_identifier) @reference name: (identifier) @call))
(field_expression field: (field_identifier) @attribute)
(type_identifier) @reference
(throw_statement (call_expression function: (identifier) @raise))
(new_expression type: (type_identifier) @reference)
