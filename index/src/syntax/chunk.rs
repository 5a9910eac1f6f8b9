//! Splits a file into chunks at syntax boundaries: one per definition, big ones split, the
//! code between definitions grouped, small neighbours merged.
//!
//! **Invariant:** the chunks of a non-empty file are sorted, contiguous and cover every line;
//! an empty file has no chunks.

use crate::facts::{Chunk, ChunkKind, ContentHash, LineSpan, Symbol};

/// Size rules for chunks, in lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkLimits {
    /// A definition longer than this is split into its inner definitions or into windows.
    pub max_lines: u32,
    /// Window length for plain-text files.
    pub text_window_lines: u32,
    /// Chunks shorter than this are merged with small neighbours...
    pub small_lines: u32,
    /// ...as long as the merged chunk stays within this many lines.
    pub group_max_lines: u32,
}

impl Default for ChunkLimits {
    /// Chunks of up to 80 lines keep a whole typical function together while staying short
    /// enough that a BM25 hit points at a readable region; text windows of 40 lines are about
    /// one screen.
    fn default() -> Self {
        ChunkLimits {
            max_lines: 80,
            text_window_lines: 40,
            small_lines: 6,
            group_max_lines: 24,
        }
    }
}

/// Byte offsets of line starts, to turn line spans into text.
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    /// Indexes the lines of `text`. A final newline does not start another line.
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            text.match_indices('\n')
                .map(|(i, _)| i + 1)
                .filter(|&i| i < text.len()),
        );
        if text.is_empty() {
            starts.clear();
        }
        LineIndex {
            starts,
            len: text.len(),
        }
    }

    /// Number of lines.
    pub fn line_count(&self) -> u32 {
        u32::try_from(self.starts.len()).unwrap_or(u32::MAX)
    }

    /// Byte range of a line span (1-based, inclusive), including the final newline.
    pub fn byte_range(&self, span: LineSpan) -> std::ops::Range<usize> {
        let start = self
            .starts
            .get(span.start as usize - 1)
            .copied()
            .unwrap_or(self.len);
        let end = self
            .starts
            .get(span.end as usize)
            .copied()
            .unwrap_or(self.len);
        start..end
    }

    /// The text of a span.
    pub fn slice<'t>(&self, text: &'t str, span: LineSpan) -> &'t str {
        &text[self.byte_range(span)]
    }
}

struct Planned {
    span: LineSpan,
    kind: ChunkKind,
}

/// Chunks a parsed file along its definitions.
pub fn definition_chunks(
    text: &str,
    lines: &LineIndex,
    symbols: &[Symbol],
    limits: &ChunkLimits,
) -> Vec<Chunk> {
    let line_count = lines.line_count();
    if line_count == 0 {
        return Vec::new();
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); symbols.len()];
    let mut roots = Vec::new();
    for (index, symbol) in symbols.iter().enumerate() {
        match symbol.container {
            Some(parent) => children[parent as usize].push(index),
            None => roots.push(index),
        }
    }
    let mut planner = Planner {
        symbols,
        children: &children,
        limits,
        planned: Vec::new(),
    };
    planner.cover(
        LineSpan {
            start: 1,
            end: line_count,
        },
        &roots,
        ChunkKind::Gap,
    );
    let planned = merge_small(merge_blank(planner.planned, text, lines), limits);
    finish(planned, text, lines, symbols)
}

/// Chunks a file without syntax into windows, preferring to break at blank lines.
pub fn text_chunks(text: &str, lines: &LineIndex, limits: &ChunkLimits) -> Vec<Chunk> {
    let line_count = lines.line_count();
    let window = limits.text_window_lines.max(1);
    let mut planned = Vec::new();
    let mut start = 1;
    while start <= line_count {
        let mut end = (start + window - 1).min(line_count);
        if end < line_count {
            let earliest = start + window * 2 / 3;
            if let Some(blank) = (earliest..=end)
                .rev()
                .find(|&line| is_blank(text, lines, line))
            {
                end = blank;
            }
        }
        planned.push(Planned {
            span: LineSpan { start, end },
            kind: ChunkKind::Text,
        });
        start = end + 1;
    }
    finish(planned, text, lines, &[])
}

struct Planner<'a> {
    symbols: &'a [Symbol],
    children: &'a [Vec<usize>],
    limits: &'a ChunkLimits,
    planned: Vec<Planned>,
}

