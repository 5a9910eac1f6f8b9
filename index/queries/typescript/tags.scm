; TypeScript and TSX: what differs from JavaScript; the shared patterns are in ecma/tags.scm.

(method_signature name: (property_identifier) @name) @definition.method
(abstract_method_signature name: (property_identifier) @name) @definition.method
(class_declaration name: (type_identifier) @name) @definition.class
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(class name: (type_identifier) @name) @definition.class
(interface_declaration name: (type_identifier) @name) @definition.interface
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
(internal_module name: (identifier) @name) @definition.module
(function_signature name: (identifier) @name) @definition.function

(extends_clause value: (identifier) @name) @reference.implementation
(extends_type_clause type: (type_identifier) @name) @reference.implementation
(implements_clause (type_identifier) @name) @reference.implementation
(type_identifier) @name @reference.type
