//! `sextant check-graph`: the knowledge graph measured against a SCIP index of the same tree.

use std::fmt::Write;

use sextant_index::scip::compare::{Comparison, Precision, compare};
use sextant_index::scip::read_scip;

use crate::cli::{CheckGraphArgs, GlobalArgs};
use crate::output::{json_text, print, thousands};

/// Runs the comparison and prints it.
pub fn run(args: &CheckGraphArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let (settings, graph) = super::graph::open_graph(args.repo.as_deref(), global)?;
    let oracle = read_scip(&args.scip)?;
    let comparison = compare(&graph, &oracle);
    if comparison.languages.values().all(|l| l.files == 0) {
        anyhow::bail!(
            "no file of {} is in the index of {}: was the SCIP index made from this \
             repository's root?",
            args.scip.display(),
            settings.root.display()
        );
    }
    print(&if args.json {
        json_text(&comparison)?
    } else {
        text(&comparison)
    })
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{:.3}", v))
}

fn precision_line(out: &mut String, label: &str, p: &Precision) {
    let _ = writeln!(
        out,
        "  {label:<12} precision {} (cross-file {}): {} right, {} wrong, {} unverifiable",
        percent(p.value()),
        percent(p.cross_file()),
        thousands(p.right),
        thousands(p.wrong),
        thousands(p.unverifiable)
    );
}

/// The comparison as a person reads it: per language, precision per edge kind, recall, and a
/// few samples of wrong and missed edges.
fn text(comparison: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "oracle: {}", comparison.tool);
    for (language, report) in &comparison.languages {
        if report.files == 0 {
            continue;
        }
        let _ = writeln!(out, "\n{language}: {} files", thousands(report.files));
        precision_line(&mut out, "all edges", &report.precision_all);
        for (kind, precision) in &report.precision {
            precision_line(&mut out, kind, precision);
        }
        let recall = &report.recall;
        let unmodelled: Vec<String> = recall
            .unmodelled_by_kind
            .iter()
            .map(|(kind, n)| format!("{n} {}", kind.name()))
            .collect();
        let _ = writeln!(
            out,
            "  recall       {} of cross-file references: {} found of {} the graph models \
             ({} references; not modelled: {})",
            percent(recall.value()),
            thousands(recall.found),
            thousands(recall.modelled),
            thousands(recall.references),
            if unmodelled.is_empty() {
                "none".to_string()
            } else {
                unmodelled.join(", ")
            }
        );
        let samples = &report.precision_all.wrong_samples;
        if !samples.is_empty() {
            let _ = writeln!(out, "  wrong edges, for example:");
            for sample in samples.iter().take(6) {
                let _ = writeln!(out, "    {sample}");
            }
        }
        if !recall.missed_samples.is_empty() {
            let _ = writeln!(out, "  missed references, for example:");
            for sample in recall.missed_samples.iter().take(6) {
                let _ = writeln!(out, "    {sample}");
            }
        }
    }
    let _ = writeln!(
        out,
        "\nnot scored: {} indexed files outside the oracle, {} oracle documents not indexed",
        thousands(comparison.files_not_in_oracle),
        thousands(comparison.documents_not_in_graph)
    );
    out
}
