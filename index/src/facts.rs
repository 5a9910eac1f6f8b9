//! Plain data that extraction produces for one file: symbols, references, imports and chunks.
//!
//! These types carry no behaviour beyond small accessors, so every later stage (lexical, graph,
//! vectors, ranking) can consume them without knowing how they were made.

use serde::{Deserialize, Serialize};

/// A blake3 digest of some content: a file, a chunk. Equal content means equal hash, which is
/// what lets unchanged work be skipped across runs and branches.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> ContentHash {
        ContentHash(*blake3::hash(bytes).as_bytes())
    }

    /// The first 16 hex digits, enough to tell hashes apart in messages and ids.
    pub fn short(&self) -> String {
        self.0[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ContentHash({})", self.short())
    }
}

/// An inclusive range of 1-based line numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LineSpan {
    /// First line, 1-based.
    pub start: u32,
    /// Last line, 1-based and inclusive.
    pub end: u32,
}

impl LineSpan {
    /// Number of lines covered.
    pub fn len(&self) -> u32 {
        self.end + 1 - self.start
    }

    /// Whether the span covers no line; never true for spans built by extraction.
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }

    /// Whether `line` falls inside the span.
    pub fn contains(&self, line: u32) -> bool {
        self.start <= line && line <= self.end
    }
}

/// What a definition is, from the standard tags capture `@definition.<kind>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SymbolKind {
    /// A free function.
    Function,
    /// A function inside a class, impl, trait or interface.
    Method,
    /// A class.
    Class,
    /// A struct or record.
    Struct,
    /// An enum.
    Enum,
    /// An interface or protocol.
    Interface,
    /// A Rust trait.
    Trait,
    /// A Rust impl block, named by the type it implements for.
    Impl,
    /// A module or namespace.
    Module,
    /// A type alias or other named type.
    Type,
    /// A constant or static.
    Constant,
    /// A macro.
    Macro,
    /// A field or property declared in a type.
    Field,
}

impl SymbolKind {
    /// Parses the suffix of `@definition.<kind>`.
    pub fn parse(kind: &str) -> Option<SymbolKind> {
        Some(match kind {
            "function" => SymbolKind::Function,
            "method" => SymbolKind::Method,
            "class" => SymbolKind::Class,
            "struct" => SymbolKind::Struct,
            "enum" => SymbolKind::Enum,
            "interface" => SymbolKind::Interface,
            "trait" => SymbolKind::Trait,
            "impl" => SymbolKind::Impl,
            "module" => SymbolKind::Module,
            "type" => SymbolKind::Type,
            "constant" => SymbolKind::Constant,
            "macro" => SymbolKind::Macro,
            "field" => SymbolKind::Field,
            _ => return None,
        })
    }

    /// The lowercase name, as in the query capture.
    pub fn name(self) -> &'static str {
        match self {
            SymbolKind::Function => "function",
            SymbolKind::Method => "method",
            SymbolKind::Class => "class",
            SymbolKind::Struct => "struct",
            SymbolKind::Enum => "enum",
            SymbolKind::Interface => "interface",
            SymbolKind::Trait => "trait",
            SymbolKind::Impl => "impl",
            SymbolKind::Module => "module",
            SymbolKind::Type => "type",
            SymbolKind::Constant => "constant",
            SymbolKind::Macro => "macro",
            SymbolKind::Field => "field",
        }
    }
}

/// A named definition in a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    /// The defined name as written (`verify_token`, `Verifier`).
    pub name: String,
    /// What kind of definition it is.
    pub kind: SymbolKind,
    /// Lines of the whole definition, including its doc comment and attributes.
    pub span: LineSpan,
    /// Index (into the file's `symbols`) of the innermost definition that contains this one.
    pub container: Option<u32>,
    /// The declaration up to its body, whitespace collapsed (`fn verify(&self, token: &str) -> bool`).
    pub signature: String,
    /// The doc comment or docstring, markers stripped, if there is one.
    pub doc: Option<String>,
}

/// What a reference does with the name it mentions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ReferenceKind {
    /// A call of a function, method or macro.
    Call,
    /// A use of a type.
    Type,
    /// A type implementing a trait or interface, or extending a class.
    Implementation,
}

impl ReferenceKind {
    /// Parses the suffix of `@reference.<kind>`.
    pub fn parse(kind: &str) -> Option<ReferenceKind> {
        Some(match kind {
            "call" => ReferenceKind::Call,
            "type" => ReferenceKind::Type,
            "implementation" => ReferenceKind::Implementation,
            _ => return None,
        })
    }
}

/// A mention of a name defined somewhere (perhaps in another file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// The mentioned name.
    pub name: String,
    /// How it is used.
    pub kind: ReferenceKind,
    /// 1-based line of the mention.
    pub line: u32,
    /// Index of the innermost symbol whose span contains the mention.
    pub container: Option<u32>,
    /// The path or package the name is qualified with, where the syntax makes it a type,
    /// module or package rather than a value: `HashMap` in `HashMap::new()` (Rust), `time` in
    /// `time.Now()` (Go), `std` in `std::sort` (C++).
    pub qualifier: Option<String>,
    /// Whether the name is called or used on a value (`x.len()`, `self.verify()`): such a
    /// method name says little on its own, so it is not resolved by name across the whole
    /// repository, only in the file and its scope.
    pub on_value: bool,
}

/// An import, include or use of another module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    /// The module path as written, quotes stripped (`crate::auth::jwt`, `./util`, `os.path`).
    pub path: String,
    /// 1-based line of the import.
    pub line: u32,
}

/// Why a chunk has the boundaries it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChunkKind {
    /// One definition (or a few small adjacent ones grouped together).
    Definition,
    /// A window of a definition too big for one chunk.
    DefinitionPart,
    /// Code between definitions: imports, top-level statements, class headers.
    Gap,
    /// A window of a plain-text file or of a file that could not be parsed.
    Text,
}

/// A contiguous piece of a file, the unit of lexical search and (later) embedding.
///
/// **Invariant:** the chunks of a file are sorted, contiguous and together cover every line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The lines covered.
    pub span: LineSpan,
    /// Why the boundaries are where they are.
    pub kind: ChunkKind,
    /// Indexes into the file's `symbols` of the definitions that start in this chunk.
    pub symbols: Vec<u32>,
    /// Hash of the chunk's text.
    pub hash: ContentHash,
}

/// Everything extraction learns about one file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFacts {
    /// Definitions, in source order.
    pub symbols: Vec<Symbol>,
    /// References, in source order.
    pub references: Vec<Reference>,
    /// Imports, in source order.
    pub imports: Vec<Import>,
    /// Chunks covering the file.
    pub chunks: Vec<Chunk>,
    /// Number of lines in the file.
    pub line_count: u32,
    /// The line (1-based) of the first syntax error, set when the parser recovered from
    /// syntax errors: facts may be incomplete, and this is where a reader looks.
    pub first_syntax_error_line: Option<u32>,
}

impl FileFacts {
    /// Whether the parser recovered from syntax errors (facts may be incomplete).
    pub fn has_syntax_errors(&self) -> bool {
        self.first_syntax_error_line.is_some()
    }
}
