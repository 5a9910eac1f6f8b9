//! Writing what people and programs read: stdout that tolerates a closed pipe, JSON, and
//! number formatting.

use std::io::Write;

/// Writes `text` to stdout; a closed pipe (`sextant search x | head`) surfaces as an error
/// that `run` turns into a quiet exit 0.
///
/// On a terminal, control characters other than newline and tab are shown escaped: text
/// from the repository (file names, lines of code) must not move the cursor, recolour or
/// retitle the user's terminal.
pub fn print(text: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let mut stdout = std::io::stdout().lock();
    let text = if stdout.is_terminal() {
        escape(text, |c| c == '\n' || c == '\t')
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Text written by a model or a command (questions, a plan, a validation's output, an error
/// quoting them), made safe for a terminal: every control character but newline and tab, and
/// every bidirectional override, escaped — an escape sequence in a step title must not hide
/// the validation command printed after it.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

/// Writes a value as pretty JSON followed by a newline.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    print(&json_text(value)?)
}

/// A value as pretty JSON with a final newline, fields in their declared order: what
/// `--json` prints, and what the server returns for the same question.
pub fn json_text(value: &impl serde::Serialize) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

/// Whether an error is stdout closing under us.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// `1234567` → `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `count` and a noun, pluralised with `s` (`1 file`, `2 files`).
pub fn counted(count: u64, noun: &str) -> String {
    format!(
        "{} {noun}{}",
        thousands(count),
        if count == 1 { "" } else { "s" }
    )
}

/// Milliseconds as seconds with two decimals.
pub fn seconds(milliseconds: u64) -> String {
    format!("{:.2} s", milliseconds as f64 / 1000.0)
}

/// A past moment relative to now, coarsely (`3 minutes ago`).
pub fn ago(seconds_since_epoch: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let delta = now.saturating_sub(seconds_since_epoch);
    let (amount, unit) = match delta {
        0..60 => (delta, "second"),
        60..3600 => (delta / 60, "minute"),
        3600..86_400 => (delta / 3600, "hour"),
        _ => (delta / 86_400, "day"),
    };
    format!("{amount} {unit}{} ago", if amount == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}

/// `text` (a path, a name) with every control character and bidirectional override escaped
/// (`\n`, `\u{1b}`), so it prints on one line as what it is.
pub fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    escape(text, |_| false)
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        !keep(c)
            && (c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod escape_tests {
    use super::*;

    #[test]
    fn control_characters_in_names_are_shown_escaped() {
        assert_eq!(escaped("src/lib.rs"), "src/lib.rs");
        assert_eq!(escaped("a\u{1b}[31mred\nb.py"), "a\\u{1b}[31mred\\nb.py");
        assert_eq!(escaped("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(
            escape("line\n\tok\u{7}", |c| c == '\n' || c == '\t'),
            "line\n\tok\\u{7}"
        );
    }
}
