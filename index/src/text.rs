//! Lines of text, found with SIMD `memchr`: packing and indexing split whole files into
//! lines at every query, and `str::lines` searches byte by byte.

/// The lines of `text`, exactly as [`str::lines`] gives them (split at `\n`, a `\r` right
/// before it dropped, no empty line after a final newline).
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', text.as_bytes());
    std::iter::from_fn(move || {
        if start >= text.len() {
            return None;
        }
        let Some(end) = ends.next() else {
            // The last line, without a newline: kept whole, a `\r` included.
            let line = &text[start..];
            start = text.len();
            return Some(line);
        };
        let line = &text[start..end];
        start = end + 1;
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

/// How many lines [`str::lines`] finds in `text`.
pub fn line_count(text: &str) -> usize {
    let newlines = memchr::memchr_iter(b'\n', text.as_bytes()).count();
    newlines + usize::from(!text.is_empty() && !text.ends_with('\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_those_of_str_lines() {
        for text in [
            "",
            "\n",
            "a",
            "a\n",
            "a\nb",
            "a\r\nb\r\n",
            "\n\nx\n\n",
            "é\r\n\r\nü",
            "a\rb\n",
            "\r",
            "\r\n",
        ] {
            let expected: Vec<&str> = text.lines().collect();
            assert_eq!(lines(text).collect::<Vec<_>>(), expected, "{text:?}");
            assert_eq!(line_count(text), expected.len(), "{text:?}");
        }
    }
}
