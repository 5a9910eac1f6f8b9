//! Repository analysis without a model: what manifests and layout say for certain — languages,
//! build and test commands, frameworks, databases, auth libraries, CI, containers. The model
//! only adds what cannot be read off the files.

use super::questions::ModelAnalysis;
use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What the repository is, as far as its files tell.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    /// Languages by indexed line count, largest first (from the index manifest when given).
    pub languages: Vec<String>,
    /// Manifests found (`Cargo.toml`, `package.json`, …).
    pub manifests: Vec<String>,
    /// Frameworks recognised from dependencies.
    pub frameworks: Vec<String>,
    /// Database libraries recognised from dependencies.
    pub databases: Vec<String>,
    /// Authentication libraries recognised from dependencies.
    pub auth: Vec<String>,
    /// Build commands, most specific first.
    pub build_commands: Vec<String>,
    /// Test commands, most specific first: the validation a plan step runs by default.
    pub test_commands: Vec<String>,
    /// CI configuration files.
    pub ci: Vec<String>,
    /// Container files.
    pub containers: Vec<String>,
}

impl Analysis {
    /// Takes the model's reading where the manifests said nothing (a detected value always
    /// wins), marked as the model's; returns what was added, as lines for the model's context.
    pub fn add_model_reading(&mut self, reading: &ModelAnalysis) -> Vec<String> {
        let mut added = Vec::new();
        for (label, found, stated) in [
            ("framework", &mut self.frameworks, &reading.framework),
            ("database", &mut self.databases, &reading.database),
            ("auth", &mut self.auth, &reading.auth),
        ] {
            let stated = stated.trim();
            let says_nothing = stated.is_empty()
                || ["none", "unknown", "n/a", "-"].contains(&stated.to_lowercase().as_str());
            if found.is_empty() && !says_nothing {
                found.push(format!("{stated} (stated by the model)"));
                added.push(format!("{label}: {stated} (stated by the model)"));
            }
        }
        added
    }
}

