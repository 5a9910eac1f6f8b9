//! The lexical (BM25) index: one tantivy document per chunk and one per whole file, searched
//! with a code-aware tokenizer.
//!
//! Chunks and files share one tantivy index so that one commit makes both current, but they
//! use disjoint fields and each kind is scored with its own statistics (document count, average
//! length), so a file search scores exactly as an index of files alone would.
//!
//! Only `store` decides where the index lives and when a commit becomes current; this module
//! knows the schema, how to write chunks and how to search them.

mod tokenizer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tantivy::collector::{Count, TopDocs};
use tantivy::fieldnorm::FieldNormReader;
use tantivy::query::{Bm25StatisticsProvider, BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::{
    DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TERMINATED, TantivyDocument,
    Term,
};

use crate::facts::LineSpan;
use crate::lang::Language;

pub use tokenizer::{CODE_TOKENIZER, CodeTokenizer, code_terms, term_set};

/// Boost of the defined-symbol field: a chunk that defines a searched name is usually what the
/// search is for. 2.0 ranks `fn verify_token` above its callers on the fixture repo while
/// still letting a chunk that mentions every query term many times win.
pub const SYMBOL_FIELD_BOOST: f32 = 2.0;

/// Boost of the path field: paths carry few, strong words (`auth`, `ratelimit`).
pub const PATH_FIELD_BOOST: f32 = 1.0;

/// Matched lines kept per hit: enough to show why a chunk matched without printing it all.
const MAX_MATCHED_LINES: usize = 5;
/// Attempts at reading the commit metadata and the reader's segments in agreement.
const PIN_ATTEMPTS: usize = 5;

/// Longest matched line kept, in characters.
const MAX_MATCHED_LINE_CHARS: usize = 200;

/// Heap for the tantivy writer, shared by its threads (tantivy needs at least 15 MB a thread).
const WRITER_HEAP_BYTES: usize = 96 * 1024 * 1024;

/// Errors of the lexical index, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum LexicalError {
    /// tantivy failed.
    #[error("lexical index: {context}: {source}")]
    Tantivy {
        /// What was being done.
        context: &'static str,
        /// The tantivy error.
        source: tantivy::TantivyError,
    },
    /// The directory holds an index with another schema.
    #[error("lexical index has an unexpected schema (field {0} missing)")]
    Schema(&'static str),
    /// The index directory could not be created.
    #[error("cannot create the lexical index directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A record document (link or graph) lacks its path or its bytes.
    #[error("lexical index: a {kind} document in segment {segment} has no path or no record")]
    BadRecordDocument {
        /// Which kind of record.
        kind: &'static str,
        /// The segment's short id.
        segment: String,
    },
    /// Writers kept committing while a reader was being pinned to one commit.
    #[error("lexical index: a writer committed during each of {0} attempts to read one commit")]
    Busy(usize),
}

/// A segment's document store, with a cache of 64 decompressed blocks.
fn store_reader(
    segment: &tantivy::SegmentReader,
) -> Result<tantivy::store::StoreReader, LexicalError> {
    segment
        .get_store_reader(64)
        .map_err(|e| LexicalError::Tantivy {
            context: "reading stored documents",
            source: e.into(),
        })
}

/// A stored record document: read in place from its bytes ([`stored_values`]) when it holds
/// only text and bytes values, else as tantivy reads it.
enum StoredDoc {
    InPlace(
        tantivy::directory::OwnedBytes,
        Vec<(Field, std::ops::Range<usize>)>,
    ),
    Tantivy(TantivyDocument),
}

impl StoredDoc {
    fn read(
        store: &tantivy::store::StoreReader,
        doc: tantivy::DocId,
    ) -> Result<StoredDoc, LexicalError> {
        let raw = store
            .get_document_bytes(doc)
            .map_err(tantivy_error("reading a record"))?;
        if let Some(values) = stored_values(&raw) {
            return Ok(StoredDoc::InPlace(raw, values));
        }
        store
            .get(doc)
            .map(StoredDoc::Tantivy)
            .map_err(tantivy_error("reading a record"))
    }

    /// The first value of `field` among those read in place.
    fn in_place<'r>(
        raw: &'r [u8],
        values: &[(Field, std::ops::Range<usize>)],
        field: Field,
    ) -> Option<&'r [u8]> {
        values
            .iter()
            .find(|(of, _)| *of == field)
            .map(|(_, range)| &raw[range.clone()])
    }

    /// The first value of `field`, a bytes value.
    fn bytes(&self, field: Field) -> Option<&[u8]> {
        match self {
            StoredDoc::InPlace(raw, values) => Self::in_place(raw.as_slice(), values, field),
            StoredDoc::Tantivy(document) => document.get_first(field).and_then(|v| v.as_bytes()),
        }
    }

    /// The first value of `field`, a text value.
    fn text(&self, field: Field) -> Option<&str> {
        match self {
            StoredDoc::InPlace(raw, values) => Self::in_place(raw.as_slice(), values, field)
                .and_then(|text| std::str::from_utf8(text).ok()),
            StoredDoc::Tantivy(document) => document.get_first(field).and_then(|v| v.as_str()),
        }
    }
}

/// The text and bytes values of a stored document, each as (field, range of its bytes), read
/// in place from the document's serialized form: a count, then per value its field (`u32`,
/// little-endian), a type code and, for text (0) and bytes (4), a length and the bytes —
/// lengths and count as tantivy's `VInt` (7 bits a byte, the last byte's high bit set). Tantivy's own reader
/// copies a bytes value one byte at a time: at 26M lines that was ~15 % of a one-file
/// change, reading 1,500 link records. `None` for a value of any other type or bytes that
/// do not parse to the end: the caller then reads the document as tantivy does.
fn stored_values(bytes: &[u8]) -> Option<Vec<(Field, std::ops::Range<usize>)>> {
    const TEXT: u8 = 0;
    const BYTES: u8 = 4;
    let mut at = 0;
    let vint = |at: &mut usize| -> Option<usize> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *bytes.get(*at)?;
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 != 0 {
                return usize::try_from(value).ok();
            }
        }
        None
    };
    let count = vint(&mut at)?;
    let mut values = Vec::with_capacity(count.min(16));
    for _ in 0..count {
        let field = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
        let code = *bytes.get(at + 4)?;
        at += 5;
        if code != TEXT && code != BYTES {
            return None;
        }
        let length = vint(&mut at)?;
        let end = at.checked_add(length).filter(|end| *end <= bytes.len())?;
        values.push((Field::from_field_id(field), at..end));
        at = end;
    }
    (at == bytes.len()).then_some(values)
}

