(call_expression function: (identifier) @call)
(call_expression function: (member_expression property: (property_identifier) @call))
(member_expression object: (identifier) @reference property: (property_identifier) @attribute)
(new_expression constructor: (identifier) @reference)
(throw_statement (new_expression constructor: (identifier) @raise))
(type_identifier) @reference
