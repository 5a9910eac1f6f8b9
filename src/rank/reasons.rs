//! A ranked file's reasons in one line — "defines `verify_token`; matches token, expired;
//! linked: …; like past change 9f13217 "…"" — for the `why-relevant` table and the agent's
//! context, so both say the same thing.

use std::collections::BTreeSet;

use super::{FileSignals, is_scope_entry};

/// A history prior worth naming among a file's reasons (1 = the most changed file).
const NOTABLE_HISTORY: f64 = 0.5;
/// Credit from similar past commits worth naming among a file's reasons (1 = the best file).
const NOTABLE_PAST: f64 = 0.5;
/// Characters of a past commit's subject shown among a file's reasons.
const SUBJECT_CHARS: usize = 60;

/// The reasons behind a file's place, strongest evidence first; `matched_terms` are the task's
/// terms found on its evidence lines (empty when they were not looked up).
pub fn one_line(s: &FileSignals, matched_terms: &BTreeSet<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(found) = s.symbols.first() {
        parts.push(format!("defines `{}`", found.query));
    }
    // A scope (`sync:`) names a directory the file is in; a path names the file itself.
    if let Some(named) = s.paths.iter().find(|p| !is_scope_entry(p)) {
        parts.push(format!("named in the task ({named})"));
    } else if let Some(scope) = s.paths.first() {
        parts.push(format!("in the task's scope `{scope}`"));
    }
    if s.chunks > 0.0 || s.whole_file > 0.0 {
        if matched_terms.is_empty() {
            parts.push("text matches".to_string());
        } else {
            parts.push(format!(
                "matches {}",
                matched_terms.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if let Some(similar) = &s.similar
        && s.vector > 0.0
    {
        parts.push(format!(
            "similar: {} ({:.2})",
            similar.label.rsplit("::").next().unwrap_or(&similar.label),
            similar.similarity
        ));
    }
    if let Some(link) = &s.graph_link
        && s.graph > 0.0
    {
        parts.push(format!("linked: {}", link.description));
    }
    if s.history >= NOTABLE_HISTORY {
        parts.push(format!("changed in {} recent commits", s.recent_commits));
    }
    if let Some(commit) = &s.past_commit
        && s.past >= NOTABLE_PAST
    {
        let mut subject: String = commit.subject.chars().take(SUBJECT_CHARS).collect();
        if subject.len() < commit.subject.len() {
            subject.truncate(subject.trim_end().len());
            subject.push('…');
        }
        parts.push(format!("like past change {} \"{subject}\"", commit.id));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rank::past::SimilarCommit;
    use crate::rank::{GraphLink, SymbolMatch};

    #[test]
    fn reasons_name_each_signal_that_fired_in_order() {
        let signals = FileSignals {
            chunks: 0.5,
            symbols: vec![SymbolMatch {
                query: "verify_token".into(),
                id: "auth::verify_token".into(),
                line: 3,
            }],
            symbol: 1.0,
            paths: vec!["auth:".into()],
            path: 0.75,
            graph: 0.4,
            graph_link: Some(GraphLink {
                seed: "api.py".into(),
                description: "imported by api.py".into(),
                line: None,
            }),
            history: 0.6,
            recent_commits: 4,
            past: 0.8,
            past_commit: Some(SimilarCommit {
                id: "abc1234".into(),
                subject: "auth: refuse expired tokens in the verifier after the grace period ends"
                    .into(),
                score: 9.0,
            }),
            ..FileSignals::default()
        };
        let terms: BTreeSet<&str> = ["expired", "token"].into_iter().collect();
        assert_eq!(
            one_line(&signals, &terms),
            "defines `verify_token`; in the task's scope `auth:`; matches expired, token; \
             linked: imported by api.py; changed in 4 recent commits; like past change abc1234 \
             \"auth: refuse expired tokens in the verifier after the grace…\""
        );
        assert_eq!(
            one_line(
                &FileSignals {
                    whole_file: 0.2,
                    ..FileSignals::default()
                },
                &BTreeSet::new()
            ),
            "text matches"
        );
    }
}
