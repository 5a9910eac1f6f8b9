; JavaScript (and JSX): what differs from TypeScript; the shared patterns are in ecma/tags.scm.

(class_declaration name: (identifier) @name) @definition.class
(class name: (identifier) @name) @definition.class
(class_heritage (identifier) @name) @reference.implementation
(class_heritage (member_expression property: (property_identifier) @name)) @reference.implementation
