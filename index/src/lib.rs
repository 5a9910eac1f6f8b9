//! `sextant-index`: builds, updates and reads sextant's on-disk index of a repository.
//!
//! The pipeline is walk → syntax (pure, parallel, per file) → lexical (tantivy), with `store`
//! owning the disk layout, the manifest and atomic commits. This crate knows nothing of LLMs or
//! workflows.

pub mod atomic;
pub mod facts;
pub mod graph;
pub mod lang;
pub mod lexical;
pub mod scip;
pub mod store;
pub mod syntax;
pub mod text;
pub mod update;
pub mod vector;
pub mod walk;

pub use facts::{
    Chunk, ChunkKind, ContentHash, FileFacts, Import, LineSpan, Reference, ReferenceKind, Symbol,
    SymbolKind,
};
pub use lang::Language;
/// Re-exported so users of the graph need not depend on petgraph themselves.
pub use petgraph;
