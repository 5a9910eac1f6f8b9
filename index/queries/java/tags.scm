; Java: definitions, references and imports, with the standard tags capture names.

(class_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(record_declaration name: (identifier) @name) @definition.struct
(annotation_type_declaration name: (identifier) @name) @definition.interface
(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.method

(method_invocation object: (_) @receiver name: (identifier) @name) @reference.call
(method_invocation name: (identifier) @name) @reference.call
(object_creation_expression type: (type_identifier) @name) @reference.call
(superclass (type_identifier) @name) @reference.implementation
(super_interfaces (type_list (type_identifier) @name)) @reference.implementation
(type_identifier) @name @reference.type

(import_declaration [(scoped_identifier) (identifier)] @name) @import
