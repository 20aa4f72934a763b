(method_invocation name: (identifier) @call)
(method_invocation object: (identifier) @reference)
(object_creation_expression type: (type_identifier) @reference)
(field_access field: (identifier) @attribute)
(type_identifier) @reference
(throw_statement (object_creation_expression type: (type_identifier) @raise))
(catch_type (type_identifier) @handle)
