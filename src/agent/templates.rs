//! Task templates: for common kinds of task, what the analysis must settle (a checklist the
//! questions draw on) and a plan skeleton the plan starts from. Built in, or the user's own in
//! `.sextant/templates/NAME.toml` (same fields; a user template overrides a built-in one).

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

/// A template.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Its name (`add-caching`).
    pub name: String,
    /// One line on what it is for.
    pub description: String,
    /// What the questions must settle.
    pub checklist: Vec<String>,
    /// Step titles the plan starts from.
    pub steps: Vec<String>,
}

const BUILT_IN: [&str; 6] = [
    include_str!("templates/add-endpoint.toml"),
    include_str!("templates/fix-bug.toml"),
    include_str!("templates/refactor-module.toml"),
    include_str!("templates/add-caching.toml"),
    include_str!("templates/add-tests.toml"),
    include_str!("templates/update-docs.toml"),
];

/// The built-in templates.
pub fn built_in() -> Vec<Template> {
    BUILT_IN
        .iter()
        .filter_map(|text| toml::from_str(text).ok())
        .collect()
}

/// The template `name`: the user's `<user_dir>/NAME.toml` if present, else a built-in one.
pub fn find(name: &str, user_dir: &Path) -> anyhow::Result<Template> {
    let user = user_dir.join(format!("{name}.toml"));
    if user.is_file() {
        let text = std::fs::read_to_string(&user)?;
        return toml::from_str(&text)
            .with_context(|| format!("invalid template {}", user.display()));
    }
    if let Some(template) = built_in().into_iter().find(|t| t.name == name) {
        return Ok(template);
    }
    let mut names: Vec<String> = built_in().into_iter().map(|t| t.name).collect();
    if let Ok(entries) = std::fs::read_dir(user_dir) {
        for entry in entries.flatten() {
            if let Some(stem) = entry.path().file_stem().and_then(|s| s.to_str())
                && entry.path().extension().is_some_and(|e| e == "toml")
            {
                names.push(stem.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    bail!("no template {name:?}; known: {}", names.join(", "))
}

impl Template {
    /// The template as context for the model.
    pub fn guidance(&self) -> String {
        let mut text = format!(
            "This is a \"{}\" task. Settle: {}.\nA plan for it usually has these steps: {}.",
            self.description,
            self.checklist.join("; "),
            self.steps.join("; ")
        );
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_template_parses() {
        let names: Vec<String> = built_in().into_iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            [
                "add-endpoint",
                "fix-bug",
                "refactor-module",
                "add-caching",
                "add-tests",
                "update-docs"
            ]
        );
        for template in built_in() {
            assert!(
                (5..=12).contains(&template.steps.len()),
                "{}",
                template.name
            );
        }
    }

    #[test]
    fn user_templates_override_and_unknown_names_list_the_known() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("fix-bug.toml"),
            "name = \"fix-bug\"\ndescription = \"Our bug process\"\nchecklist = [\"ticket\"]\nsteps = [\"a\", \"b\"]\n",
        )
        .expect("write");
        assert_eq!(
            find("fix-bug", dir.path()).expect("found").description,
            "Our bug process"
        );
        assert_eq!(
            find("add-tests", dir.path()).expect("found").name,
            "add-tests"
        );
        let error = find("nope", dir.path()).expect_err("unknown");
        assert!(error.to_string().contains("add-caching"), "{error}");
    }
}
