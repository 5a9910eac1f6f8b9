; Shared by JavaScript, TypeScript and TSX (appended after each language's own query, whose
; patterns therefore win when both match a node).

(method_definition name: (property_identifier) @name) @definition.method
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function

; Functions bound to names: `const f = () => {}`, `exports.f = function () {}`.
(lexical_declaration
  (variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)])) @definition.function
(variable_declaration
  (variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)])) @definition.function
(expression_statement (assignment_expression
  left: (member_expression property: (property_identifier) @name)
  right: [(arrow_function) (function_expression)])) @definition.function

(call_expression function: (identifier) @name) @reference.call
(call_expression function: (member_expression object: (identifier) @receiver @qualifier property: (property_identifier) @name)) @reference.call
(call_expression function: (member_expression object: [(this) (super)] @receiver @qualifier property: (property_identifier) @name)) @reference.call
(call_expression function: (member_expression object: (_) @receiver property: (property_identifier) @name)) @reference.call
(new_expression constructor: (identifier) @name) @reference.call

; Names used as values: passed, assigned, or qualifying a member (`register(Handler)`,
; `const x = DEFAULT_LIMIT`, `NodeTypes.ELEMENT`). Local variables among them find no definition.
(arguments (identifier) @name) @reference.type
(variable_declarator value: (identifier) @name) @reference.type
(member_expression object: (identifier) @name (#match? @name "^[A-Z]")) @reference.type

; A name imported from a module is used from it (`import { ref } from './ref'`), and a
; re-export names what it passes on (`export { formatDate } from './format'`).
(import_specifier name: (identifier) @name) @reference.type
(export_statement (export_clause (export_specifier name: (identifier) @name)) source: (_)) @reference.type

(import_statement source: (string (string_fragment) @name)) @import
(export_statement source: (string (string_fragment) @name)) @import
(call_expression
  function: (identifier) @_require
  arguments: (arguments . (string (string_fragment) @name))
  (#eq? @_require "require")) @import
