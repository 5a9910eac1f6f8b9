//! Dependency names read from manifests by parsing them, never by searching their text: a
//! description saying "removal in next major release" must not make a Python project a
//! Next.js one. Each reader returns the declared dependency names, normalised (lower case;
//! Python's `_` and `.` as `-`), in file order.

use std::collections::BTreeSet;

/// Names declared in a `Cargo.toml` (every `*dependencies*` table, target-specific ones and
/// the workspace's included).
pub fn cargo_toml(text: &str) -> Vec<String> {
    let Ok(value) = toml::from_str::<toml::Value>(text) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    fn collect(table: &toml::Value, names: &mut Vec<String>) {
        for (key, value) in table.as_table().into_iter().flatten() {
            if key.contains("dependencies") {
                for (name, spec) in value.as_table().into_iter().flatten() {
                    // `alias = { package = "real-name" }` depends on the real name.
                    let real = spec.get("package").and_then(toml::Value::as_str);
                    names.push(real.unwrap_or(name).to_lowercase());
                }
            }
        }
    }
    collect(&value, &mut names);
    if let Some(workspace) = value.get("workspace") {
        collect(workspace, &mut names);
    }
    for target in value
        .get("target")
        .and_then(toml::Value::as_table)
        .into_iter()
        .flat_map(|t| t.values())
    {
        collect(target, &mut names);
    }
    names
}

/// Names in a `package.json`'s dependency maps.
pub fn package_json(json: &serde_json::Value) -> Vec<String> {
    [
        "dependencies",
        "devDependencies",
        "peerDependencies",
        "optionalDependencies",
    ]
    .iter()
    .filter_map(|key| json[key].as_object())
    .flat_map(|map| map.keys().map(|name| name.to_lowercase()))
    .collect()
}

/// The distribution name of a PEP 508 requirement (`Django[bcrypt]>=4.2; python_version>"3"`
/// → `django`), normalised as pip does (PEP 503).
pub fn requirement_name(requirement: &str) -> Option<String> {
    let requirement = requirement.trim();
    let end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(requirement.len());
    let name = &requirement[..end];
    let first = name.chars().next()?;
    first.is_ascii_alphanumeric().then(|| {
        name.to_lowercase()
            .split(['-', '_', '.'])
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    })
}

