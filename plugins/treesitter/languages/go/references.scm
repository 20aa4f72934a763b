(call_expression function: (identifier) @call)
(call_expression function: (selector_expression operand: (identifier) @reference field: (field_identifier) @call))
(selector_expression field: (field_identifier) @attribute)
(qualified_type package: (package_identifier) @reference name: (type_identifier) @reference)
(type_identifier) @reference
(composite_literal type: (type_identifier) @reference)
