; C++: what C++ adds to C; the C patterns (c/tags.scm) are appended after these, so these win
; when both match a node (a function defined in a class is a method).

; Methods: defined in the class body, declared there, or defined out of line as `Class::name`.
(field_declaration_list (declaration declarator: (function_declarator declarator: (identifier) @name)) @definition.method)
(field_declaration declarator: (pointer_declarator declarator: (function_declarator declarator: (field_identifier) @name))) @definition.method
(field_declaration declarator: (reference_declarator (function_declarator declarator: (field_identifier) @name))) @definition.method
(function_definition declarator: (function_declarator declarator: (field_identifier) @name)) @definition.method
(field_declaration declarator: (function_declarator declarator: (field_identifier) @name)) @definition.method
(function_definition declarator: (function_declarator declarator: (qualified_identifier name: (identifier) @name))) @definition.method
(function_definition declarator: (reference_declarator (function_declarator declarator: (qualified_identifier name: (identifier) @name)))) @definition.method
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (qualified_identifier name: (identifier) @name)))) @definition.method
(function_definition declarator: (reference_declarator (function_declarator declarator: (identifier) @name))) @definition.function

(class_specifier name: (type_identifier) @name body: (_)) @definition.class
(namespace_definition name: (namespace_identifier) @name) @definition.module
(alias_declaration name: (type_identifier) @name) @definition.type

(call_expression function: (qualified_identifier scope: (_) @qualifier name: (identifier) @name)) @reference.call
(call_expression function: [
  (qualified_identifier name: (identifier) @name)
  (template_function name: (identifier) @name)
]) @reference.call
(new_expression type: (type_identifier) @name) @reference.call
(base_class_clause (type_identifier) @name) @reference.implementation