impl Planner<'_> {
    /// Covers `range` with chunks, giving each of `items` (definitions inside it) its own.
    fn cover(&mut self, range: LineSpan, items: &[usize], gap_kind: ChunkKind) {
        let mut cursor = range.start;
        for &item in items {
            let span = self.symbols[item].span;
            // Definitions can overlap on a line (`}; fn next()`): the later one starts after the
            // earlier one ends, so coverage stays contiguous.
            let start = span.start.max(cursor);
            let end = span.end.min(range.end);
            if end < start {
                continue;
            }
            if start > cursor {
                self.windows(
                    LineSpan {
                        start: cursor,
                        end: start - 1,
                    },
                    gap_kind,
                );
            }
            let span = LineSpan { start, end };
            if span.len() <= self.limits.max_lines {
                self.planned.push(Planned {
                    span,
                    kind: ChunkKind::Definition,
                });
            } else if self.children[item].is_empty() {
                self.windows(span, ChunkKind::DefinitionPart);
            } else {
                let inner = self.children[item].clone();
                self.cover(span, &inner, ChunkKind::DefinitionPart);
            }
            cursor = end + 1;
        }
        if cursor <= range.end {
            self.windows(
                LineSpan {
                    start: cursor,
                    end: range.end,
                },
                gap_kind,
            );
        }
    }

    fn windows(&mut self, span: LineSpan, kind: ChunkKind) {
        let mut start = span.start;
        while start <= span.end {
            let end = (start + self.limits.max_lines - 1).min(span.end);
            self.planned.push(Planned {
                span: LineSpan { start, end },
                kind,
            });
            start = end + 1;
        }
    }
}

fn is_blank(text: &str, lines: &LineIndex, line: u32) -> bool {
    lines
        .slice(
            text,
            LineSpan {
                start: line,
                end: line,
            },
        )
        .trim()
        .is_empty()
}

/// Folds chunks made only of blank lines into the chunk before them (or after, at the start).
fn merge_blank(planned: Vec<Planned>, text: &str, lines: &LineIndex) -> Vec<Planned> {
    let mut merged: Vec<Planned> = Vec::with_capacity(planned.len());
    let mut pending_start = None;
    for chunk in planned {
        let blank = (chunk.span.start..=chunk.span.end).all(|line| is_blank(text, lines, line));
        match merged.last_mut() {
            Some(previous) if blank => previous.span.end = chunk.span.end,
            None if blank => _ = pending_start.get_or_insert(chunk.span.start),
            _ => {
                let mut chunk = chunk;
                if let Some(start) = pending_start.take() {
                    chunk.span.start = start;
                }
                merged.push(chunk);
            }
        }
    }
    if let Some(start) = pending_start {
        // The whole file is blank: keep it as one chunk so coverage holds.
        merged.push(Planned {
            span: LineSpan {
                start,
                end: lines.line_count(),
            },
            kind: ChunkKind::Gap,
        });
    }
    merged
}

/// Groups runs of small chunks (one-line constants, short imports) so search results and
/// embeddings are not flooded with fragments.
fn merge_small(planned: Vec<Planned>, limits: &ChunkLimits) -> Vec<Planned> {
    let mut merged: Vec<Planned> = Vec::with_capacity(planned.len());
    let mut group_is_small = false;
    for chunk in planned {
        let small = chunk.span.len() < limits.small_lines;
        if let Some(previous) = merged.last_mut()
            && small
            && group_is_small
            && previous.span.len() + chunk.span.len() <= limits.group_max_lines
        {
            previous.span.end = chunk.span.end;
            if chunk.kind == ChunkKind::Definition {
                previous.kind = ChunkKind::Definition;
            }
            continue;
        }
        group_is_small = small;
        merged.push(chunk);
    }
    merged
}

