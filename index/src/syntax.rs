//! Syntax facts for one file: runs tree-sitter and the language's tags query, and chunks the file.
//!
//! [`extract`] is a pure function of (language, text): no I/O and no shared mutable state, so
//! the indexer runs it for many files at once under rayon.

mod chunk;
mod variance;

use std::cell::RefCell;
use std::collections::HashMap;

use tree_sitter::{Node, Parser, StreamingIterator};

use crate::facts::{FileFacts, Import, LineSpan, Reference, ReferenceKind, Symbol, SymbolKind};
use crate::lang::Language;

pub use chunk::{ChunkLimits, LineIndex};

/// What a capture name in a tags query means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureRole {
    /// `@name`: the identifier of the definition, reference or import in the same match.
    Name,
    /// `@doc`: a docstring belonging to the definition in the same match.
    Doc,
    /// `@definition.<kind>`: the whole definition node.
    Definition(SymbolKind),
    /// `@reference.<kind>`: the whole referencing node.
    Reference(ReferenceKind),
    /// `@import`: the whole import node; its `@name` is the module path.
    Import,
    /// `@qualifier`: the type, module or package a referenced name is qualified with.
    Qualifier,
    /// `@receiver`: the value a method is called on.
    Receiver,
}

impl CaptureRole {
    /// Maps a capture name to its role, or `None` if sextant does not know it.
    pub fn parse(capture: &str) -> Option<CaptureRole> {
        if capture == "name" {
            return Some(CaptureRole::Name);
        }
        if capture == "doc" {
            return Some(CaptureRole::Doc);
        }
        if capture == "import" {
            return Some(CaptureRole::Import);
        }
        if capture == "qualifier" {
            return Some(CaptureRole::Qualifier);
        }
        if capture == "receiver" {
            return Some(CaptureRole::Receiver);
        }
        if let Some(kind) = capture.strip_prefix("definition.") {
            return SymbolKind::parse(kind).map(CaptureRole::Definition);
        }
        if let Some(kind) = capture.strip_prefix("reference.") {
            return ReferenceKind::parse(kind).map(CaptureRole::Reference);
        }
        None
    }
}

thread_local! {
    /// Parsers are not `Sync` and cost an allocation to build, so each worker thread keeps one.
    static PARSER: RefCell<Parser> = RefCell::new(Parser::new());
}

/// Longest signature kept, in characters; longer ones are cut with an ellipsis.
const MAX_SIGNATURE_CHARS: usize = 240;
/// Longest doc comment kept, in characters.
const MAX_DOC_CHARS: usize = 600;

/// Extracts symbols, references, imports and chunks from one file's text.
///
/// Never fails: a file the grammar cannot parse, or a language without a grammar, yields
/// line-window chunks and no symbols, and syntax errors set `first_syntax_error_line`.
pub fn extract(language: Language, text: &str, limits: &ChunkLimits) -> FileFacts {
    let lines = LineIndex::new(text);
    let (Some(grammar), Some(Ok(query))) = (language.grammar(), language.tags_query()) else {
        return text_facts(text, &lines, limits);
    };
    // TypeScript's variance annotations are hidden from a grammar that does not know them
    // (same byte positions; names and signatures are still read from `text`).
    let parsed = match language {
        Language::TypeScript | Language::Tsx => variance::mask_variance(text),
        _ => std::borrow::Cow::Borrowed(text),
    };
    let Some(tree) = parse(&grammar, &parsed, None) else {
        return text_facts(text, &lines, limits);
    };
    let root = tree.root_node();
    let mut collector = Collector::new(text);
    let roles: Vec<Option<CaptureRole>> = query
        .capture_names()
        .iter()
        .map(|name| CaptureRole::parse(name))
        .collect();
    collect_matches(query, &roles, root, &mut collector);
    if language == Language::Rust {
        collect_item_macros(&grammar, query, &roles, root, &mut collector, 1);
    }
    // Python and script queries capture names used as values; where such a name is also
    // called or extended, the call or base is what it is. (Java's `new T()` is meant as both.)
    let values_yield = matches!(
        language,
        Language::Python | Language::JavaScript | Language::TypeScript | Language::Tsx
    );
    let mut facts = collector.finish(&lines, limits, values_yield);
    facts.first_syntax_error_line = root.has_error().then(|| first_error_line(root));
    facts
}