/// Names in a `pyproject.toml`: PEP 621 `dependencies` and `optional-dependencies`, PEP 735
/// `dependency-groups`, Poetry's dependency tables and `build-system.requires`.
pub fn pyproject_toml(text: &str) -> Vec<String> {
    let Ok(value) = toml::from_str::<toml::Value>(text) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut requirements = |list: Option<&toml::Value>| {
        for item in list.and_then(toml::Value::as_array).into_iter().flatten() {
            if let Some(name) = item.as_str().and_then(requirement_name) {
                names.push(name);
            }
        }
    };
    requirements(value.get("build-system").and_then(|b| b.get("requires")));
    let project = value.get("project");
    requirements(project.and_then(|p| p.get("dependencies")));
    for extra in project
        .and_then(|p| p.get("optional-dependencies"))
        .and_then(toml::Value::as_table)
        .into_iter()
        .flat_map(|t| t.values())
    {
        requirements(Some(extra));
    }
    for group in value
        .get("dependency-groups")
        .and_then(toml::Value::as_table)
        .into_iter()
        .flat_map(|t| t.values())
    {
        requirements(Some(group));
    }
    if let Some(poetry) = value.get("tool").and_then(|t| t.get("poetry")) {
        let mut tables = vec![poetry.get("dependencies"), poetry.get("dev-dependencies")];
        for group in poetry
            .get("group")
            .and_then(toml::Value::as_table)
            .into_iter()
            .flat_map(|t| t.values())
        {
            tables.push(group.get("dependencies"));
        }
        for table in tables.into_iter().flatten() {
            for name in table.as_table().into_iter().flatten().map(|(k, _)| k) {
                if name != "python"
                    && let Some(name) = requirement_name(name)
                {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// Names in a requirements file (`requirements.txt`): one requirement per line; comments,
/// options (`-r`, `-c`, `--hash`…), URLs and editable paths are skipped.
pub fn requirements_txt(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split(" #").next().unwrap_or(line).trim())
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('-'))
        .filter(|line| !line.contains("://"))
        .filter_map(requirement_name)
        .collect()
}

/// Names in a `setup.cfg`'s `install_requires`, `setup_requires`, `tests_require` and
/// `[options.extras_require]` (INI: values continue on indented lines).
pub fn setup_cfg(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut section = String::new();
    let mut in_list = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            section = trimmed[1..trimmed.len() - 1].trim().to_lowercase();
            in_list = false;
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let continuation = line.starts_with([' ', '\t']);
        let value = if continuation {
            in_list.then_some(trimmed)
        } else if let Some((key, value)) = trimmed.split_once(['=', ':']) {
            let key = key.trim().to_lowercase();
            in_list = (section == "options"
                && matches!(
                    key.as_str(),
                    "install_requires" | "setup_requires" | "tests_require"
                ))
                || section == "options.extras_require";
            in_list.then_some(value.trim())
        } else {
            None
        };
        if let Some(name) = value.and_then(requirement_name) {
            names.push(name);
        }
    }
    names
}

/// Names in a `setup.py`'s `install_requires`, `setup_requires`, `tests_require` and
/// `extras_require` lists: the quoted strings inside the brackets that follow those keywords
/// (a `setup.py` is a program; this reads only literal lists, which is what nearly all hold).
pub fn setup_py(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for keyword in [
        "install_requires",
        "setup_requires",
        "tests_require",
        "extras_require",
    ] {
        for (at, _) in text.match_indices(keyword) {
            let rest = &text[at + keyword.len()..];
            let Some(rest) = rest.trim_start().strip_prefix('=') else {
                continue;
            };
            let rest = rest.trim_start();
            let (open, close) = match rest.chars().next() {
                Some('[') => ('[', ']'),
                Some('{') => ('{', '}'),
                _ => continue,
            };
            let mut depth = 0usize;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                if c == open {
                    depth += 1;
                } else if c == close {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
            }
            let body = &rest[..end];
            for (string, after) in quoted_strings(body) {
                // In `extras_require = {"dev": [...]}` the keys are extras, not packages.
                let is_key = open == '{' && after.trim_start().starts_with(':');
                if !is_key {
                    names.extend(requirement_name(string));
                }
            }
        }
    }
    names
}

/// The quoted string literals of Python source, each with the text after it.
fn quoted_strings(text: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(['"', '\'']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        let body = &rest[start + 1..];
        let Some(end) = body.find(quote) else {
            break;
        };
        found.push((&body[..end], &body[end + 1..]));
        rest = &body[end + 1..];
    }
    found
}

/// Module paths a `go.mod` requires (`require x v1` and `require ( … )` blocks).
pub fn go_mod(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if in_block {
            if line == ")" {
                in_block = false;
            } else if let Some(path) = line.split_whitespace().next() {
                names.push(path.to_lowercase());
            }
        } else if let Some(rest) = line.strip_prefix("require") {
            let rest = rest.trim();
            if rest == "(" {
                in_block = true;
            } else if let Some(path) = rest.split_whitespace().next() {
                names.push(path.to_lowercase());
            }
        }
    }
    names
}

/// `groupId:artifactId` of every `<dependency>` (and `<plugin>`) in a `pom.xml`, and of the
/// `<parent>` (a Spring Boot project names it there).
pub fn pom_xml(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for element in ["dependency", "parent", "plugin"] {
        let open = format!("<{element}>");
        let close = format!("</{element}>");
        let mut rest = text;
        while let Some(start) = rest.find(&open) {
            let after = &rest[start + open.len()..];
            let Some(end) = after.find(&close) else {
                break;
            };
            let body = &after[..end];
            let tag = |name: &str| {
                let open = format!("<{name}>");
                let start = body.find(&open)? + open.len();
                let end = body[start..].find('<')? + start;
                Some(body[start..end].trim().to_lowercase())
            };
            if let Some(artifact) = tag("artifactId") {
                names.push(match tag("groupId") {
                    Some(group) => format!("{group}:{artifact}"),
                    None => artifact,
                });
            }
            rest = &after[end + close.len()..];
        }
    }
    names
}

/// `group:artifact` coordinates declared in a Gradle build script (Groovy or Kotlin): the
/// quoted `"group:artifact:version"` strings and `id("plugin")`/`id 'plugin'` plugins.
pub fn gradle(text: &str) -> Vec<String> {
    let mut names = BTreeSet::new();
    for (i, piece) in text.split(['"', '\'']).enumerate() {
        if i % 2 == 0 {
            continue;
        }
        let parts: Vec<&str> = piece.split(':').collect();
        let coordinate = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        };
        if (2..=4).contains(&parts.len()) && coordinate(parts[0]) && coordinate(parts[1]) {
            names.insert(format!("{}:{}", parts[0], parts[1]).to_lowercase());
        } else if parts.len() == 1 && piece.starts_with("org.springframework.boot") {
            names.insert(piece.to_lowercase());
        }
    }
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_names_follow_pep_508_and_503() {
        assert_eq!(
            requirement_name("Django[bcrypt]>=4.2; python_version>'3'"),
            Some("django".into())
        );
        assert_eq!(
            requirement_name("typing_extensions>=4.6.0"),
            Some("typing-extensions".into())
        );
        assert_eq!(
            requirement_name("zope.interface"),
            Some("zope-interface".into())
        );
        assert_eq!(
            requirement_name("  psycopg2-binary ==2.9"),
            Some("psycopg2-binary".into())
        );
        assert_eq!(requirement_name(">=1.0"), None);
    }
}
