//! Repository analysis without a model: what manifests and layout say for certain — languages,
//! build and test commands, frameworks, databases, auth libraries, CI, containers. The model
//! only adds what cannot be read off the files.

use super::manifests;
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

/// Dependency names → what they reveal: (name, how it matches, category, label). Matched
/// against the names manifests declare (see [`super::manifests`]), never their free text.
const KNOWN: &[(&str, Match, Category, &str)] = &[
    ("axum", Match::Name, Category::Framework, "axum"),
    ("actix-web", Match::Name, Category::Framework, "actix-web"),
    ("rocket", Match::Name, Category::Framework, "rocket"),
    ("warp", Match::Name, Category::Framework, "warp"),
    ("tokio", Match::Name, Category::Framework, "tokio"),
    ("django", Match::Name, Category::Framework, "Django"),
    ("flask", Match::Name, Category::Framework, "Flask"),
    ("fastapi", Match::Name, Category::Framework, "FastAPI"),
    ("express", Match::Name, Category::Framework, "Express"),
    ("next", Match::Name, Category::Framework, "Next.js"),
    ("react", Match::Name, Category::Framework, "React"),
    ("vue", Match::Name, Category::Framework, "Vue"),
    ("@angular/core", Match::Name, Category::Framework, "Angular"),
    ("gin-gonic/gin", Match::Name, Category::Framework, "Gin"),
    ("labstack/echo", Match::Name, Category::Framework, "Echo"),
    (
        "org.springframework.boot",
        Match::Name,
        Category::Framework,
        "Spring Boot",
    ),
    ("go-chi/chi", Match::Name, Category::Framework, "chi"),
    (
        "gorilla/mux",
        Match::Name,
        Category::Framework,
        "gorilla/mux",
    ),
    (
        "com.sparkjava:spark-core",
        Match::Name,
        Category::Framework,
        "Spark Java",
    ),
    ("sqlx", Match::Name, Category::Database, "sqlx"),
    ("diesel", Match::Name, Category::Database, "Diesel"),
    (
        "rusqlite",
        Match::Name,
        Category::Database,
        "SQLite (rusqlite)",
    ),
    (
        "tokio-postgres",
        Match::Name,
        Category::Database,
        "PostgreSQL (tokio-postgres)",
    ),
    ("sqlalchemy", Match::Name, Category::Database, "SQLAlchemy"),
    (
        "psycopg",
        Match::Name,
        Category::Database,
        "PostgreSQL (psycopg)",
    ),
    (
        "psycopg2",
        Match::Name,
        Category::Database,
        "PostgreSQL (psycopg)",
    ),
    (
        "psycopg2-binary",
        Match::Name,
        Category::Database,
        "PostgreSQL (psycopg)",
    ),
    (
        "pymongo",
        Match::Name,
        Category::Database,
        "MongoDB (pymongo)",
    ),
    (
        "mongoose",
        Match::Name,
        Category::Database,
        "MongoDB (mongoose)",
    ),
    ("mongodb", Match::Name, Category::Database, "MongoDB"),
    ("pg", Match::Name, Category::Database, "PostgreSQL (pg)"),
    ("mysql2", Match::Name, Category::Database, "MySQL (mysql2)"),
    (
        "mysql-connector",
        Match::Name,
        Category::Database,
        "MySQL (mysql-connector)",
    ),
    (
        "mysql-connector-python",
        Match::Name,
        Category::Database,
        "MySQL (mysql-connector)",
    ),
    ("prisma", Match::Name, Category::Database, "Prisma"),
    ("@prisma/client", Match::Name, Category::Database, "Prisma"),
    ("gorm.io/gorm", Match::Name, Category::Database, "GORM"),
    (
        "lib/pq",
        Match::Name,
        Category::Database,
        "PostgreSQL (lib/pq)",
    ),
    (
        "jackc/pgx",
        Match::Name,
        Category::Database,
        "PostgreSQL (pgx)",
    ),
    (
        "go-sql-driver/mysql",
        Match::Name,
        Category::Database,
        "MySQL (go-sql-driver)",
    ),
    (
        "spring-boot-starter-data-jpa",
        Match::Name,
        Category::Database,
        "JPA (Spring Data)",
    ),
    ("redis", Match::Contains, Category::Database, "Redis"),
    (
        "jsonwebtoken",
        Match::Name,
        Category::Auth,
        "JWT (jsonwebtoken)",
    ),
    ("pyjwt", Match::Name, Category::Auth, "JWT (PyJWT)"),
    (
        "golang-jwt/jwt",
        Match::Name,
        Category::Auth,
        "JWT (golang-jwt)",
    ),
    ("oauth", Match::Contains, Category::Auth, "OAuth"),
    ("passport", Match::Name, Category::Auth, "Passport"),
    (
        "django-allauth",
        Match::Name,
        Category::Auth,
        "django-allauth",
    ),
    (
        "spring-boot-starter-security",
        Match::Name,
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

/// How a known name is recognised among declared dependency names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Match {
    /// The whole name, or its last path parts (`github.com/gin-gonic/gin`,
    /// `github.com/labstack/echo/v4`), or a Maven artifact or group (`group:artifact`).
    Name,
    /// Any name containing it (`ioredis`, `requests-oauthlib`).
    Contains,
}

impl Match {
    fn accepts(self, name: &str, known: &str) -> bool {
        match self {
            Match::Contains => name.contains(known),
            Match::Name => {
                name == known
                    || name.ends_with(&format!("/{known}"))
                    || name.contains(&format!("/{known}/"))
                    || name.ends_with(&format!(":{known}"))
                    || name.starts_with(&format!("{known}:"))
            }
        }
    }
}

/// The package manager a JavaScript repository uses, as its tools decide: the `packageManager`
/// field (corepack's), else the lock file present; npm when nothing says. Running npm in a
/// pnpm workspace fails on `workspace:` dependencies.
fn package_manager(root: &Path, package_json: &serde_json::Value) -> &'static str {
    const MANAGERS: [&str; 4] = ["pnpm", "yarn", "bun", "npm"];
    let declared = package_json["packageManager"]
        .as_str()
        .and_then(|field| field.split('@').next())
        .and_then(|name| MANAGERS.iter().find(|m| **m == name.trim()));
    if let Some(manager) = declared {
        return manager;
    }
    let locks = [
        ("pnpm-lock.yaml", "pnpm"),
        ("yarn.lock", "yarn"),
        ("bun.lock", "bun"),
        ("bun.lockb", "bun"),
    ];
    locks
        .iter()
        .find(|(file, _)| root.join(file).is_file())
        .map_or("npm", |(_, manager)| manager)
}

