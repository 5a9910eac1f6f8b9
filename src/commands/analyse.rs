//! `sextant analyse`: what the repository is, read off its manifests and its index.

use std::fmt::Write;

use crate::agent::analyse::{analyse, indexed_languages};
use crate::cli::{AnalyseArgs, GlobalArgs};
use crate::output::{print, print_json};
use crate::settings::{Overrides, Settings};

/// Runs `sextant analyse`.
pub fn run(args: &AnalyseArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args.path.as_deref(), global, &Overrides::default())?;
    // Languages by indexed lines, when there is an index.
    let languages = match settings.index_dir.open() {
        Ok(snapshot) => indexed_languages(&snapshot.manifest),
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