/// The line (1-based) of the first node the parser could not fit (an error or a missing
/// node), found by descending into the first child that holds one.
fn first_error_line(root: Node) -> u32 {
    let mut node = root;
    loop {
        if node.is_error() || node.is_missing() {
            break;
        }
        let mut cursor = node.walk();
        let Some(child) = node.children(&mut cursor).find(Node::has_error) else {
            break;
        };
        node = child;
    }
    node.start_position().row as u32 + 1
}

/// Parses `text`, or only `range` of it (with positions still those of the whole text).
fn parse(
    grammar: &tree_sitter::Language,
    text: &str,
    range: Option<tree_sitter::Range>,
) -> Option<tree_sitter::Tree> {
    PARSER.with(|parser| {
        let mut parser = parser.borrow_mut();
        parser.set_language(grammar).ok()?;
        parser.set_included_ranges(range.as_slice()).ok()?;
        let tree = parser.parse(text, None);
        // An empty list means the whole text again, for the next file.
        parser.set_included_ranges(&[]).ok()?;
        tree
    })
}

/// Runs the tags query over `root` and hands each definition, reference and import to
/// `collector`.
fn collect_matches<'t>(
    query: &tree_sitter::Query,
    roles: &[Option<CaptureRole>],
    root: Node,
    collector: &mut Collector<'t>,
) {
    let mut cursor = tree_sitter::QueryCursor::new();
    let mut matches = cursor.matches(query, root, collector.text.as_bytes());
    while let Some(found) = matches.next() {
        let mut name = None;
        let mut doc = None;
        let mut role = None;
        let mut qualifier = None;
        let mut on_value = false;
        for capture in found.captures {
            match roles[capture.index as usize] {
                Some(CaptureRole::Name) => name = Some(capture.node),
                Some(CaptureRole::Doc) => doc = Some(capture.node),
                Some(CaptureRole::Qualifier) => qualifier = Some(capture.node),
                Some(CaptureRole::Receiver) => on_value = true,
                Some(other) => role = Some((other, capture.node)),
                None => {}
            }
        }
        if let (Some((role, node)), Some(name)) = (role, name) {
            let context = ReferenceContext {
                qualifier,
                on_value,
            };
            collector.add(role, node, name, doc, context, found.pattern_index);
        }
    }
}

/// Deepest nesting of item macros (`cfg_rt! { cfg_net! { … } }`) whose bodies are read.
const MAX_MACRO_DEPTH: usize = 4;

/// Reads the items inside Rust macros invoked where items go, such as `cfg_rt! { pub fn
/// spawn(…) }` or `cfg_if!`: tree-sitter leaves a macro body as bare tokens, which would hide
/// every definition, call and `mod` declaration inside it (tokio wraps items so in 124 of its
/// 793 files). Each body is parsed again as items, in place, and kept only if it parses
/// cleanly, so a body in a macro's own language (`select! { … }`) adds nothing.
fn collect_item_macros<'t>(
    grammar: &tree_sitter::Language,
    query: &tree_sitter::Query,
    roles: &[Option<CaptureRole>],
    root: Node,
    collector: &mut Collector<'t>,
    depth: usize,
) {
    if depth > MAX_MACRO_DEPTH {
        return;
    }
    for body in item_macro_bodies(root) {
        let Some(tree) = parse(grammar, collector.text, Some(body)) else {
            continue;
        };
        let items = tree.root_node();
        if items.has_error() {
            continue;
        }
        collect_matches(query, roles, items, collector);
        collect_item_macros(grammar, query, roles, items, collector, depth + 1);
    }
}

/// The insides of `name! { … }` invocations standing as items: in the file, in inline modules
/// and in impl and trait bodies (not inside functions).
fn item_macro_bodies(root: Node) -> Vec<tree_sitter::Range> {
    let mut bodies = Vec::new();
    let mut pending = vec![root];
    while let Some(list) = pending.pop() {
        let mut cursor = list.walk();
        for item in list.named_children(&mut cursor) {
            let item = match item.kind() {
                "expression_statement" => match item.named_child(0) {
                    Some(inner) => inner,
                    None => continue,
                },
                _ => item,
            };
            match item.kind() {
                "macro_invocation" => bodies.extend(brace_interior(item)),
                "mod_item" | "impl_item" | "trait_item" => {
                    pending.extend(item.child_by_field_name("body"))
                }
                _ => {}
            }
        }
    }
    bodies.sort_by_key(|range| range.start_byte);
    bodies
}

