//! TypeScript's variance annotations (`interface Box<in T, out U>`, TypeScript 4.7), which
//! the registry's newest TypeScript grammar (tree-sitter-typescript 0.23.2) does not know:
//! it recovers with an error node and loses the definitions that follow. Before parsing,
//! they are overwritten with spaces, byte for byte, so every position still points into the
//! original text, from which names, signatures and docs are read.

use std::borrow::Cow;

/// `text` with each `in` / `out` that modifies a type parameter replaced by spaces: the
/// keyword right after `<` or `,` (whitespace and comments between), followed by whitespace
/// and a name that is not `extends` (`<out extends string>` declares a parameter named
/// `out`). Borrowed when there is none.
pub fn mask_variance(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut masked: Option<Vec<u8>> = None;
    for (at, &byte) in bytes.iter().enumerate() {
        if byte != b'<' && byte != b',' {
            continue;
        }
        let mut word = skip_trivia(bytes, at + 1);
        // `in`, `out`, or both (`<in out T>`).
        while let Some(len) = modifier_at(bytes, word) {
            let name = skip_space(bytes, word + len);
            if name == word + len || !names_a_parameter(bytes, name) {
                break;
            }
            let out = masked.get_or_insert_with(|| bytes.to_vec());
            out[word..word + len].fill(b' ');
            word = name;
        }
    }
    match masked {
        // Only ASCII letters became ASCII spaces: still UTF-8.
        Some(masked) => Cow::Owned(String::from_utf8(masked).unwrap_or_else(|_| text.into())),
        None => Cow::Borrowed(text),
    }
}

fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// Past whitespace and comments (`/** @ts-ignore */ out Shape`, as zod writes it).
fn skip_trivia(bytes: &[u8], mut at: usize) -> usize {
    loop {
        at = skip_space(bytes, at);
        let rest = &bytes[at.min(bytes.len())..];
        let end = if rest.starts_with(b"/*") {
            rest[2..]
                .windows(2)
                .position(|w| w == b"*/")
                .map(|close| at + 2 + close + 2)
        } else if rest.starts_with(b"//") {
            rest.iter()
                .position(|&b| b == b'\n')
                .map(|newline| at + newline)
        } else {
            None
        };
        match end {
            Some(end) => at = end,
            None => return at,
        }
    }
}

/// The length of `in` or `out` at `at` when it stands as a word there.
fn modifier_at(bytes: &[u8], at: usize) -> Option<usize> {
    ["in", "out"].iter().find_map(|word| {
        let end = at + word.len();
        (bytes.get(at..end) == Some(word.as_bytes())
            && bytes.get(end).is_some_and(u8::is_ascii_whitespace))
        .then_some(word.len())
    })
}

/// Whether a type parameter's name (or a second modifier) starts at `at`.
fn names_a_parameter(bytes: &[u8], at: usize) -> bool {
    let starts = bytes
        .get(at)
        .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_' || b == b'$');
    let extends = bytes.get(at..at + 7) == Some(b"extends".as_slice())
        && !bytes
            .get(at + 7)
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$');
    starts && !extends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variance_keywords_become_spaces_and_nothing_else_moves() {
        let cases = [
            ("interface Box<in T> {}", "interface Box<   T> {}"),
            (
                "type F<in out T, out U = unknown> = (x: T) => U;",
                "type F<       T,     U = unknown> = (x: T) => U;",
            ),
            (
                "class C<\n  out Output = unknown,\n> {}",
                "class C<\n      Output = unknown,\n> {}",
            ),
            (
                "interface O<\n  /** @ts-ignore Cast variance */\n  out Shape extends S = S,\n  // why\n  out C = D,\n> {}",
                "interface O<\n  /** @ts-ignore Cast variance */\n      Shape extends S = S,\n  // why\n      C = D,\n> {}",
            ),
        ];
        for (text, expected) in cases {
            let masked = mask_variance(text);
            assert_eq!(masked, expected);
            assert_eq!(masked.len(), text.len());
        }
    }

    #[test]
    fn other_uses_of_the_words_are_left_alone() {
        for text in [
            "function keep<out extends string>(x: out): out { return x; }",
            "for (const key in object) {}",
            "const pair = [a, out];",
            "call(a, out, b);",
            "f<out, T>();",
            "let x = a < inner && b;",
            "type T<outer> = outer;",
            "const s = \"é, ü\";",
        ] {
            assert_eq!(mask_variance(text), text);
            assert!(matches!(mask_variance(text), Cow::Borrowed(_)), "{text}");
        }
    }
}
