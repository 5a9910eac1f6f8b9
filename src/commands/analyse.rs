//! `sextant analyse`: what the repository is, read off its manifests and its index.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::agent::analyse::analyse;
use crate::cli::{AnalyseArgs, GlobalArgs};
use crate::output::{print, print_json};
use crate::settings::{Overrides, Settings};

/// Runs `sextant analyse`.
pub fn run(args: &AnalyseArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args.path.as_deref(), global, &Overrides::default())?;
    // Languages by indexed lines, when there is an index.
    let languages = match settings.index_dir.open() {
        Ok(snapshot) => {
            let mut lines: BTreeMap<&str, u64> = BTreeMap::new();
            for record in snapshot.manifest.files.values() {
                *lines.entry(record.language.name()).or_default() += u64::from(record.line_count);
            }
            let mut sorted: Vec<(&str, u64)> = lines
                .into_iter()
                .filter(|(name, _)| *name != "text")
                .collect();
            sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            sorted
                .into_iter()
                .map(|(name, _)| name.to_string())
                .collect()
        }
        Err(_) => Vec::new(),
    };
    let analysis = analyse(&settings.root, languages);
    if args.json {
        return print_json(&analysis);
    }
    let mut out = String::new();
    let none = || "none found".to_string();
    for (label, values) in [
        ("languages", &analysis.languages),
        ("manifests", &analysis.manifests),
        ("frameworks", &analysis.frameworks),
        ("databases", &analysis.databases),
        ("auth", &analysis.auth),
        ("build", &analysis.build_commands),
        ("test", &analysis.test_commands),
        ("ci", &analysis.ci),
        ("containers", &analysis.containers),
    ] {
        let shown = if values.is_empty() {
            none()
        } else {
            values.join(", ")
        };
        let _ = writeln!(out, "{label:>11}: {shown}");
    }
    if analysis.languages.is_empty() {
        let _ = writeln!(out, "(no index: run `sextant index` for languages)");
    }
    print(&out)
}