fn tantivy_error(context: &'static str) -> impl FnOnce(tantivy::TantivyError) -> LexicalError {
    move |source| LexicalError::Tantivy { context, source }
}

#[derive(Clone, Copy, Debug)]
struct Fields {
    path: Field,
    path_text: Field,
    symbols: Field,
    language: Field,
    start_line: Field,
    end_line: Field,
    chunk_id: Field,
    text: Field,
    kind: Field,
    file_text: Field,
    file_path_text: Field,
    record: Field,
    link_of: Field,
    defines: Field,
    names: Field,
    imports: Field,
    graph_of: Field,
    graph_to: Field,
}

/// The two kinds of documents in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocKind {
    /// A chunk of a file: what `search` ranks and shows.
    Chunk,
    /// A whole file: plain BM25 over files, a ranking signal of its own.
    File,
}

/// The per-file records kept beside a file's chunks as stored bytes (the `record` field), so
/// one commit makes them current together and a change writes only its files' records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A file's link facts (what the resolver needs of it; see [`LexicalWriter::add_link`]).
    Link,
    /// A file's part of the graph: its symbols and the edges leaving them (see
    /// [`LexicalWriter::add_graph`]).
    Graph,
}

/// The words a link record is found by ([`RecordKey`]).
pub struct LinkTerms<'n, W: IntoIterator<Item = &'n str>> {
    /// The names the file defines.
    pub defines: W,
    /// The names its references look up.
    pub names: W,
    /// The words of its import specifiers.
    pub imports: W,
}

/// What records are looked up by besides their file (see [`LexicalIndex::records_with`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKey {
    /// Link records by a name their file defines.
    Defines,
    /// Link records by a name their file's references look up (the reference's name, or its
    /// qualifier's last segment).
    Names,
    /// Link records by a word of their file's import specifiers
    /// ([`crate::graph::LinkFacts::import_words`]).
    Imports,
    /// Graph records by a path one of their edges reaches.
    PointsInto,
}

impl RecordKind {
    /// The document `kind` of these records.
    fn name(self) -> &'static str {
        match self {
            RecordKind::Link => "link",
            RecordKind::Graph => "graph",
        }
    }
}

impl DocKind {
    fn name(self) -> &'static str {
        match self {
            DocKind::Chunk => "chunk",
            DocKind::File => "file",
        }
    }
}

fn schema() -> Schema {
    let mut builder = Schema::builder();
    let code = |stored: bool| {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(CODE_TOKENIZER)
            // Frequencies for BM25, no positions: quoted phrases are matched line by line
            // on the text, never through tantivy, and positions cost a fifth of indexing.
            .set_index_option(IndexRecordOption::WithFreqs);
        let options = TextOptions::default().set_indexing_options(indexing);
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    builder.add_text_field("path", STRING | STORED);
    builder.add_text_field("path_text", code(false));
    builder.add_text_field("symbols", code(true));
    builder.add_text_field("language", STRING | STORED);
    builder.add_u64_field("start_line", NumericOptions::default().set_stored());
    builder.add_u64_field("end_line", NumericOptions::default().set_stored());
    builder.add_u64_field("chunk_id", NumericOptions::default().set_stored());
    builder.add_text_field("text", code(true));
    builder.add_text_field("kind", STRING | STORED);
    builder.add_text_field("file_text", code(false));
    builder.add_text_field("file_path_text", code(false));
    builder.add_bytes_field("record", STORED);
    // A link record's file, the names it defines and the names its references look up (a
    // reference's name and its qualifier's last segment): what finds the files a change
    // concerns without reading every record.
    builder.add_text_field("link_of", STRING);
    builder.add_text_field("defines", STRING);
    builder.add_text_field("names", STRING);
    builder.add_text_field("imports", STRING);
    // A graph record's file (to replace it alone) and the files its edges reach (to find
    // who points at a file).
    builder.add_text_field("graph_of", STRING);
    builder.add_text_field("graph_to", STRING);
    builder.build()
}

fn fields(schema: &Schema) -> Result<Fields, LexicalError> {
    let get = |name: &'static str| {
        schema
            .get_field(name)
            .map_err(|_| LexicalError::Schema(name))
    };
    Ok(Fields {
        path: get("path")?,
        path_text: get("path_text")?,
        symbols: get("symbols")?,
        language: get("language")?,
        start_line: get("start_line")?,
        end_line: get("end_line")?,
        chunk_id: get("chunk_id")?,
        text: get("text")?,
        kind: get("kind")?,
        file_text: get("file_text")?,
        file_path_text: get("file_path_text")?,
        record: get("record")?,
        link_of: get("link_of")?,
        defines: get("defines")?,
        names: get("names")?,
        imports: get("imports")?,
        graph_of: get("graph_of")?,
        graph_to: get("graph_to")?,
    })
}

/// One chunk to index.
#[derive(Clone, Debug)]
pub struct ChunkDocument<'a> {
    /// File path relative to the repository root.
    pub path: &'a str,
    /// The file's language.
    pub language: Language,
    /// Stable id of the chunk (see `store::chunk_id`).
    pub chunk_id: u64,
    /// Lines covered.
    pub span: LineSpan,
    /// Names defined in the chunk, space separated.
    pub symbols: String,
    /// The chunk's text.
    pub text: &'a str,
}

/// A line of a hit that contains query terms.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MatchedLine {
    /// 1-based line number in the file.
    pub line: u32,
    /// The line, trimmed and cut to 200 characters.
    pub text: String,
    /// The query terms found on it.
    pub terms: Vec<String>,
}

/// A chunk that matched a search.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LexicalHit {
    /// File path relative to the repository root.
    pub path: String,
    /// The file's language name.
    pub language: String,
    /// Lines of the chunk.
    pub span: LineSpan,
    /// BM25 score (with field boosts).
    pub score: f32,
    /// The chunk's id.
    pub chunk_id: u64,
    /// Names defined in the chunk.
    pub symbols: Vec<String>,
    /// Lines containing query terms, in order.
    pub matched_lines: Vec<MatchedLine>,
}

/// A stored chunk document, as read back (used to compare indexes and to show chunks).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredChunk {
    /// File path.
    pub path: String,
    /// Chunk id.
    pub chunk_id: u64,
    /// First line.
    pub start_line: u64,
    /// Last line.
    pub end_line: u64,
    /// Language name.
    pub language: String,
    /// Defined symbols, space separated.
    pub symbols: String,
    /// Text.
    pub text: String,
}