fn finish(planned: Vec<Planned>, text: &str, lines: &LineIndex, symbols: &[Symbol]) -> Vec<Chunk> {
    planned
        .into_iter()
        .map(|p| Chunk {
            span: p.span,
            kind: p.kind,
            symbols: symbols
                .iter()
                .enumerate()
                .filter(|(_, s)| p.span.contains(s.span.start))
                .map(|(i, _)| i as u32)
                .collect(),
            hash: ContentHash::of(lines.slice(text, p.span).as_bytes()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assert_covers(chunks: &[Chunk], line_count: u32) {
        if line_count == 0 {
            assert!(chunks.is_empty());
            return;
        }
        assert_eq!(chunks.first().map(|c| c.span.start), Some(1));
        assert_eq!(chunks.last().map(|c| c.span.end), Some(line_count));
        for pair in chunks.windows(2) {
            assert_eq!(pair[0].span.end + 1, pair[1].span.start, "{chunks:#?}");
        }
        for chunk in chunks {
            assert!(chunk.span.start <= chunk.span.end);
        }
    }

    #[test]
    fn line_index_counts_lines_without_trailing_phantom() {
        assert_eq!(LineIndex::new("").line_count(), 0);
        assert_eq!(LineIndex::new("a").line_count(), 1);
        assert_eq!(LineIndex::new("a\n").line_count(), 1);
        assert_eq!(LineIndex::new("a\nb").line_count(), 2);
        assert_eq!(LineIndex::new("a\n\n").line_count(), 2);
        let text = "one\ntwo\nthree\n";
        let lines = LineIndex::new(text);
        assert_eq!(
            lines.slice(text, LineSpan { start: 2, end: 3 }),
            "two\nthree\n"
        );
    }

    #[test]
    fn text_windows_break_at_blank_lines() {
        let text: String = (1..=100)
            .map(|i| {
                if i % 10 == 0 {
                    "\n".to_string()
                } else {
                    format!("line {i}\n")
                }
            })
            .collect();
        let lines = LineIndex::new(&text);
        let chunks = text_chunks(&text, &lines, &ChunkLimits::default());
        assert_covers(&chunks, 100);
        assert_eq!(chunks[0].span, LineSpan { start: 1, end: 40 });
        assert!(chunks.iter().all(|c| c.kind == ChunkKind::Text));
    }

    fn symbol(start: u32, end: u32, container: Option<u32>) -> Symbol {
        Symbol {
            name: format!("s{start}"),
            kind: crate::facts::SymbolKind::Function,
            span: LineSpan { start, end },
            container,
            signature: String::new(),
            doc: None,
        }
    }

    #[test]
    fn big_definitions_split_into_their_members() {
        let text: String = (1..=200).map(|i| format!("x{i}\n")).collect();
        let lines = LineIndex::new(&text);
        let symbols = vec![
            symbol(5, 190, None),
            symbol(10, 50, Some(0)),
            symbol(60, 180, Some(0)),
        ];
        let chunks = definition_chunks(&text, &lines, &symbols, &ChunkLimits::default());
        assert_covers(&chunks, 200);
        let spans: Vec<(u32, u32)> = chunks.iter().map(|c| (c.span.start, c.span.end)).collect();
        assert_eq!(
            spans,
            vec![
                (1, 9),
                (10, 50),
                (51, 59),
                (60, 139),
                (140, 180),
                (181, 190),
                (191, 200)
            ]
        );
        assert_eq!(chunks[1].kind, ChunkKind::Definition);
        assert_eq!(chunks[3].kind, ChunkKind::DefinitionPart);
        assert_eq!(chunks[0].symbols, vec![0]);
    }

    proptest! {
        #[test]
        fn chunks_cover_any_file(
            line_count in 0u32..300,
            raw in proptest::collection::vec((1u32..300, 0u32..120), 0..20),
            blank_every in 1u32..7,
        ) {
            let text: String = (1..=line_count)
                .map(|i| if i % blank_every == 0 { "\n".to_string() } else { format!("code {i}\n") })
                .collect();
            let lines = LineIndex::new(&text);
            // Random definitions, nested where one falls inside the previous one.
            let mut symbols: Vec<Symbol> = Vec::new();
            let mut sorted = raw.clone();
            sorted.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            for (start, length) in sorted {
                if line_count == 0 || start > line_count { continue; }
                let end = (start + length).min(line_count);
                let container = symbols.iter().rposition(|s| s.span.start <= start && end <= s.span.end).map(|i| i as u32);
                symbols.push(symbol(start, end, container));
            }
            let limits = ChunkLimits { max_lines: 30, ..ChunkLimits::default() };
            let chunks = definition_chunks(&text, &lines, &symbols, &limits);
            assert_covers(&chunks, line_count);
            // Blank lines may be folded into a neighbour; code lines are bounded.
            for chunk in &chunks {
                let code_lines = (chunk.span.start..=chunk.span.end).filter(|&l| !is_blank(&text, &lines, l)).count() as u32;
                prop_assert!(code_lines <= limits.max_lines.max(limits.group_max_lines), "chunk too long: {:?}", chunk.span);
            }
            let text_only = text_chunks(&text, &lines, &limits);
            assert_covers(&text_only, line_count);
        }
    }
}