/// Dependency name fragments → what they reveal: (needle, category, label).
const KNOWN: &[(&str, Category, &str)] = &[
    ("axum", Category::Framework, "axum"),
    ("actix-web", Category::Framework, "actix-web"),
    ("rocket", Category::Framework, "rocket"),
    ("warp", Category::Framework, "warp"),
    ("tokio", Category::Framework, "tokio"),
    ("django", Category::Framework, "Django"),
    ("flask", Category::Framework, "Flask"),
    ("fastapi", Category::Framework, "FastAPI"),
    ("express", Category::Framework, "Express"),
    ("next", Category::Framework, "Next.js"),
    ("react", Category::Framework, "React"),
    ("vue", Category::Framework, "Vue"),
    ("gin-gonic/gin", Category::Framework, "Gin"),
    ("labstack/echo", Category::Framework, "Echo"),
    ("spring-boot", Category::Framework, "Spring Boot"),
    ("sqlx", Category::Database, "sqlx"),
    ("diesel", Category::Database, "Diesel"),
    ("rusqlite", Category::Database, "SQLite (rusqlite)"),
    (
        "tokio-postgres",
        Category::Database,
        "PostgreSQL (tokio-postgres)",
    ),
    ("sqlalchemy", Category::Database, "SQLAlchemy"),
    ("psycopg", Category::Database, "PostgreSQL (psycopg)"),
    ("pymongo", Category::Database, "MongoDB (pymongo)"),
    ("mongoose", Category::Database, "MongoDB (mongoose)"),
    ("prisma", Category::Database, "Prisma"),
    ("gorm.io", Category::Database, "GORM"),
    ("lib/pq", Category::Database, "PostgreSQL (lib/pq)"),
    ("redis", Category::Database, "Redis"),
    ("jsonwebtoken", Category::Auth, "JWT (jsonwebtoken)"),
    ("pyjwt", Category::Auth, "JWT (PyJWT)"),
    ("golang-jwt", Category::Auth, "JWT (golang-jwt)"),
    ("oauth", Category::Auth, "OAuth"),
    ("passport", Category::Auth, "Passport"),
    ("django-allauth", Category::Auth, "django-allauth"),
    (
        "spring-boot-starter-security",
        Category::Auth,
        "Spring Security",
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    Framework,
    Database,
    Auth,
}

/// Analyses the repository at `root`; `languages` comes from the index when there is one.
pub fn analyse(root: &Path, languages: Vec<String>) -> Analysis {
    let mut analysis = Analysis {
        languages,
        ..Analysis::default()
    };
    let read = |name: &str| std::fs::read_to_string(root.join(name)).ok();
    let mut dependency_text = String::new();
    if let Some(text) = read("Cargo.toml") {
        analysis.manifests.push("Cargo.toml".into());
        analysis.build_commands.push("cargo build".into());
        let workspace = text.contains("[workspace]");
        analysis.test_commands.push(if workspace {
            "cargo test --workspace".into()
        } else {
            "cargo test".into()
        });
        dependency_text.push_str(&dependency_names_toml(&text));
    }
    if let Some(text) = read("package.json") {
        analysis.manifests.push("package.json".into());
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
            let scripts = &json["scripts"];
            if scripts["build"].is_string() {
                analysis.build_commands.push("npm run build".into());
            }
            let test = scripts["test"].as_str().unwrap_or("");
            // npm's placeholder script fails on purpose; it is no test command.
            if !test.is_empty() && !test.contains("no test specified") {
                analysis.test_commands.push("npm test".into());
            }
            for key in ["dependencies", "devDependencies"] {
                if let Some(map) = json[key].as_object() {
                    for name in map.keys() {
                        dependency_text.push_str(name);
                        dependency_text.push('\n');
                    }
                }
            }
        }
    }
    let mut python = false;
    for manifest in [
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "requirements.txt",
    ] {
        if let Some(text) = read(manifest) {
            python = true;
            analysis.manifests.push(manifest.into());
            dependency_text.push_str(&text.to_lowercase());
            dependency_text.push('\n');
        }
    }
    let pytest = root.join("pytest.ini").exists() || dependency_text.contains("pytest");
    if pytest {
        analysis.test_commands.push("python -m pytest".into());
    } else if python {
        analysis.test_commands.push("python -m unittest".into());
    }
    if let Some(text) = read("go.mod") {
        analysis.manifests.push("go.mod".into());
        analysis.build_commands.push("go build ./...".into());
        analysis.test_commands.push("go test ./...".into());
        dependency_text.push_str(&text);
    }
    if let Some(text) = read("pom.xml") {
        analysis.manifests.push("pom.xml".into());
        analysis
            .build_commands
            .push("mvn -q package -DskipTests".into());
        analysis.test_commands.push("mvn -q test".into());
        dependency_text.push_str(&text);
    }
    for gradle in ["build.gradle", "build.gradle.kts"] {
        if let Some(text) = read(gradle) {
            analysis.manifests.push(gradle.into());
            analysis
                .build_commands
                .push("./gradlew build -x test".into());
            analysis.test_commands.push("./gradlew test".into());
            dependency_text.push_str(&text);
        }
    }
    if let Some(text) = read("Makefile") {
        analysis.manifests.push("Makefile".into());
        if text.lines().any(|l| l.starts_with("test:")) {
            analysis.test_commands.insert(0, "make test".into());
        }
    }
    let dependencies = dependency_text.to_lowercase();
    let mut seen = BTreeSet::new();
    for (needle, category, label) in KNOWN {
        if mentions(&dependencies, needle) && seen.insert(*label) {
            let list = match category {
                Category::Framework => &mut analysis.frameworks,
                Category::Database => &mut analysis.databases,
                Category::Auth => &mut analysis.auth,
            };
            list.push((*label).to_string());
        }
    }
    for ci in [
        ".github/workflows",
        ".gitlab-ci.yml",
        ".circleci",
        "Jenkinsfile",
        ".ci",
        "azure-pipelines.yml",
    ] {
        if root.join(ci).exists() {
            analysis.ci.push(ci.to_string());
        }
    }
    for container in [
        "Dockerfile",
        "docker-compose.yml",
        "docker-compose.yaml",
        "compose.yaml",
    ] {
        if root.join(container).exists() {
            analysis.containers.push(container.to_string());
        }
    }
    analysis
}

/// Languages of an index by indexed lines, largest first (plain text left out).
pub fn indexed_languages(manifest: &sextant_index::store::Manifest) -> Vec<String> {
    let mut lines: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for record in manifest.files.values() {
        *lines.entry(record.language.name()).or_default() += u64::from(record.line_count);
    }
    let mut sorted: Vec<(&str, u64)> = lines
        .into_iter()
        .filter(|(name, _)| *name != "text")
        .collect();
    sorted.sort_by_key(|(name, lines)| (std::cmp::Reverse(*lines), *name));
    sorted
        .into_iter()
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Whether `needle` appears as a whole dependency name (not inside another word).
fn mentions(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        let boundary =
            |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() && c != '-' && c != '_');
        boundary(before) && boundary(after)
    })
}