/// An open lexical index.
pub struct LexicalIndex {
    index: Index,
    fields: Fields,
    reader: IndexReader,
    /// Counts that depend only on the searcher's generation, remembered for it: documents of
    /// a kind and tokens of a field walk every live document, and a warm server asks for the
    /// same ones at every query.
    generation_counts: std::sync::Mutex<GenerationCounts>,
    /// The commit a reader was pinned to ([`LexicalIndex::pin`]): its segments, which every
    /// search then reads, whatever a writer commits since. Unpinned, every search reads the
    /// newest commit (a writer counting what it wrote).
    pinned: Option<Vec<tantivy::index::SegmentMeta>>,
    /// Where the counts of a commit are kept between processes
    /// ([`LexicalIndex::keep_counts_in`]); none for a writer.
    counts_file: Option<std::path::PathBuf>,
}

/// See [`LexicalIndex::generation_counts`].
#[derive(Default)]
struct GenerationCounts {
    /// The searcher generation the counts belong to.
    generation: Option<u64>,
    /// The commit they are of, as [`commit_key`] names it.
    commit: String,
    /// Documents per kind name.
    documents: std::collections::HashMap<&'static str, u64>,
    /// Tokens per field.
    tokens: std::collections::HashMap<Field, u64>,
    /// Whether some were counted since the counts file was last written.
    unkept: bool,
}

/// The counts of one commit as kept in the counts file ([`LexicalIndex::keep_counts_in`]).
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct StoredCounts {
    /// The commit they are of ([`commit_key`]).
    commit: String,
    /// Live documents per kind name.
    documents: BTreeMap<String, u64>,
    /// Tokens of live documents per field name.
    tokens: BTreeMap<String, u64>,
}

const COUNTS_MAGIC: &[u8; 8] = b"SXCOUNT\0";

/// What the live documents of `searcher` are: each segment and how many of its documents are
/// deleted (a segment's deletions only grow, so the pair names its live set).
fn commit_key(searcher: &Searcher) -> String {
    let mut key = String::new();
    for segment in searcher.segment_readers() {
        key.push_str(&format!(
            "{}-{} ",
            segment.segment_id().uuid_string(),
            segment.num_deleted_docs()
        ));
    }
    key
}

impl LexicalIndex {
    /// Opens the index in `dir`, or creates an empty one if the directory holds none.
    pub fn open_or_create(dir: &Path) -> Result<LexicalIndex, LexicalError> {
        std::fs::create_dir_all(dir).map_err(|source| LexicalError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let directory =
            tantivy::directory::MmapDirectory::open(dir).map_err(|e| LexicalError::Tantivy {
                context: "opening index directory",
                source: e.into(),
            })?;
        let index =
            Index::open_or_create(directory, schema()).map_err(tantivy_error("opening index"))?;
        Self::from_index(index)
    }

    /// Opens an existing index; fails if there is none or it is damaged.
    pub fn open(dir: &Path) -> Result<LexicalIndex, LexicalError> {
        let index = Index::open_in_dir(dir).map_err(tantivy_error("opening index"))?;
        Self::from_index(index)
    }

    fn from_index(index: Index) -> Result<LexicalIndex, LexicalError> {
        index.tokenizers().register(CODE_TOKENIZER, CodeTokenizer);
        let fields = fields(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tantivy_error("opening reader"))?;
        Ok(LexicalIndex {
            index,
            fields,
            reader,
            generation_counts: std::sync::Mutex::new(GenerationCounts::default()),
            pinned: None,
            counts_file: None,
        })
    }

    /// Pins every later search to one commit and returns that commit's payload: the reader's
    /// segments and the commit metadata are read until they agree (a writer committing
    /// between the two reads makes them differ), so the payload names exactly what searches
    /// read. A snapshot pins its index, so its searches never read a newer commit than its
    /// manifest describes.
    pub fn pin(&mut self) -> Result<Option<String>, LexicalError> {
        for _ in 0..PIN_ATTEMPTS {
            let metas = self
                .index
                .load_metas()
                .map_err(tantivy_error("reading commit metadata"))?;
            self.reader
                .reload()
                .map_err(tantivy_error("reloading reader"))?;
            let mut read: Vec<_> = self
                .reader
                .searcher()
                .segment_readers()
                .iter()
                .map(|segment| (segment.segment_id(), segment.delete_opstamp()))
                .collect();
            // A commit that only deletes keeps its segments and writes new deletes: the
            // deletes' opstamp tells it apart.
            let mut committed: Vec<_> = metas
                .segments
                .iter()
                .map(|m| (m.id(), m.delete_opstamp()))
                .collect();
            read.sort();
            committed.sort();
            if read == committed {
                self.pinned = Some(metas.segments);
                return Ok(metas.payload);
            }
        }
        Err(LexicalError::Busy(PIN_ATTEMPTS))
    }

    /// The searcher every read goes through: the pinned commit's, else the newest commit's.
    fn searcher(&self) -> Result<Searcher, LexicalError> {
        if self.pinned.is_none() {
            self.reader
                .reload()
                .map_err(tantivy_error("reloading reader"))?;
        }
        Ok(self.reader.searcher())
    }

    /// The files of the committed segments, relative to the index directory: what must be
    /// present and intact for the index to be read.
    pub fn segment_files(&self) -> Result<Vec<std::path::PathBuf>, LexicalError> {
        use tantivy::index::SegmentComponent;
        let metas = match &self.pinned {
            Some(pinned) => pinned.clone(),
            None => self
                .index
                .searchable_segment_metas()
                .map_err(tantivy_error("reading the segment list"))?,
        };
        let mut files = Vec::new();
        for meta in metas {
            for component in SegmentComponent::iterator() {
                let absent = match component {
                    SegmentComponent::TempStore => true,
                    SegmentComponent::Delete => !meta.has_deletes(),
                    _ => false,
                };
                if !absent {
                    files.push(meta.relative_path(*component));
                }
            }
        }
        files.sort();
        Ok(files)
    }

    /// Whether a segment file matches the checksum tantivy wrote in its footer.
    pub fn checksum_matches(&self, file: &Path) -> Result<bool, String> {
        self.index
            .directory()
            .validate_checksum(file)
            .map_err(|e| e.to_string())
    }

    /// Number of records of `kind` visible (one per indexed file).
    pub fn record_count(&self, kind: RecordKind) -> Result<u64, LexicalError> {
        self.count_kind(&self.searcher()?, kind.name())
    }

    /// Number of chunk documents visible.
    pub fn chunk_count(&self) -> Result<u64, LexicalError> {
        self.count(&self.searcher()?, DocKind::Chunk)
    }

    /// The BM25 score of a document of `kind` that contains every term of `query` in its text
    /// at saturating frequency: Σ idf(term) × (k1 + 1). Scores relative to it say how much of
    /// the query a document matches, which scores relative to the best hit cannot (the best of
    /// a bad lot is still 1.0 of the best).
    pub fn full_match_score(&self, query: &str, kind: DocKind) -> Result<f32, LexicalError> {
        const K1_PLUS_ONE: f32 = 2.2;
        let searcher = self.searcher()?;
        let documents = self.count(&searcher, kind)?.max(1) as f32;
        let field = match kind {
            DocKind::Chunk => self.fields.text,
            DocKind::File => self.fields.file_text,
        };
        let mut total = 0.0;
        for term in term_set(query) {
            let frequency = live_doc_freq(&searcher, &Term::from_field_text(field, &term))
                .map_err(tantivy_error("reading term statistics"))?
                as f32;
            // A term found nowhere still counts: it is part of what was asked for.
            total += (1.0 + (documents - frequency + 0.5) / (frequency + 0.5)).ln();
        }
        Ok(total * K1_PLUS_ONE)
    }

    fn count(&self, searcher: &Searcher, kind: DocKind) -> Result<u64, LexicalError> {
        if let Some(&count) = self.counts_for(searcher).documents.get(kind.name()) {
            return Ok(count);
        }
        let count = self.count_afresh(searcher, kind)?;
        let mut counts = self.counts_for(searcher);
        counts.documents.insert(kind.name(), count);
        counts.unkept = true;
        Ok(count)
    }

    /// Keeps the counts a search makes (live documents per kind, tokens per field: what BM25
    /// scores with) in `file`, for the next process that reads the same commit. Counting
    /// them reads every document's field norms, which in a one-shot query at a million
    /// documents is mostly page faults: ~15 ms each time. The file names the commit it is of,
    /// so counts of another commit, like a damaged file, are ignored (and recounted).
    pub fn keep_counts_in(&mut self, file: PathBuf) {
        self.counts_file = Some(file);
    }

    /// The remembered counts, emptied first when `searcher` is of another generation (and
    /// filled from the counts file when it holds that commit's).
    fn counts_for(&self, searcher: &Searcher) -> std::sync::MutexGuard<'_, GenerationCounts> {
        let mut counts = self
            .generation_counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let generation = searcher.generation().generation_id();
        if counts.generation != Some(generation) {
            *counts = GenerationCounts {
                generation: Some(generation),
                commit: commit_key(searcher),
                ..GenerationCounts::default()
            };
            if let Some(stored) = self.stored_counts(&counts.commit) {
                let schema = self.index.schema();
                for kind in [DocKind::Chunk, DocKind::File] {
                    if let Some(&count) = stored.documents.get(kind.name()) {
                        counts.documents.insert(kind.name(), count);
                    }
                }
                for (name, &tokens) in &stored.tokens {
                    if let Ok(field) = schema.get_field(name) {
                        counts.tokens.insert(field, tokens);
                    }
                }
            }
        }
        counts
    }