/// The range between the braces of a macro invocation's `{ … }` body.
fn brace_interior(invocation: Node) -> Option<tree_sitter::Range> {
    let mut cursor = invocation.walk();
    let body = invocation
        .named_children(&mut cursor)
        .find(|child| child.kind() == "token_tree")?;
    let open = body.child(0)?;
    let close = body.child(body.child_count().checked_sub(1)?)?;
    if open.kind() != "{" || close.kind() != "}" || close.start_byte() <= open.end_byte() {
        return None;
    }
    Some(tree_sitter::Range {
        start_byte: open.end_byte(),
        end_byte: close.start_byte(),
        start_point: open.end_position(),
        end_point: close.start_position(),
    })
}

/// Facts for a file without a grammar: line-window chunks only.
fn text_facts(text: &str, lines: &LineIndex, limits: &ChunkLimits) -> FileFacts {
    FileFacts {
        chunks: chunk::text_chunks(text, lines, limits),
        line_count: lines.line_count(),
        ..FileFacts::default()
    }
}

/// A definition as found in the tree, before containers and chunks are worked out.
struct RawDefinition {
    kind: SymbolKind,
    name: String,
    /// Byte range of the definition node (without doc comments), used for nesting.
    bytes: std::ops::Range<usize>,
    /// Lines including the doc comment and attributes above the node.
    span: LineSpan,
    signature: String,
    doc: Option<String>,
    pattern_index: usize,
}

/// How a reference is written, beyond its name.
struct ReferenceContext<'tree> {
    qualifier: Option<Node<'tree>>,
    on_value: bool,
}

struct RawReference {
    kind: ReferenceKind,
    name: String,
    qualifier: Option<String>,
    on_value: bool,
    byte: usize,
    line: u32,
}

/// Gathers query matches, removing the duplicates that overlapping patterns produce.
struct Collector<'t> {
    text: &'t str,
    definitions: HashMap<(usize, usize), RawDefinition>,
    /// Start bytes of definition names: a type pattern also matches the name being defined,
    /// which is not a reference.
    definition_names: std::collections::HashSet<usize>,
    references: HashMap<(usize, ReferenceKind), RawReference>,
    imports: Vec<Import>,
}

impl<'t> Collector<'t> {
    fn new(text: &'t str) -> Self {
        Collector {
            text,
            definitions: HashMap::new(),
            definition_names: Default::default(),
            references: HashMap::new(),
            imports: Vec::new(),
        }
    }