/// Analyses the repository at `root`; `languages` comes from the index when there is one.
/// Manifests are parsed (TOML, JSON, XML elements, requirement specifiers); only the
/// dependency names they declare are matched.
pub fn analyse(root: &Path, languages: Vec<String>) -> Analysis {
    let mut analysis = Analysis {
        languages,
        ..Analysis::default()
    };
    let read = |name: &str| std::fs::read_to_string(root.join(name)).ok();
    let mut dependencies: Vec<String> = Vec::new();
    if let Some(text) = read("Cargo.toml") {
        analysis.manifests.push("Cargo.toml".into());
        analysis.build_commands.push("cargo build".into());
        let workspace = toml::from_str::<toml::Value>(&text)
            .ok()
            .is_some_and(|v| v.get("workspace").is_some());
        analysis.test_commands.push(if workspace {
            "cargo test --workspace".into()
        } else {
            "cargo test".into()
        });
        dependencies.extend(manifests::cargo_toml(&text));
    }
    if let Some(text) = read("package.json") {
        analysis.manifests.push("package.json".into());
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
            let scripts = &json["scripts"];
            let manager = package_manager(root, &json);
            if scripts["build"].is_string() {
                analysis.build_commands.push(format!("{manager} run build"));
            }
            let test = scripts["test"].as_str().unwrap_or("");
            // npm's placeholder script fails on purpose; it is no test command.
            if !test.is_empty() && !test.contains("no test specified") {
                analysis.test_commands.push(match manager {
                    // `bun test` is bun's own runner, not the script.
                    "bun" => "bun run test".into(),
                    _ => format!("{manager} test"),
                });
            }
            dependencies.extend(manifests::package_json(&json));
        }
    }
    let mut python = false;
    let mut python_dependencies = Vec::new();
    let mut pytest_configured =
        root.join("pytest.ini").exists() || root.join("conftest.py").exists();
    if let Some(text) = read("pyproject.toml") {
        python = true;
        analysis.manifests.push("pyproject.toml".into());
        python_dependencies.extend(manifests::pyproject_toml(&text));
        pytest_configured |= toml::from_str::<toml::Value>(&text)
            .ok()
            .is_some_and(|v| v.get("tool").and_then(|t| t.get("pytest")).is_some());
    }
    if let Some(text) = read("setup.py") {
        python = true;
        analysis.manifests.push("setup.py".into());
        python_dependencies.extend(manifests::setup_py(&text));
    }
    if let Some(text) = read("setup.cfg") {
        python = true;
        analysis.manifests.push("setup.cfg".into());
        python_dependencies.extend(manifests::setup_cfg(&text));
        pytest_configured |= text.lines().any(|l| l.trim() == "[tool:pytest]");
    }
    for requirements in [
        "requirements.txt",
        "requirements-dev.txt",
        "dev-requirements.txt",
        "test-requirements.txt",
    ] {
        if let Some(text) = read(requirements) {
            python = true;
            analysis.manifests.push(requirements.into());
            python_dependencies.extend(manifests::requirements_txt(&text));
        }
    }
    if let Some(text) = read("tox.ini") {
        pytest_configured |= text.lines().any(|l| l.trim() == "[pytest]");
    }
    let pytest = pytest_configured || python_dependencies.iter().any(|d| d == "pytest");
    if pytest {
        analysis.test_commands.push("python -m pytest".into());
    } else if python {
        analysis.test_commands.push("python -m unittest".into());
    }
    dependencies.extend(python_dependencies);
    if let Some(text) = read("go.mod") {
        analysis.manifests.push("go.mod".into());
        analysis.build_commands.push("go build ./...".into());
        analysis.test_commands.push("go test ./...".into());
        dependencies.extend(manifests::go_mod(&text));
    }
    if let Some(text) = read("pom.xml") {
        analysis.manifests.push("pom.xml".into());
        analysis
            .build_commands
            .push("mvn -q package -DskipTests".into());
        analysis.test_commands.push("mvn -q test".into());
        dependencies.extend(manifests::pom_xml(&text));
    }
    for gradle in ["build.gradle", "build.gradle.kts"] {
        if let Some(text) = read(gradle) {
            analysis.manifests.push(gradle.into());
            analysis
                .build_commands
                .push("./gradlew build -x test".into());
            analysis.test_commands.push("./gradlew test".into());
            dependencies.extend(manifests::gradle(&text));
        }
    }
    if let Some(text) = read("Makefile") {
        analysis.manifests.push("Makefile".into());
        if text.lines().any(|l| l.starts_with("test:")) {
            analysis.test_commands.insert(0, "make test".into());
        }
    }
    let mut seen = BTreeSet::new();
    for (known, how, category, label) in KNOWN {
        if dependencies.iter().any(|name| how.accepts(name, known)) && seen.insert(*label) {
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
        "compose.yml",
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

    /// Manifests shaped like real ones of each ecosystem (mypy's pyproject.toml, a Poetry
    /// service, a setuptools package, a Next.js app, Go and Spring services), with the traps
    /// real ones hold: prose that names frameworks, comments, markers, extras, hashes.
    #[test]
    fn real_manifest_shapes_are_parsed_not_searched() {
        let mypy_like = repo(&[(
            "pyproject.toml",
            r#"[build-system]
requires = [
    # NOTE: this needs to be kept in sync with mypy-requirements.txt
    "setuptools >= 77.0.3",
    "typing_extensions>=4.6.0; python_version<'3.15'",
]
build-backend = "setuptools.build_meta"

[project]
name = "mypy"
description = "Optional static typing for Python; express types, react to errors"
readme = {text = """
Deprecated options are scheduled for removal in next major release.
Works with Django, Flask and FastAPI code bases alike.
""", content-type = "text/x-rst"}
dependencies = [
  "typing_extensions>=4.6.0; python_version<'3.15'",
  "mypy_extensions>=1.0.0",
  "pathspec>=1.0.0",
]

[project.optional-dependencies]
dmypy = ["psutil>=4.0"]
reports = ["lxml"]

[tool.pytest.ini_options]
minversion = "7.0"
"#,
        )]);
        let analysis = analyse(mypy_like.path(), Vec::new());
        assert!(analysis.frameworks.is_empty(), "{analysis:?}");
        assert!(
            analysis.databases.is_empty() && analysis.auth.is_empty(),
            "{analysis:?}"
        );
        assert_eq!(analysis.test_commands, ["python -m pytest"]);

        let poetry = repo(&[(
            "pyproject.toml",
            r#"[tool.poetry]
name = "orders"
description = "Next-generation order service (not a Next.js app)"

[tool.poetry.dependencies]
python = "^3.11"
Django = { version = "^5.0", extras = ["bcrypt"] }
psycopg2-binary = "^2.9"
django-allauth = "^0.61"

[tool.poetry.group.dev.dependencies]
pytest = "^8"
"#,
        )]);
        let analysis = analyse(poetry.path(), Vec::new());
        assert_eq!(analysis.frameworks, ["Django"]);
        assert_eq!(analysis.databases, ["PostgreSQL (psycopg)"]);
        assert_eq!(analysis.auth, ["django-allauth"]);
        assert_eq!(analysis.test_commands, ["python -m pytest"]);

        let setuptools = repo(&[
            (
                "setup.py",
                r#"from setuptools import setup
# Flask support may come in the next release.
setup(
    name="billing",
    install_requires=["SQLAlchemy>=2.0", 'redis>=5; python_version >= "3.8"'],
    extras_require={"jwt": ["PyJWT>=2"], "web": ["fastapi[all]"]},
)
"#,
            ),
            (
                "requirements.txt",
                "# pinned
-r base.txt
--hash=sha256:abc
requests==2.32.3 \
    --hash=sha256:def
pymongo>=4 # for the archive
git+https://github.com/x/flask.git
",
            ),
        ]);
        let analysis = analyse(setuptools.path(), Vec::new());
        assert_eq!(analysis.frameworks, ["FastAPI"], "{analysis:?}");
        assert_eq!(
            analysis.databases,
            ["SQLAlchemy", "MongoDB (pymongo)", "Redis"],
            "{analysis:?}"
        );
        assert_eq!(analysis.auth, ["JWT (PyJWT)"]);
        assert_eq!(analysis.test_commands, ["python -m unittest"]);

        let next_app = repo(&[(
            "package.json",
            r#"{"name":"shop-web","description":"uses express-style routing and django-like views",
                "scripts":{"build":"next build","test":"jest"},
                "dependencies":{"next":"14.2.3","react":"18.3.1","@prisma/client":"5.14.0","next-auth":"4.24.7"},
                "devDependencies":{"jest":"29.7.0"}}"#,
        )]);
        let analysis = analyse(next_app.path(), Vec::new());
        assert_eq!(analysis.frameworks, ["Next.js", "React"]);
        assert_eq!(analysis.databases, ["Prisma"]);
        assert_eq!(analysis.test_commands, ["npm test"]);
        assert_eq!(analysis.build_commands, ["npm run build"]);

        // The package manager the repository uses, not npm (zod declares pnpm).
        let scripts = r#""scripts":{"build":"tsc","test":"vitest run"}"#;
        let declared = format!(r#"{{"packageManager":"pnpm@10.12.1",{scripts}}}"#);
        let plain = format!("{{{scripts}}}");
        for (files, build, test) in [
            (
                vec![("package.json", declared.as_str())],
                "pnpm run build",
                "pnpm test",
            ),
            (
                vec![("package.json", plain.as_str()), ("yarn.lock", "# yarn\n")],
                "yarn run build",
                "yarn test",
            ),
            (
                vec![("package.json", plain.as_str()), ("bun.lock", "{}\n")],
                "bun run build",
                "bun run test",
            ),
            (
                vec![
                    ("package.json", plain.as_str()),
                    ("pnpm-lock.yaml", "lockfileVersion: 9\n"),
                ],
                "pnpm run build",
                "pnpm test",
            ),
        ] {
            let dir = repo(&files);
            let analysis = analyse(dir.path(), Vec::new());
            assert_eq!(analysis.build_commands, [build], "{files:?}");
            assert_eq!(analysis.test_commands, [test], "{files:?}");
        }

        let go = repo(&[(
            "go.mod",
            "module example.com/api

go 1.22

require (
	github.com/labstack/echo/v4 v4.12.0
	gorm.io/gorm v1.25.10 // the ORM; we dropped gin
	github.com/golang-jwt/jwt/v5 v5.2.1
	github.com/redis/go-redis/v9 v9.5.1 // indirect
)

require github.com/jackc/pgx/v5 v5.6.0
",
        )]);
        let analysis = analyse(go.path(), Vec::new());
        assert_eq!(analysis.frameworks, ["Echo"], "{analysis:?}");
        assert_eq!(
            analysis.databases,
            ["GORM", "PostgreSQL (pgx)", "Redis"],
            "{analysis:?}"
        );
        assert_eq!(analysis.auth, ["JWT (golang-jwt)"]);

        let spring = repo(&[(
            "pom.xml",
            r#"<project>
  <description>A port of our Express service; see django docs</description>
  <parent>
    <groupId>org.springframework.boot</groupId>
    <artifactId>spring-boot-starter-parent</artifactId>
    <version>3.3.0</version>
  </parent>
  <dependencies>
    <dependency>
      <groupId>org.springframework.boot</groupId>
      <artifactId>spring-boot-starter-data-jpa</artifactId>
    </dependency>
    <dependency>
      <groupId>org.springframework.boot</groupId>
      <artifactId>spring-boot-starter-security</artifactId>
    </dependency>
  </dependencies>
</project>"#,
        )]);
        let analysis = analyse(spring.path(), Vec::new());
        assert_eq!(analysis.frameworks, ["Spring Boot"]);
        assert_eq!(analysis.databases, ["JPA (Spring Data)"]);
        assert_eq!(analysis.auth, ["Spring Security"]);

        let gradle = repo(&[(
            "build.gradle.kts",
            r#"plugins {
    id("org.springframework.boot") version "3.3.0"
}
// TODO: consider react for the admin UI
dependencies {
    implementation("org.springframework.boot:spring-boot-starter-web")
    runtimeOnly("org.postgresql:postgresql:42.7.3")
}
"#,
        )]);
        let analysis = analyse(gradle.path(), Vec::new());
        assert_eq!(analysis.frameworks, ["Spring Boot"], "{analysis:?}");

        let cargo = repo(&[(
            "Cargo.toml",
            r#"[package]
name = "svc"
description = "like express, for rust"

[dependencies]
web = { package = "actix-web", version = "4" }

[target.'cfg(unix)'.dependencies]
rusqlite = "0.31"
"#,
        )]);
        let analysis = analyse(cargo.path(), Vec::new());
        assert_eq!(analysis.frameworks, ["actix-web"]);
        assert_eq!(analysis.databases, ["SQLite (rusqlite)"]);
    }

    #[test]
    fn an_empty_directory_knows_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(analyse(dir.path(), Vec::new()), Analysis::default());
    }
}