    /// The counts file's counts, if it holds those of `commit`.
    fn stored_counts(&self, commit: &str) -> Option<StoredCounts> {
        let bytes = std::fs::read(self.counts_file.as_ref()?).ok()?;
        let stored: StoredCounts = crate::store::frame::decode(COUNTS_MAGIC, &bytes).ok()?;
        (stored.commit == commit).then_some(stored)
    }

    /// Writes the counts to the counts file if some are new (once per search, after it).
    /// Failing costs only a later recount: ignored.
    fn keep_counts(&self) {
        let Some(file) = &self.counts_file else {
            return;
        };
        let mut counts = self
            .generation_counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !counts.unkept {
            return;
        }
        counts.unkept = false;
        let schema = self.index.schema();
        // Written after the lock is let go: concurrent searches need not wait for the disk.
        let stored = StoredCounts {
            commit: counts.commit.clone(),
            documents: counts
                .documents
                .iter()
                .map(|(kind, &count)| (kind.to_string(), count))
                .collect(),
            tokens: counts
                .tokens
                .iter()
                .map(|(&field, &tokens)| (schema.get_field_name(field).to_string(), tokens))
                .collect(),
        };
        drop(counts);
        let _ = crate::atomic::write(file, &crate::store::frame::encode(COUNTS_MAGIC, &stored));
    }

    fn count_afresh(&self, searcher: &Searcher, kind: DocKind) -> Result<u64, LexicalError> {
        self.count_kind(searcher, kind.name())
    }

    /// Live documents whose `kind` is `name`.
    fn count_kind(&self, searcher: &Searcher, name: &str) -> Result<u64, LexicalError> {
        let query = TermQuery::new(
            Term::from_field_text(self.fields.kind, name),
            IndexRecordOption::Basic,
        );
        let count = searcher
            .search(&query, &Count)
            .map_err(tantivy_error("counting documents"))?;
        Ok(count as u64)
    }

    /// Starts a writer. Tantivy allows one per index; `store`'s lock keeps processes apart.
    pub fn writer(&self, threads: usize) -> Result<LexicalWriter, LexicalError> {
        let threads = threads.clamp(1, 8);
        let heap = WRITER_HEAP_BYTES.max(threads * 16 * 1024 * 1024);
        let writer = self
            .index
            .writer_with_num_threads(threads, heap)
            .map_err(tantivy_error("starting writer"))?;
        Ok(LexicalWriter {
            writer,
            fields: self.fields,
        })
    }