    fn node_text(&self, node: Node) -> &'t str {
        &self.text[node.byte_range()]
    }

    fn add(
        &mut self,
        role: CaptureRole,
        node: Node,
        name: Node,
        doc: Option<Node>,
        context: ReferenceContext,
        pattern_index: usize,
    ) {
        let name_text = self.node_text(name).trim();
        if name_text.is_empty() {
            return;
        }
        match role {
            CaptureRole::Definition(kind) => {
                let key = (node.start_byte(), node.end_byte());
                self.definition_names.insert(name.start_byte());
                let doc_text = doc.map(|d| clean_doc(self.node_text(d)));
                if let Some(existing) = self.definitions.get_mut(&key) {
                    // Several patterns may match one node (a function that is also a method);
                    // the earlier pattern in the query file is the more specific one by convention.
                    if pattern_index < existing.pattern_index {
                        existing.kind = kind;
                        existing.pattern_index = pattern_index;
                    }
                    if existing.doc.is_none() {
                        existing.doc = doc_text;
                    }
                    return;
                }
                let anchor = outermost_wrapper(node);
                let (doc_start_row, comment_doc) = leading_comments(anchor, self.text);
                let start_row = doc_start_row.unwrap_or(anchor.start_position().row);
                self.definitions.insert(
                    key,
                    RawDefinition {
                        kind,
                        name: name_text.to_string(),
                        bytes: node.byte_range(),
                        span: LineSpan {
                            start: row_to_line(start_row),
                            end: end_line(node),
                        },
                        signature: signature(node, self.text),
                        doc: doc_text.or(comment_doc),
                        pattern_index,
                    },
                );
            }
            CaptureRole::Reference(kind) => {
                let key = (name.start_byte(), kind);
                let qualifier = context
                    .qualifier
                    .map(|q| self.node_text(q).trim().to_string());
                let reference = self.references.entry(key).or_insert_with(|| RawReference {
                    kind,
                    name: name_text.to_string(),
                    qualifier: None,
                    on_value: false,
                    byte: name.start_byte(),
                    line: row_to_line(name.start_position().row),
                });
                // A qualified pattern and a plain one may both match; the qualifier is kept.
                if reference.qualifier.is_none() {
                    reference.qualifier = qualifier;
                }
                reference.on_value |= context.on_value;
            }
            CaptureRole::Import => {
                let path = name_text.trim_matches(|c| matches!(c, '"' | '\'' | '`' | '<' | '>'));
                let line = row_to_line(node.start_position().row);
                if !self
                    .imports
                    .iter()
                    .any(|i| i.path == path && i.line == line)
                {
                    self.imports.push(Import {
                        path: path.to_string(),
                        line,
                    });
                }
            }
            CaptureRole::Name
            | CaptureRole::Doc
            | CaptureRole::Qualifier
            | CaptureRole::Receiver => {}
        }
    }

    fn finish(self, lines: &LineIndex, limits: &ChunkLimits, values_yield: bool) -> FileFacts {
        let mut raw: Vec<RawDefinition> = self.definitions.into_values().collect();
        // Outer definitions before the inner ones they contain.
        raw.sort_by(|a, b| {
            a.bytes
                .start
                .cmp(&b.bytes.start)
                .then(b.bytes.end.cmp(&a.bytes.end))
        });
        let ranges: Vec<std::ops::Range<usize>> = raw.iter().map(|d| d.bytes.clone()).collect();
        let containers = containers(ranges.iter().cloned());
        let kinds: Vec<SymbolKind> = raw.iter().map(|d| d.kind).collect();
        let definition_names = self.definition_names;
        let mut raw_references: Vec<RawReference> = self
            .references
            .into_values()
            .filter(|r| !definition_names.contains(&r.byte))
            .collect();
        raw_references.sort_by_key(|r| (r.byte, r.kind));
        if values_yield {
            let specific: std::collections::HashSet<usize> = raw_references
                .iter()
                .filter(|r| r.kind != ReferenceKind::Type)
                .map(|r| r.byte)
                .collect();
            raw_references.retain(|r| r.kind != ReferenceKind::Type || !specific.contains(&r.byte));
        }
        let reference_containers = innermost_ranges(&ranges, raw_references.iter().map(|r| r.byte));
        let symbols: Vec<Symbol> = raw
            .into_iter()
            .zip(&containers)
            .map(|(d, container)| Symbol {
                kind: method_if_in_impl(d.kind, container.map(|c| kinds[c as usize])),
                name: d.name,
                span: d.span,
                container: *container,
                signature: d.signature,
                doc: d.doc,
            })
            .collect();
        let references = raw_references
            .into_iter()
            .zip(reference_containers)
            .map(|(r, container)| Reference {
                name: r.name,
                kind: r.kind,
                line: r.line,
                container,
                qualifier: r.qualifier,
                on_value: r.on_value,
            })
            .collect();
        let mut imports = self.imports;
        imports.sort_by(|a, b| (a.line, &a.path).cmp(&(b.line, &b.path)));
        let chunks = chunk::definition_chunks(self.text, lines, &symbols, limits);
        FileFacts {
            symbols,
            references,
            imports,
            chunks,
            line_count: lines.line_count(),
            first_syntax_error_line: None,
        }
    }
}

/// A function directly inside an impl or trait is a method, also when the tags query could not
/// see the impl around it (a function in an item macro inside an impl body).
fn method_if_in_impl(kind: SymbolKind, container: Option<SymbolKind>) -> SymbolKind {
    match (kind, container) {
        (SymbolKind::Function, Some(SymbolKind::Impl | SymbolKind::Trait)) => SymbolKind::Method,
        _ => kind,
    }
}

/// For each range (sorted outer-first), the index of the innermost earlier range containing it.
fn containers(ranges: impl Iterator<Item = std::ops::Range<usize>>) -> Vec<Option<u32>> {
    let mut stack: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
    let mut result = Vec::new();
    for (index, range) in ranges.enumerate() {
        while let Some((_, open)) = stack.last() {
            if open.start <= range.start && range.end <= open.end {
                break;
            }
            stack.pop();
        }
        result.push(stack.last().map(|(i, _)| *i as u32));
        stack.push((index, range));
    }
    result
}

