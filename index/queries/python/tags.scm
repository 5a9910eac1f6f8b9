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
; A method called on a name: the name qualifies it (`nodes.Foo()` is `Foo` of module `nodes`,
; `Foo.create()` the `create` of class `Foo`; `self.f()` and `x.f()` still resolve by scope).
(call function: (attribute object: (identifier) @receiver @qualifier attribute: (identifier) @name)) @reference.call
(call function: (attribute object: (_) @receiver attribute: (identifier) @name)) @reference.call

(class_definition superclasses: (argument_list [
  (identifier) @name
  (attribute attribute: (identifier) @name)
])) @reference.implementation

(type (identifier) @name) @reference.type
(type (attribute object: (identifier) @qualifier attribute: (identifier) @name)) @reference.type
(type (generic_type (identifier) @name)) @reference.type

; Names used as values: passed, assigned, or qualifying an attribute (`register(Handler)`,
; `x = DEFAULT_LIMIT`, `NodeKind.CALL`). Local variables among them find no definition.
(argument_list (identifier) @name) @reference.type
(keyword_argument value: (identifier) @name) @reference.type
(assignment right: (identifier) @name) @reference.type
(attribute object: (identifier) @name (#match? @name "^[A-Z]")) @reference.type

; A name imported from a module is used from it (`from mypy.nodes import Var`).
(import_from_statement name: (dotted_name . (identifier) @name .)) @reference.type
(import_from_statement name: (aliased_import name: (dotted_name . (identifier) @name .))) @reference.type

(import_statement name: (dotted_name) @name) @import
(import_statement name: (aliased_import name: (dotted_name) @name)) @import
(import_from_statement module_name: (dotted_name) @name) @import
(import_from_statement module_name: (relative_import) @name) @import
