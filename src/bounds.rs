//! The accepted range of every numeric flag and setting, in one place: clap checks flags with
//! the parsers here and `settings` checks `sextant.toml` with the same ranges, so an absurd
//! value (`-n 18446744073709551615`, `--threads 5000`, `--graph-weight NaN`,
//! `max_file_size = 0`) is a usage error (exit 2) naming the range, never a panic, an
//! allocation of gigabytes, a hang or a silently empty answer.

use std::ops::RangeInclusive;

/// A setting in `sextant.toml`, the user config or the environment that cannot be used as
/// given (out of range, not finite, not a directory): the command line maps it to exit 2, as
/// clap does for flags.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Worker threads (0 = one per core). More than this buys nothing on any machine we know and
/// thousands of threads stall the process.
pub const THREADS: RangeInclusive<u64> = 0..=256;
/// Hits a search shows.
pub const SEARCH_LIMIT: RangeInclusive<u64> = 1..=10_000;
/// Queries an evaluation takes from history.
pub const EVAL_QUERIES: RangeInclusive<u64> = 1..=10_000;
/// Token budget of a packed context: at least a file's outline, at most far beyond any model.
pub const BUDGET_TOKENS: RangeInclusive<u64> = 100..=10_000_000;
/// Files in a packed context.
pub const MAX_FILES: RangeInclusive<u64> = 1..=1_000;
/// Largest file indexed, in bytes: 0 would silently index nothing; past 1 GiB one file would
/// dominate memory.
pub const MAX_FILE_SIZE: RangeInclusive<u64> = 1..=1 << 30;
/// A ranking signal's weight.
pub const WEIGHT: RangeInclusive<f64> = 0.0..=100.0;
/// A factor on a kind of file's score.
pub const FACTOR: RangeInclusive<f64> = 0.0..=10.0;
/// Attempts per plan step.
pub const ATTEMPTS: RangeInclusive<u64> = 1..=20;
/// Sampling temperature.
pub const TEMPERATURE: RangeInclusive<f64> = 0.0..=2.0;
/// Seconds a command or a read may take.
pub const SECONDS: RangeInclusive<f64> = 0.001..=86_400.0;
/// A model's context window, in tokens.
pub const CONTEXT_SIZE: RangeInclusive<u64> = 256..=16_777_216;
/// Tokens a model may generate in one reply.
pub const MAX_TOKENS: RangeInclusive<u64> = 1..=1_048_576;
/// Texts per request to an embedding server.
pub const EMBED_BATCH: RangeInclusive<u64> = 1..=2_048;
/// Requests to an embedding server in flight at once.
pub const EMBED_CONCURRENCY: RangeInclusive<u64> = 1..=64;
/// A plan step number.
pub const STEP: RangeInclusive<u64> = 1..=1_000;

/// Checks an integer setting from a file or the environment.
pub fn check_integer(
    name: &str,
    value: u64,
    range: RangeInclusive<u64>,
) -> Result<u64, UsageError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(UsageError(format!(
            "{name} = {value} is out of range: expected an integer from {} to {}",
            range.start(),
            range.end()
        )))
    }
}

/// Checks a real-valued setting from a file or the environment: finite and within `range`.
pub fn check_real(name: &str, value: f64, range: RangeInclusive<f64>) -> Result<f64, UsageError> {
    if value.is_finite() && range.contains(&value) {
        Ok(value)
    } else {
        Err(UsageError(format!(
            "{name} = {value} is out of range: expected a finite number from {} to {}",
            range.start(),
            range.end()
        )))
    }
}

/// A clap parser for integers within `range`, converted to `T`.
pub fn integer<T>(range: RangeInclusive<u64>) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: TryFrom<u64>,
{
    move |text: &str| {
        let expected = format!("an integer from {} to {}", range.start(), range.end());
        let value: u64 = text
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not {expected}"))?;
        if !range.contains(&value) {
            return Err(format!("{value} is out of range: expected {expected}"));
        }
        T::try_from(value).map_err(|_| format!("{value} does not fit on this machine"))
    }
}

/// A clap parser for finite real numbers within `range`.
pub fn real(range: RangeInclusive<f64>) -> impl Fn(&str) -> Result<f64, String> + Clone {
    move |text: &str| {
        let expected = format!("a finite number from {} to {}", range.start(), range.end());
        let value: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not {expected}"))?;
        if value.is_finite() && range.contains(&value) {
            Ok(value)
        } else {
            Err(format!("{text} is out of range: expected {expected}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_take_the_range_and_refuse_the_rest() {
        let threads = integer::<usize>(THREADS);
        assert_eq!(threads("0"), Ok(0));
        assert_eq!(threads("256"), Ok(256));
        assert!(threads("5000").is_err_and(|e| e.contains("0 to 256")));
        assert!(threads("-1").is_err());
        assert!(threads("18446744073709551616").is_err());
        let weight = real(WEIGHT);
        assert_eq!(weight("0.45"), Ok(0.45));
        for bad in ["NaN", "nan", "inf", "-inf", "-0.5", "101", "1e400", ""] {
            assert!(weight(bad).is_err(), "{bad}");
        }
        assert!(check_real("rank.graph_weight", f64::NAN, WEIGHT).is_err());
        assert!(check_integer("index.max_file_size", 0, MAX_FILE_SIZE).is_err());
        assert_eq!(
            check_integer("index.max_file_size", 7, MAX_FILE_SIZE).ok(),
            Some(7)
        );
    }
}