/// Dependency names of a Cargo.toml (keys of every `*dependencies*` table), one per line.
fn dependency_names_toml(text: &str) -> String {
    let Ok(value) = toml::from_str::<toml::Value>(text) else {
        return String::new();
    };
    let mut names = String::new();
    let mut collect = |table: &toml::Value| {
        for (key, value) in table.as_table().into_iter().flatten() {
            if key.contains("dependencies") {
                for name in value.as_table().into_iter().flatten().map(|(k, _)| k) {
                    names.push_str(name);
                    names.push('\n');
                }
            }
        }
    };
    collect(&value);
    if let Some(workspace) = value.get("workspace") {
        collect(workspace);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_fills_only_what_manifests_left_empty() {
        let mut analysis = Analysis {
            frameworks: vec!["Flask".into()],
            ..Analysis::default()
        };
        let added = analysis.add_model_reading(&ModelAnalysis {
            framework: "Django".into(),
            database: "SQLite via sqlite3".into(),
            auth: "unknown".into(),
        });
        assert_eq!(analysis.frameworks, ["Flask"]);
        assert_eq!(
            analysis.databases,
            ["SQLite via sqlite3 (stated by the model)"]
        );
        assert!(analysis.auth.is_empty());
        assert_eq!(
            added,
            ["database: SQLite via sqlite3 (stated by the model)"]
        );
    }

    fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        dir
    }

    #[test]
    fn a_rust_web_service() {
        let dir = repo(&[
            (
                "Cargo.toml",
                "[package]\nname = \"svc\"\n[dependencies]\naxum = \"0.8\"\nsqlx = { version = \"0.8\" }\njsonwebtoken = \"9\"\nserde = \"1\"\n",
            ),
            (".github/workflows/ci.yml", "on: push\n"),
            ("Dockerfile", "FROM rust\n"),
        ]);
        let analysis = analyse(dir.path(), vec!["rust".into()]);
        assert_eq!(analysis.test_commands, ["cargo test"]);
        assert_eq!(analysis.frameworks, ["axum"]);
        assert_eq!(analysis.databases, ["sqlx"]);
        assert_eq!(analysis.auth, ["JWT (jsonwebtoken)"]);
        assert_eq!(analysis.ci, [".github/workflows"]);
        assert_eq!(analysis.containers, ["Dockerfile"]);
    }

    #[test]
    fn python_node_and_go_projects() {
        let python = repo(&[(
            "pyproject.toml",
            "[project]\ndependencies = [\"fastapi\", \"sqlalchemy>=2\", \"pyjwt\"]\n[tool.pytest.ini_options]\n",
        )]);
        let analysis = analyse(python.path(), Vec::new());
        assert_eq!(analysis.test_commands, ["python -m pytest"]);
        assert_eq!(analysis.frameworks, ["FastAPI"]);
        assert_eq!(analysis.databases, ["SQLAlchemy"]);
        assert_eq!(analysis.auth, ["JWT (PyJWT)"]);

        let node = repo(&[(
            "package.json",
            r#"{"scripts":{"test":"echo \"Error: no test specified\" && exit 1","build":"tsc"},"dependencies":{"express":"^4","mongoose":"^8"},"devDependencies":{"react-dom":"^18"}}"#,
        )]);
        let analysis = analyse(node.path(), Vec::new());
        assert!(analysis.test_commands.is_empty(), "{analysis:?}");
        assert_eq!(analysis.build_commands, ["npm run build"]);
        assert_eq!(analysis.frameworks, ["Express"], "react-dom is not react");
        assert_eq!(analysis.databases, ["MongoDB (mongoose)"]);

        let go = repo(&[
            (
                "go.mod",
                "module x\nrequire github.com/gin-gonic/gin v1.9.0\n",
            ),
            ("Makefile", "build:\n\tgo build\ntest:\n\tgo test ./...\n"),
        ]);
        let analysis = analyse(go.path(), Vec::new());
        assert_eq!(analysis.test_commands, ["make test", "go test ./..."]);
        assert_eq!(analysis.frameworks, ["Gin"]);
    }

    #[test]
    fn an_empty_directory_knows_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(analyse(dir.path(), Vec::new()), Analysis::default());
    }
}