/// For each byte offset (sorted), the index of the innermost range (sorted outer-first, nested
/// or disjoint as syntax nodes are) that contains it. One merge pass, not a search per offset.
fn innermost_ranges(
    ranges: &[std::ops::Range<usize>],
    offsets: impl Iterator<Item = usize>,
) -> Vec<Option<u32>> {
    let mut open: Vec<usize> = Vec::new();
    let mut next = 0;
    let mut result = Vec::new();
    for offset in offsets {
        while next < ranges.len() && ranges[next].start <= offset {
            while open
                .last()
                .is_some_and(|&top| ranges[top].end <= ranges[next].start)
            {
                open.pop();
            }
            open.push(next);
            next += 1;
        }
        while open.last().is_some_and(|&top| ranges[top].end <= offset) {
            open.pop();
        }
        result.push(open.last().map(|&i| i as u32));
    }
    result
}

fn row_to_line(row: usize) -> u32 {
    u32::try_from(row + 1).unwrap_or(u32::MAX)
}

/// Last line of a node; a node ending at column 0 ends on the line before.
fn end_line(node: Node) -> u32 {
    let end = node.end_position();
    let row = if end.column == 0 && end.row > node.start_position().row {
        end.row - 1
    } else {
        end.row
    };
    row_to_line(row)
}

/// Climbs from a definition to the node that wraps it syntactically, such as `export` in
/// JavaScript, a decorator list in Python or `template <...>` in C++, so doc comments and
/// decorators stay with the definition.
///
/// A parent counts as a wrapper when the definition is its `definition` or `declaration` field
/// (how the grammars name wrapped declarations) or when both end at the same byte (a wrapper
/// adds only a prefix). The root never counts. No per-language list of node kinds is needed.
fn outermost_wrapper(node: Node) -> Node {
    let mut current = node;
    while let Some(parent) = current.parent() {
        if parent.parent().is_none() {
            break;
        }
        let is_field = ["definition", "declaration"].iter().any(|field| {
            parent
                .child_by_field_name(field)
                .is_some_and(|child| child.id() == current.id())
        });
        if !is_field && parent.end_byte() != current.end_byte() {
            break;
        }
        current = parent;
    }
    current
}

/// Comments directly above a node (attributes and annotations in between are allowed),
/// returned as the row where they start and their cleaned text.
fn leading_comments(node: Node, text: &str) -> (Option<usize>, Option<String>) {
    let mut comments = Vec::new();
    let mut start_row = None;
    let mut next_row = node.start_position().row;
    let mut sibling = node.prev_sibling();
    while let Some(previous) = sibling {
        let kind = previous.kind();
        let adjacent = previous.end_position().row + 1 >= next_row;
        if !adjacent {
            break;
        }
        if kind.contains("comment") {
            comments.push(&text[previous.byte_range()]);
        } else if !(kind.contains("attribute")
            || kind.contains("annotation")
            || kind.contains("decorator"))
        {
            break;
        }
        start_row = Some(previous.start_position().row);
        next_row = previous.start_position().row;
        sibling = previous.prev_sibling();
    }
    if comments.is_empty() {
        return (start_row, None);
    }
    comments.reverse();
    let doc = clean_doc(&comments.join("\n"));
    (start_row, (!doc.is_empty()).then_some(doc))
}

/// Strips comment and string markers from a doc comment or docstring and joins its lines.
fn clean_doc(raw: &str) -> String {
    let mut words = String::new();
    for line in raw.lines() {
        let line = line
            .trim()
            .trim_start_matches("///")
            .trim_start_matches("//!")
            .trim_start_matches("//")
            .trim_start_matches("/**")
            .trim_start_matches("/*")
            .trim_end_matches("*/")
            .trim_start_matches('*')
            .trim_start_matches('#')
            .trim_matches(|c| c == '"' || c == '\'')
            .trim();
        if line.is_empty() {
            continue;
        }
        if !words.is_empty() {
            words.push(' ');
        }
        words.push_str(line);
        if words.len() > MAX_DOC_CHARS {
            break;
        }
    }
    truncate_chars(words, MAX_DOC_CHARS)
}

/// The declaration text up to the body, whitespace collapsed.
fn signature(node: Node, text: &str) -> String {
    let end = node
        .child_by_field_name("body")
        .map(|body| body.start_byte())
        .unwrap_or_else(|| {
            let start = node.start_byte();
            text[start..node.end_byte()]
                .find('\n')
                .map_or(node.end_byte(), |n| start + n)
        });
    let raw = &text[node.start_byte()..end.max(node.start_byte())];
    let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate_chars(
        collapsed
            .trim_end_matches(['{', ':', '='])
            .trim_end()
            .to_string(),
        MAX_SIGNATURE_CHARS,
    )
}

fn truncate_chars(mut text: String, max: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests;