    /// BM25 search over chunk text, defined symbols and paths.
    ///
    /// The query is free text, split into terms by the same code tokenizer as the documents;
    /// any term may match (OR), and BM25 ranks chunks matching more and rarer terms higher.
    /// No query syntax: tasks are written by people, and a stray quote or colon must not fail.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<LexicalHit>, LexicalError> {
        self.search_with(query, limit, DocKind::Chunk, true)
    }

    /// Like [`LexicalIndex::search`] without the matched lines: for rankers that only need
    /// paths and scores, where finding the lines of hundreds of hits would dominate the time.
    pub fn search_scores(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<LexicalHit>, LexicalError> {
        self.search_with(query, limit, DocKind::Chunk, false)
    }

    /// Plain BM25 over whole files (text and path, no boosts): one hit per file, spanning it.
    pub fn search_files(&self, query: &str, limit: usize) -> Result<Vec<LexicalHit>, LexicalError> {
        self.search_with(query, limit, DocKind::File, false)
    }

    fn search_with(
        &self,
        query: &str,
        limit: usize,
        kind: DocKind,
        with_lines: bool,
    ) -> Result<Vec<LexicalHit>, LexicalError> {
        let searcher = self.searcher()?;
        let query_terms = term_set(query);
        let fields = match kind {
            DocKind::Chunk => vec![
                (self.fields.text, 1.0),
                (self.fields.symbols, SYMBOL_FIELD_BOOST),
                (self.fields.path_text, PATH_FIELD_BOOST),
            ],
            DocKind::File => vec![
                (self.fields.file_text, 1.0),
                (self.fields.file_path_text, 1.0),
            ],
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for term in &query_terms {
            for &(field, boost) in &fields {
                let term_query = TermQuery::new(
                    Term::from_field_text(field, term),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(term_query), boost)),
                ));
            }
        }
        let statistics = KindStatistics {
            searcher: &searcher,
            documents: self.count(&searcher, kind)?,
            index: self,
        };
        let top = searcher
            .search_with_statistics_provider(
                &BooleanQuery::new(clauses),
                &TopDocs::with_limit(limit.max(1)),
                &statistics,
            )
            .map_err(tantivy_error("searching"))?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let document: TantivyDocument = searcher
                .doc(address)
                .map_err(tantivy_error("reading hit"))?;
            let stored = self.stored_chunk(&document);
            hits.push(LexicalHit {
                matched_lines: if with_lines {
                    matched_lines(&stored.text, stored.start_line as u32, &query_terms)
                } else {
                    Vec::new()
                },
                path: stored.path,
                language: stored.language,
                span: LineSpan {
                    start: stored.start_line as u32,
                    end: stored.end_line as u32,
                },
                score,
                chunk_id: stored.chunk_id,
                symbols: stored
                    .symbols
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
            });
        }
        // Equal scores in the order of their paths and lines, not of where their documents
        // happen to sit in the segments, so an incrementally updated index lists them as a
        // fresh one does.
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.path.cmp(&b.path))
                .then_with(|| a.span.start.cmp(&b.span.start))
        });
        Ok(hits)
    }

    /// Every stored chunk, sorted: for comparing two indexes and for tests.
    pub fn all_chunks(&self) -> Result<Vec<StoredChunk>, LexicalError> {
        let searcher = self.searcher()?;
        let mut chunks = Vec::new();
        for segment in searcher.segment_readers() {
            let store = store_reader(segment)?;
            for doc_id in segment.doc_ids_alive() {
                let document: TantivyDocument = store
                    .get(doc_id)
                    .map_err(tantivy_error("reading document"))?;
                let kind = document
                    .get_first(self.fields.kind)
                    .and_then(|v| v.as_str());
                if kind == Some(DocKind::Chunk.name()) {
                    chunks.push(self.stored_chunk(&document));
                }
            }
        }
        chunks.sort();
        Ok(chunks)
    }

    /// Every file's record of `kind` at the searched commit, each passed as (path, bytes) to
    /// `decode` as it is read (so no more than one raw record per segment is held at a time),
    /// returned as (path, what `decode` made of it), sorted by path.
    ///
    /// Only the records are read (found through the `kind` postings), each segment on its own
    /// thread; the stored blocks they share with chunks are decompressed once each.
    pub fn records<T: Send>(
        &self,
        kind: RecordKind,
        decode: impl Fn(&str, &[u8]) -> T + Sync,
    ) -> Result<Vec<(String, T)>, LexicalError> {
        let term = Term::from_field_text(self.fields.kind, kind.name());
        self.records_matching(kind, std::slice::from_ref(&term), decode)
    }

    /// The records of `kind` of the files `paths` (those that have one), decoded as
    /// [`LexicalIndex::records`] does: a few files' records without reading the others.
    pub fn records_of<'p, T: Send>(
        &self,
        kind: RecordKind,
        paths: impl IntoIterator<Item = &'p str>,
        decode: impl Fn(&str, &[u8]) -> T + Sync,
    ) -> Result<Vec<(String, T)>, LexicalError> {
        let field = match kind {
            RecordKind::Link => self.fields.link_of,
            RecordKind::Graph => self.fields.graph_of,
        };
        let terms: Vec<Term> = paths
            .into_iter()
            .map(|path| Term::from_field_text(field, path))
            .collect();
        self.records_matching(kind, &terms, decode)
    }

    /// The records of `kind` that hold any of `values` under `key` (which belongs to that
    /// kind), decoded as [`LexicalIndex::records`] does: the link records of the files that
    /// define or name a name, the graph records of the files with an edge into a path.
    pub fn records_with<'v, T: Send>(
        &self,
        key: RecordKey,
        values: impl IntoIterator<Item = &'v str>,
        decode: impl Fn(&str, &[u8]) -> T + Sync,
    ) -> Result<Vec<(String, T)>, LexicalError> {
        let (kind, field) = self.key_field(key);
        let terms: Vec<Term> = values
            .into_iter()
            .map(|value| Term::from_field_text(field, value))
            .collect();
        self.records_matching(kind, &terms, decode)
    }

    /// How many records hold any of `values` under `key`, from the postings alone (no record
    /// is read): what a caller weighs before reading them.
    pub fn count_records_with<'v>(
        &self,
        key: RecordKey,
        values: impl IntoIterator<Item = &'v str>,
    ) -> Result<usize, LexicalError> {
        let field = self.key_field(key).1;
        let terms: Vec<Term> = values
            .into_iter()
            .map(|value| Term::from_field_text(field, value))
            .collect();
        let searcher = self.searcher()?;
        let mut count = 0;
        for segment in searcher.segment_readers() {
            let mut docs = Vec::new();
            for term in &terms {
                docs.extend(self.live_docs(segment, term)?);
            }
            docs.sort_unstable();
            docs.dedup();
            count += docs.len();
        }
        Ok(count)
    }

    /// The kind of record and the field `key` looks records up by.
    fn key_field(&self, key: RecordKey) -> (RecordKind, Field) {
        match key {
            RecordKey::Defines => (RecordKind::Link, self.fields.defines),
            RecordKey::Names => (RecordKind::Link, self.fields.names),
            RecordKey::Imports => (RecordKind::Link, self.fields.imports),
            RecordKey::PointsInto => (RecordKind::Graph, self.fields.graph_to),
        }
    }

    /// The records of `kind` whose documents hold any of `terms`, each once, decoded, sorted
    /// by path; each segment on its own thread.
    fn records_matching<T: Send>(
        &self,
        kind: RecordKind,
        terms: &[Term],
        decode: impl Fn(&str, &[u8]) -> T + Sync,
    ) -> Result<Vec<(String, T)>, LexicalError> {
        use rayon::prelude::*;
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.searcher()?;
        let per_segment: Vec<Result<Vec<(String, T)>, LexicalError>> = searcher
            .segment_readers()
            .par_iter()
            .map(|segment| self.segment_records(segment, kind, terms, &decode))
            .collect();
        let mut records = Vec::new();
        for segment in per_segment {
            records.extend(segment?);
        }
        records.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(records)
    }

    /// The files whose link records define every one of `names` (all of them in one file),
    /// if there are at most `limit`; `None` when there are more (a name too common to say
    /// which file is meant). Read from the postings and the matching documents' paths only.
    pub fn files_defining_all(
        &self,
        names: &[&str],
        limit: usize,
    ) -> Result<Option<Vec<String>>, LexicalError> {
        if names.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let searcher = self.searcher()?;
        let mut per_segment = Vec::new();
        let mut total = 0;
        for segment in searcher.segment_readers() {
            let mut docs: Option<Vec<tantivy::DocId>> = None;
            for name in names {
                let term = Term::from_field_text(self.fields.defines, name);
                let found = self.live_docs(segment, &term)?;
                docs = Some(match docs {
                    None => found,
                    Some(before) => {
                        let found: std::collections::HashSet<_> = found.into_iter().collect();
                        before.into_iter().filter(|d| found.contains(d)).collect()
                    }
                });
            }
            let docs = docs.unwrap_or_default();
            total += docs.len();
            if total > limit {
                return Ok(None);
            }
            per_segment.push((segment, docs));
        }
        let mut paths = Vec::with_capacity(total);
        for (segment, docs) in per_segment {
            if docs.is_empty() {
                continue;
            }
            let store = store_reader(segment)?;
            for doc in docs {
                let stored = StoredDoc::read(&store, doc)?;
                paths.extend(stored.text(self.fields.path).map(str::to_string));
            }
        }
        paths.sort_unstable();
        paths.dedup();
        Ok(Some(paths))
    }

    /// The live documents of a segment holding `term`, in order.
    fn live_docs(
        &self,
        segment: &tantivy::SegmentReader,
        term: &Term,
    ) -> Result<Vec<tantivy::DocId>, LexicalError> {
        let inverted = segment
            .inverted_index(term.field())
            .map_err(tantivy_error("reading record postings"))?;
        let Some(mut postings) = inverted
            .read_postings(term, IndexRecordOption::Basic)
            .map_err(|e| LexicalError::Tantivy {
                context: "reading record postings",
                source: e.into(),
            })?
        else {
            return Ok(Vec::new());
        };
        let alive = segment.alive_bitset();
        let mut docs = Vec::new();
        let mut doc = postings.doc();
        while doc != TERMINATED {
            if alive.is_none_or(|bits| bits.is_alive(doc)) {
                docs.push(doc);
            }
            doc = postings.advance();
        }
        Ok(docs)
    }

    fn segment_records<T>(
        &self,
        segment: &tantivy::SegmentReader,
        kind: RecordKind,
        terms: &[Term],
        decode: &(impl Fn(&str, &[u8]) -> T + Sync),
    ) -> Result<Vec<(String, T)>, LexicalError> {
        // Documents in order, each once, however many of the terms they hold.
        let mut docs: Vec<tantivy::DocId> = Vec::new();
        for term in terms {
            docs.extend(self.live_docs(segment, term)?);
        }
        if terms.len() > 1 {
            docs.sort_unstable();
            docs.dedup();
        }
        let mut records = Vec::with_capacity(docs.len());
        if docs.is_empty() {
            return Ok(records);
        }
        let store = store_reader(segment)?;
        let bad = || LexicalError::BadRecordDocument {
            kind: kind.name(),
            segment: segment.segment_id().short_uuid_string(),
        };
        for doc in docs {
            let stored = StoredDoc::read(&store, doc)?;
            let of_kind = stored.text(self.fields.kind) == Some(kind.name());
            match (
                of_kind,
                stored.text(self.fields.path),
                stored.bytes(self.fields.record),
            ) {
                (true, Some(path), Some(bytes)) => {
                    records.push((path.to_string(), decode(path, bytes)));
                }
                _ => return Err(bad()),
            }
        }
        Ok(records)
    }

    fn stored_chunk(&self, document: &TantivyDocument) -> StoredChunk {
        let text = |field| {
            document
                .get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let number = |field| {
            document
                .get_first(field)
                .and_then(|v| v.as_u64())
                .unwrap_or(0)
        };
        StoredChunk {
            path: text(self.fields.path),
            chunk_id: number(self.fields.chunk_id),
            start_line: number(self.fields.start_line),
            end_line: number(self.fields.end_line),
            language: text(self.fields.language),
            symbols: text(self.fields.symbols),
            text: text(self.fields.text),
        }
    }
}

