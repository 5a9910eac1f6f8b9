; Python: definitions, references and imports, with the standard tags capture names.
; Earlier patterns win when several match one node, so the specific ones come first.

; Methods: functions directly in a class body, decorated or not.
(class_definition body: (block (function_definition name: (identifier) @name) @definition.method))
(class_definition body: (block (decorated_definition definition: (function_definition name: (identifier) @name) @definition.method)))

(function_definition name: (identifier) @name) @definition.function
(class_definition name: (identifier) @name) @definition.class

; Docstrings: a string as the first statement of the body.
(function_definition
  name: (identifier) @name
  body: (block . (expression_statement (string) @doc))) @definition.function
(class_definition
  name: (identifier) @name
  body: (block . (expression_statement (string) @doc))) @definition.class

; Module-level constants (ALL_CAPS by convention).
(module (expression_statement
  (assignment left: (identifier) @name) @definition.constant)
  (#match? @name "^[A-Z][A-Z0-9_]*$"))

(call function: (identifier) @name) @reference.call
(call function: (attribute object: (_) @receiver attribute: (identifier) @name)) @reference.call

(class_definition superclasses: (argument_list [
  (identifier) @name
  (attribute attribute: (identifier) @name)
])) @reference.implementation

(type (identifier) @name) @reference.type
(type (generic_type (identifier) @name)) @reference.type

(import_statement name: (dotted_name) @name) @import
(import_statement name: (aliased_import name: (dotted_name) @name)) @import
(import_from_statement module_name: (dotted_name) @name) @import
(import_from_statement module_name: (relative_import) @name) @import
