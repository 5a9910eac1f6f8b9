; Rust: definitions, references and imports, with the standard tags capture names.
; Earlier patterns win when several match one node, so the specific ones come first.

; Methods: functions inside impl and trait bodies.
(impl_item body: (declaration_list (function_item name: (identifier) @name) @definition.method))
(trait_item body: (declaration_list (function_item name: (identifier) @name) @definition.method))
(trait_item body: (declaration_list (function_signature_item name: (identifier) @name) @definition.method))

(function_item name: (identifier) @name) @definition.function
(struct_item name: (type_identifier) @name) @definition.struct
(union_item name: (type_identifier) @name) @definition.struct
(enum_item name: (type_identifier) @name) @definition.enum
(trait_item name: (type_identifier) @name) @definition.trait
(mod_item name: (identifier) @name body: (declaration_list)) @definition.module
(type_item name: (type_identifier) @name) @definition.type
(const_item name: (identifier) @name) @definition.constant
(static_item name: (identifier) @name) @definition.constant
(macro_definition name: (identifier) @name) @definition.macro

; An impl block is named by the type it is for, so its methods get that type as container.
(impl_item type: [
  (type_identifier) @name
  (generic_type type: (type_identifier) @name)
  (scoped_type_identifier name: (type_identifier) @name)
  (generic_type type: (scoped_type_identifier name: (type_identifier) @name))
]) @definition.impl

; Calls: plain, method, path and turbofish calls, and macros.
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (field_expression value: (_) @receiver field: (field_identifier) @name)) @reference.call
(call_expression function: (scoped_identifier path: (_) @qualifier name: (identifier) @name)) @reference.call
(call_expression function: (generic_function function: [
  (identifier) @name
  (scoped_identifier name: (identifier) @name)
  (field_expression value: (_) @receiver field: (field_identifier) @name)
])) @reference.call
(macro_invocation macro: [
  (identifier) @name
  (scoped_identifier name: (identifier) @name)
]) @reference.call

(impl_item trait: [
  (type_identifier) @name
  (scoped_type_identifier name: (type_identifier) @name)
  (generic_type type: (type_identifier) @name)
]) @reference.implementation

; Type uses, and the type in `Type::function` paths.
(type_identifier) @name @reference.type
(scoped_identifier path: (identifier) @name) @reference.type

; Imports: `use` trees, file modules (`mod foo;`) and extern crates.
(use_declaration argument: (_) @name) @import
(mod_item name: (identifier) @name !body) @import
(extern_crate_declaration name: (identifier) @name) @import