/// BM25 statistics of one kind of document, counted over live documents only.
///
/// tantivy's own statistics count every document in the index, of both kinds, and keep counting
/// deleted ones until a merge drops them: after incremental updates a term's document frequency
/// could exceed the document count (tantivy's BM25 asserts on that), and scores drifted from
/// those of a fresh index. Here every figure is a function of the live documents alone — the
/// kind's document count, each term's live document frequency, and the total length summed
/// from the live documents' field norms (the same lengths BM25 scores each document with) —
/// so an index reached by any sequence of incremental updates scores exactly as a full build
/// of the same tree.
struct KindStatistics<'a> {
    searcher: &'a Searcher,
    documents: u64,
    index: &'a LexicalIndex,
}

impl Drop for KindStatistics<'_> {
    /// What the search counted is kept for the next process.
    fn drop(&mut self) {
        self.index.keep_counts();
    }
}

impl Bm25StatisticsProvider for KindStatistics<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        if let Some(&tokens) = self.index.counts_for(self.searcher).tokens.get(&field) {
            return Ok(tokens);
        }
        let tokens = live_token_count(self.searcher, field)?;
        let mut counts = self.index.counts_for(self.searcher);
        counts.tokens.insert(field, tokens);
        counts.unkept = true;
        Ok(tokens)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.documents.max(1))
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        live_doc_freq(self.searcher, term)
    }
}

