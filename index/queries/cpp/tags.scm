; C++: definitions, references and includes, with the standard tags capture names.
; Earlier patterns win when several match one node, so the specific ones come first.

; Methods: defined in the class body, declared there, or defined out of line as `Class::name`.
(field_declaration_list (declaration declarator: (function_declarator declarator: (identifier) @name)) @definition.method)
(field_declaration declarator: (pointer_declarator declarator: (function_declarator declarator: (field_identifier) @name))) @definition.method
(field_declaration declarator: (reference_declarator (function_declarator declarator: (field_identifier) @name))) @definition.method
(function_definition declarator: (function_declarator declarator: (field_identifier) @name)) @definition.method
(field_declaration declarator: (function_declarator declarator: (field_identifier) @name)) @definition.method
(function_definition declarator: (function_declarator declarator: (qualified_identifier name: (identifier) @name))) @definition.method
(function_definition declarator: (reference_declarator (function_declarator declarator: (qualified_identifier name: (identifier) @name)))) @definition.method
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (qualified_identifier name: (identifier) @name)))) @definition.method

(function_definition declarator: [
  (function_declarator declarator: (identifier) @name)
  (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
  (reference_declarator (function_declarator declarator: (identifier) @name))
]) @definition.function
(declaration declarator: (function_declarator declarator: (identifier) @name)) @definition.function
(class_specifier name: (type_identifier) @name body: (_)) @definition.class
(struct_specifier name: (type_identifier) @name body: (_)) @definition.struct
(union_specifier name: (type_identifier) @name body: (_)) @definition.struct
(enum_specifier name: (type_identifier) @name body: (_)) @definition.enum
(namespace_definition name: (namespace_identifier) @name) @definition.module
(type_definition declarator: (type_identifier) @name) @definition.type
(alias_declaration name: (type_identifier) @name) @definition.type
(preproc_def name: (identifier) @name) @definition.macro
(preproc_function_def name: (identifier) @name) @definition.macro

(call_expression function: (qualified_identifier scope: (_) @qualifier name: (identifier) @name)) @reference.call
(call_expression function: [
  (identifier) @name
  (field_expression argument: (_) @receiver field: (field_identifier) @name)
  (qualified_identifier name: (identifier) @name)
  (template_function name: (identifier) @name)
]) @reference.call
(new_expression type: (type_identifier) @name) @reference.call
(base_class_clause (type_identifier) @name) @reference.implementation
(type_identifier) @name @reference.type

(preproc_include path: [(string_literal) (system_lib_string)] @name) @import