/// Tokens of `field` in live documents, summed from their field norms.
fn live_token_count(searcher: &Searcher, field: Field) -> tantivy::Result<u64> {
    let mut total = 0u64;
    for segment in searcher.segment_readers() {
        // A field's norms are one id byte per document: counted per id straight off the
        // bytes (256 decodes instead of one per document, and no call per document). What
        // remains at a million documents is the page faults of reading the norms (~13 ms of
        // a one-shot query under perf), which the counts file spares the next process.
        let Some(norms) = segment
            .fieldnorms_readers()
            .get_inner_file()
            .open_read(field)
        else {
            continue;
        };
        let norms = norms.read_bytes()?;
        let mut per_norm = [0u64; 256];
        match segment.alive_bitset() {
            None => {
                for &id in norms.as_slice() {
                    per_norm[usize::from(id)] += 1;
                }
            }
            Some(alive) => {
                for (doc, &id) in norms.as_slice().iter().enumerate() {
                    if alive.is_alive(doc as tantivy::DocId) {
                        per_norm[usize::from(id)] += 1;
                    }
                }
            }
        }
        total += per_norm
            .iter()
            .enumerate()
            .map(|(id, count)| count * u64::from(FieldNormReader::id_to_fieldnorm(id as u8)))
            .sum::<u64>();
    }
    Ok(total)
}

/// Live documents containing `term`: the term dictionary's count in segments without deletes,
/// the postings walked against the alive set in segments with some.
fn live_doc_freq(searcher: &Searcher, term: &Term) -> tantivy::Result<u64> {
    let mut total = 0u64;
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(term.field())?;
        let Some(info) = inverted.get_term_info(term)? else {
            continue;
        };
        let Some(alive) = segment.alive_bitset() else {
            total += u64::from(info.doc_freq);
            continue;
        };
        let mut postings = inverted.read_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
        let mut doc = postings.doc();
        while doc != TERMINATED {
            if alive.is_alive(doc) {
                total += 1;
            }
            doc = postings.advance();
        }
    }
    Ok(total)
}

/// Lines of `text` (starting at line `first_line`) that contain any of the query terms.
pub fn matched_lines(
    text: &str,
    first_line: u32,
    query_terms: &std::collections::BTreeSet<String>,
) -> Vec<MatchedLine> {
    let mut matched = Vec::new();
    for (offset, line) in text.lines().enumerate() {
        // Only what the index holds of a line is searched (a minified line can be megabytes).
        let mut end = line.len().min(MAX_INDEXED_LINE_BYTES);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        let line = &line[..end];
        let terms: Vec<String> = term_set(line).intersection(query_terms).cloned().collect();
        if terms.is_empty() {
            continue;
        }
        let trimmed = line.trim();
        let cut = trimmed
            .char_indices()
            .nth(MAX_MATCHED_LINE_CHARS)
            .map_or(trimmed.len(), |(i, _)| i);
        matched.push(MatchedLine {
            line: first_line + offset as u32,
            text: trimmed[..cut].to_string(),
            terms,
        });
        if matched.len() == MAX_MATCHED_LINES {
            break;
        }
    }
    matched
}

/// Longest line indexed, in bytes. Code lines are rarely past a few hundred bytes; a longer
/// one is minified or generated (a 50 MB one-line file made every search that hit it take 53 s,
/// tokenizing and storing it whole). The rest of such a line is left out of the index.
pub const MAX_INDEXED_LINE_BYTES: usize = 2_000;

/// `text` with every line longer than [`MAX_INDEXED_LINE_BYTES`] cut there (at a character
/// boundary); borrowed when no line is that long.
pub fn bounded_lines(text: &str) -> std::borrow::Cow<'_, str> {
    if crate::text::lines(text).all(|line| line.len() <= MAX_INDEXED_LINE_BYTES) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(1 << 20));
    for line in text.split_inclusive('\n') {
        if line.len() <= MAX_INDEXED_LINE_BYTES {
            out.push_str(line);
            continue;
        }
        let mut cut = MAX_INDEXED_LINE_BYTES;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&line[..cut]);
        if line.ends_with('\n') {
            out.push('\n');
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Writes chunk documents; nothing is visible until [`LexicalWriter::commit`].
pub struct LexicalWriter {
    writer: IndexWriter,
    fields: Fields,
}

impl LexicalWriter {
    /// Removes every chunk of a file.
    pub fn remove_file(&self, path: &str) {
        self.writer
            .delete_term(Term::from_field_text(self.fields.path, path));
    }

    /// Removes every document.
    pub fn remove_all(&self) -> Result<(), LexicalError> {
        self.writer
            .delete_all_documents()
            .map_err(tantivy_error("clearing index"))?;
        Ok(())
    }

    /// Adds one chunk. Safe to call from many threads at once.
    pub fn add_chunk(&self, chunk: &ChunkDocument<'_>) -> Result<(), LexicalError> {
        let f = &self.fields;
        let mut document = TantivyDocument::default();
        document.add_text(f.path, chunk.path);
        document.add_text(f.path_text, chunk.path);
        document.add_text(f.symbols, &chunk.symbols);
        document.add_text(f.language, chunk.language.name());
        document.add_u64(f.start_line, u64::from(chunk.span.start));
        document.add_u64(f.end_line, u64::from(chunk.span.end));
        document.add_u64(f.chunk_id, chunk.chunk_id);
        document.add_text(f.text, bounded_lines(chunk.text));
        document.add_text(f.kind, DocKind::Chunk.name());
        self.add(document)
    }

    /// Adds a whole file (indexed, not stored: the chunks hold the text). Safe to call from
    /// many threads at once.
    pub fn add_file(
        &self,
        path: &str,
        language: Language,
        lines: u32,
        text: &str,
    ) -> Result<(), LexicalError> {
        let f = &self.fields;
        let mut document = TantivyDocument::default();
        document.add_text(f.path, path);
        document.add_text(f.file_path_text, path);
        document.add_text(f.language, language.name());
        document.add_u64(f.start_line, 1);
        document.add_u64(f.end_line, u64::from(lines.max(1)));
        document.add_text(f.file_text, bounded_lines(text));
        document.add_text(f.kind, DocKind::File.name());
        self.add(document)
    }

    /// Adds a file's link record (opaque bytes: `store` encodes the file's link facts), kept
    /// per file beside its chunks, so a change writes only the records of the files it touches
    /// and [`LexicalWriter::remove_file`] removes a file's record with its chunks; the names
    /// the file defines, the names its references look up and the words of its imports
    /// (`terms`) are indexed with it. Safe to call from many threads at once.
    pub fn add_link<'n>(
        &self,
        path: &str,
        record: &[u8],
        terms: LinkTerms<'n, impl IntoIterator<Item = &'n str>>,
    ) -> Result<(), LexicalError> {
        let f = &self.fields;
        let mut document = TantivyDocument::default();
        document.add_text(f.path, path);
        document.add_text(f.link_of, path);
        document.add_text(f.kind, RecordKind::Link.name());
        document.add_bytes(f.record, record);
        for (field, words) in [
            (f.defines, terms.defines),
            (f.names, terms.names),
            (f.imports, terms.imports),
        ] {
            for word in words {
                document.add_text(field, word);
            }
        }
        self.add(document)
    }

    /// Adds a file's graph record (opaque bytes: its symbols and the edges leaving them),
    /// with the paths its edges reach (`targets`) indexed, so the files pointing at a file
    /// are found by one term. The file's previous graph record must have been removed
    /// ([`LexicalWriter::remove_graph`], or [`LexicalWriter::remove_file`] with its chunks).
    pub fn add_graph<'t>(
        &self,
        path: &str,
        record: &[u8],
        targets: impl IntoIterator<Item = &'t str>,
    ) -> Result<(), LexicalError> {
        let f = &self.fields;
        let mut document = TantivyDocument::default();
        document.add_text(f.path, path);
        document.add_text(f.graph_of, path);
        document.add_text(f.kind, RecordKind::Graph.name());
        document.add_bytes(f.record, record);
        for target in targets {
            document.add_text(f.graph_to, target);
        }
        self.add(document)
    }

    /// Removes a file's graph record and nothing else of it (a file whose references resolve
    /// anew while its text stays).
    pub fn remove_graph(&self, path: &str) {
        self.writer
            .delete_term(Term::from_field_text(self.fields.graph_of, path));
    }

    fn add(&self, document: TantivyDocument) -> Result<(), LexicalError> {
        self.writer
            .add_document(document)
            .map_err(tantivy_error("adding document"))?;
        Ok(())
    }

    /// Commits atomically with `payload` recorded in the commit's metadata, then waits for
    /// background merges so the process can exit cleanly.
    pub fn commit(mut self, payload: &str) -> Result<(), LexicalError> {
        let mut prepared = self
            .writer
            .prepare_commit()
            .map_err(tantivy_error("preparing commit"))?;
        prepared.set_payload(payload);
        prepared.commit().map_err(tantivy_error("committing"))?;
        self.writer
            .wait_merging_threads()
            .map_err(tantivy_error("finishing merges"))?;
        Ok(())
    }

    /// Drops uncommitted changes.
    pub fn abandon(mut self) -> Result<(), LexicalError> {
        self.writer
            .rollback()
            .map_err(tantivy_error("rolling back"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stored document of every kind (chunks, whole files, link and graph records with
    /// empty, long and non-UTF-8 bytes), read in place, holds the text and bytes values
    /// tantivy's own reader gives, in order; a document with a value of another type, or
    /// bytes cut short or run on, is left to tantivy's reader.
    #[test]
    fn stored_values_read_in_place_are_what_tantivy_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = LexicalIndex::open_or_create(dir.path()).expect("index");
        let writer = index.writer(1).expect("writer");
        let text = "fn main() {\n    run();\n}\n".repeat(40);
        writer
            .add_chunk(&ChunkDocument {
                path: "src/main.rs",
                language: Language::Rust,
                chunk_id: 7,
                span: LineSpan { start: 1, end: 3 },
                symbols: "main run".into(),
                text: &text,
            })
            .expect("chunk");
        writer
            .add_file("src/main.rs", Language::Rust, 120, &text)
            .expect("file");
        let long: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        for (path, record) in [
            ("a.rs", &b""[..]),
            ("é/ü.py", &long[..]),
            ("b.go", &[0xff, 0, 0x80][..]),
        ] {
            writer
                .add_link(
                    path,
                    record,
                    LinkTerms {
                        defines: ["main"],
                        names: ["run"],
                        imports: ["std"],
                    },
                )
                .expect("link");
            writer
                .add_graph(path, record, ["src/main.rs"])
                .expect("graph");
        }
        writer.commit("test").expect("commit");
        let index = LexicalIndex::open(dir.path()).expect("open");
        let searcher = index.searcher().expect("searcher");
        let mut read = 0;
        for segment in searcher.segment_readers() {
            let store = store_reader(segment).expect("store");
            for doc in segment.doc_ids_alive() {
                let raw = store.get_document_bytes(doc).expect("bytes");
                let document: TantivyDocument = store.get(doc).expect("doc");
                let expected: Option<Vec<(Field, Vec<u8>)>> = document
                    .field_values()
                    .map(|(field, value)| {
                        let value = value
                            .as_str()
                            .map(|s| s.as_bytes().to_vec())
                            .or_else(|| value.as_bytes().map(<[u8]>::to_vec))?;
                        Some((field, value))
                    })
                    .collect();
                let Some(expected) = expected else {
                    // Numbers among its values (a chunk's lines): left to tantivy.
                    assert_eq!(stored_values(&raw), None);
                    continue;
                };
                let values = stored_values(&raw).expect("read in place");
                let values: Vec<(Field, Vec<u8>)> = values
                    .into_iter()
                    .map(|(f, range)| (f, raw[range].to_vec()))
                    .collect();
                assert_eq!(values, expected);
                // Cut short or run on: not read in place.
                assert_eq!(stored_values(&raw[..raw.len() - 1]), None);
                let mut longer = raw.to_vec();
                longer.push(0);
                assert_eq!(stored_values(&longer), None);
                read += 1;
            }
        }
        // The six records (chunks and whole files store numbers too).
        assert_eq!(read, 6);
        // A value of another type (a u64, code 1): left to tantivy.
        let mut other = vec![0x81];
        other.extend(3u32.to_le_bytes());
        other.push(1);
        other.extend(5u64.to_le_bytes());
        assert_eq!(stored_values(&other), None);
    }

    #[test]
    fn lines_past_the_bound_are_cut_and_the_rest_kept() {
        let normal = "fn main() {\n    run();\n}\n";
        assert!(matches!(
            bounded_lines(normal),
            std::borrow::Cow::Borrowed(_)
        ));
        let long = format!(
            "short\n{}é{}\nlast",
            "x".repeat(MAX_INDEXED_LINE_BYTES - 1),
            "y".repeat(50_000)
        );
        let bounded = bounded_lines(&long);
        let lines: Vec<&str> = bounded.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "short");
        // The cut falls inside `é` and moves back to its start.
        assert_eq!(lines[1], "x".repeat(MAX_INDEXED_LINE_BYTES - 1));
        assert_eq!(lines[2], "last");
    }
}
