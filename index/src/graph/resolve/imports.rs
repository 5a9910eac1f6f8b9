//! Import resolution: which repository files an import names, per language (Rust modules and
//! workspace crates, Python modules, relative script imports, Go packages, Java classes and
//! packages, C/C++ includes), and the path helpers it rests on.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use crate::graph::LinkFacts;
use crate::lang::Language;

/// The module name a file stands for: its stem, or its directory's name for `mod.rs`.
pub(super) fn module_stem(path: &str) -> &str {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let stem = file.split('.').next().unwrap_or(file);
    if stem == "mod" {
        dir.rsplit('/').next().unwrap_or(stem)
    } else {
        stem
    }
}

/// Number of leading path components two paths share.
pub(super) fn shared_prefix(a: &str, b: &str) -> usize {
    a.split('/')
        .zip(b.split('/'))
        .take_while(|(x, y)| x == y)
        .count()
}

/// The last component of a path: its file or directory name.
fn last_component(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The candidates (paths) that are `suffix` or end with `/suffix`.
fn ends_with_path<'a>(candidates: Option<&Vec<&'a str>>, suffix: &str) -> Vec<&'a str> {
    let slashed = format!("/{suffix}");
    candidates
        .map(|list| {
            list.iter()
                .filter(|p| **p == suffix || p.ends_with(&slashed))
                .copied()
                .collect()
        })
        .unwrap_or_default()
}

/// The directory of a path (`""` at the root).
fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// `dir/rest`, or `rest` alone when `dir` is the root.
fn join(dir: &str, rest: &str) -> String {
    if dir.is_empty() {
        rest.to_string()
    } else {
        format!("{dir}/{rest}")
    }
}

/// Resolves `.` and `..` components; `None` if the path climbs above the root.
fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// What import resolution needs of one indexed file.
#[derive(Clone, Copy, Debug)]
pub struct PathEntry<'a> {
    /// The path.
    pub path: &'a str,
    /// Its language.
    pub language: Option<Language>,
    /// The package it declares, if it is a manifest the linker reads.
    pub package: Option<&'a str>,
}

/// Lookups over the set of indexed paths that import resolution needs. Each table is built
/// the first time an import asks for it: a relink of one Rust file at 26M lines needs the
/// path list and the crate table, not the Python module names of 80k files (building every
/// table was ~58 ms of a ~1 s one-file change).
pub(super) struct PathIndex<'a> {
    /// Every entry, sorted by path, each path once (what `existing` searches).
    entries: Vec<PathEntry<'a>>,
    /// Rust package name (with `-` as `_`, as code writes it) → its `src` directory.
    rust_crates: OnceLock<HashMap<String, String>>,
    by_dir: OnceLock<BTreeMap<&'a str, Vec<&'a str>>>,
    /// File name → paths with that name, and directory name → directories with that name, in
    /// path order: suffix lookups (`com/acme/X.java`, `include/x.h`) then look only at files
    /// that can match instead of scanning every path for every import.
    by_file_name: OnceLock<HashMap<&'a str, Vec<&'a str>>>,
    dirs_by_name: OnceLock<HashMap<&'a str, Vec<&'a str>>>,
    python_modules: OnceLock<HashMap<String, Vec<&'a str>>>,
    /// Script workspace package name (a `package.json`'s `name`) → its directory.
    script_packages: OnceLock<HashMap<&'a str, &'a str>>,
}

const SCRIPT_EXTENSIONS: [&str; 8] = [
    ".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts",
];
const C_SOURCE_EXTENSIONS: [&str; 4] = ["c", "cc", "cpp", "cxx"];

impl<'a> PathIndex<'a> {
    /// Indexes the paths of `files`.
    pub(super) fn new(files: &'a BTreeMap<String, LinkFacts>) -> PathIndex<'a> {
        PathIndex::of(files.iter().map(|(path, facts)| PathEntry {
            path: path.as_str(),
            language: facts.language,
            package: facts.package.as_deref(),
        }))
    }

    /// Indexes `entries`: what import resolution needs of every indexed file, which a
    /// manifest holds without any file's facts. (Entries usually come sorted, from a map.)
    pub(super) fn of(entries: impl Iterator<Item = PathEntry<'a>>) -> PathIndex<'a> {
        let mut entries: Vec<PathEntry<'a>> = entries.collect();
        if !entries.is_sorted_by(|a, b| a.path < b.path) {
            entries.sort_by(|a, b| a.path.cmp(b.path));
            entries.dedup_by(|a, b| a.path == b.path);
        }
        PathIndex {
            entries,
            rust_crates: OnceLock::new(),
            by_dir: OnceLock::new(),
            by_file_name: OnceLock::new(),
            dirs_by_name: OnceLock::new(),
            python_modules: OnceLock::new(),
            script_packages: OnceLock::new(),
        }
    }

    /// Every indexed path, in order.
    fn paths(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.entries.iter().map(|entry| entry.path)
    }

    fn entry(&self, path: &str) -> Option<&PathEntry<'a>> {
        self.entries
            .binary_search_by(|entry| entry.path.cmp(path))
            .ok()
            .map(|at| &self.entries[at])
    }

    /// Whether `path` is indexed.
    pub(super) fn contains(&self, path: &str) -> bool {
        self.entry(path).is_some()
    }

    fn existing(&self, candidate: &str) -> Option<&'a str> {
        self.entry(candidate).map(|entry| entry.path)
    }

    fn rust_crates(&self) -> &HashMap<String, String> {
        self.rust_crates.get_or_init(|| {
            self.entries
                .iter()
                .filter(|e| last_component(e.path) == "Cargo.toml")
                .filter_map(|e| {
                    let source = join(parent_dir(e.path), "src");
                    let has_lib = self.existing(&join(&source, "lib.rs")).is_some();
                    Some((e.package?.replace('-', "_"), source)).filter(|_| has_lib)
                })
                .collect()
        })
    }

    fn by_dir(&self) -> &BTreeMap<&'a str, Vec<&'a str>> {
        self.by_dir.get_or_init(|| {
            let mut by_dir: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for path in self.paths() {
                by_dir.entry(parent_dir(path)).or_default().push(path);
            }
            by_dir
        })
    }

    /// The indexed files in the directory of `path` (`path` itself among them if indexed).
    pub(super) fn files_in_dir_of(&self, path: &str) -> &[&'a str] {
        self.by_dir()
            .get(parent_dir(path))
            .map_or(&[], Vec::as_slice)
    }

    fn by_file_name(&self) -> &HashMap<&'a str, Vec<&'a str>> {
        self.by_file_name.get_or_init(|| {
            let mut by_file_name: HashMap<&str, Vec<&str>> = HashMap::new();
            for path in self.paths() {
                by_file_name
                    .entry(last_component(path))
                    .or_default()
                    .push(path);
            }
            by_file_name
        })
    }

    fn dirs_by_name(&self) -> &HashMap<&'a str, Vec<&'a str>> {
        self.dirs_by_name.get_or_init(|| {
            let mut dirs_by_name: HashMap<&str, Vec<&str>> = HashMap::new();
            for dir in self.by_dir().keys() {
                dirs_by_name
                    .entry(last_component(dir))
                    .or_default()
                    .push(dir);
            }
            dirs_by_name
        })
    }

    fn python_modules(&self) -> &HashMap<String, Vec<&'a str>> {
        self.python_modules.get_or_init(|| {
            let mut python_modules: HashMap<String, Vec<&str>> = HashMap::new();
            for path in self.paths() {
                let Some(module) = path
                    .strip_suffix(".py")
                    .or_else(|| path.strip_suffix(".pyi"))
                else {
                    continue;
                };
                let module = module.strip_suffix("/__init__").unwrap_or(module);
                let parts: Vec<&str> = module.split('/').collect();
                // Every suffix is a possible import name, since source roots (`src/`, `lib/`)
                // are not known: `src/pkg/mod.py` answers to `pkg.mod` and `src.pkg.mod`.
                for start in 0..parts.len() {
                    python_modules
                        .entry(parts[start..].join("."))
                        .or_default()
                        .push(path);
                }
            }
            python_modules
        })
    }

    fn script_packages(&self) -> &HashMap<&'a str, &'a str> {
        self.script_packages.get_or_init(|| {
            self.entries
                .iter()
                .filter(|e| last_component(e.path) == "package.json")
                .filter_map(|e| Some((e.package?, parent_dir(e.path))))
                .collect()
        })
    }

    /// Files an import names, or `None` for an import of something outside the repository.
    pub(super) fn resolve_import(
        &self,
        path: &str,
        language: Option<Language>,
        import: &str,
    ) -> Option<Vec<&'a str>> {
        let found = match language? {
            Language::Rust => self.rust(path, import),
            Language::Python => self.python(path, import),
            Language::JavaScript | Language::TypeScript | Language::Tsx => {
                self.script(path, import)
            }
            Language::Go => self.go(import),
            Language::Java => self.java(import),
            Language::C | Language::Cpp => self.include(path, import),
            Language::Text => Vec::new(),
        };
        (!found.is_empty()).then_some(found)
    }

    /// The directory holding a Rust file's submodules: its own directory for `lib.rs`,
    /// `main.rs` and `mod.rs`, else `dir/stem`.
    fn rust_module_dir(path: &str) -> String {
        let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
        match file {
            "lib.rs" | "main.rs" | "mod.rs" => dir.to_string(),
            other => join(dir, other.trim_end_matches(".rs")),
        }
    }

    fn rust_module_file(&self, dir: &str) -> Option<&'a str> {
        self.existing(&format!("{dir}.rs"))
            .or_else(|| self.existing(&join(dir, "mod.rs")))
    }

    fn rust(&self, path: &str, import: &str) -> Vec<&'a str> {
        let module_dir = Self::rust_module_dir(path);
        // `mod foo;`: a bare identifier.
        if !import.contains("::")
            && !import.contains('{')
            && let Some(file) = self.rust_module_file(&join(&module_dir, import))
        {
            return vec![file];
        }
        let head = import
            .split("::{")
            .next()
            .unwrap_or(import)
            .trim_start_matches("::");
        let segments: Vec<&str> = head
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let Some((first, rest)) = segments.split_first() else {
            return Vec::new();
        };
        let base = match *first {
            "crate" => self.crate_root(path),
            "self" => Some(module_dir.clone()),
            "super" => {
                let mut dir = parent_dir(&module_dir).to_string();
                let mut rest_iter = rest.iter();
                let mut skipped = 0;
                while rest_iter.next() == Some(&"super") {
                    dir = parent_dir(&dir).to_string();
                    skipped += 1;
                }
                return self.rust_longest(&dir, &rest[skipped..]);
            }
            _ => None,
        };
        if base.is_none()
            && let Some(source) = self.rust_crates().get(*first)
        {
            // `use other_crate::a::b` in a workspace: the crate's own sources.
            let found = self.rust_longest(source, rest);
            return if found.is_empty() {
                self.existing(&join(source, "lib.rs")).into_iter().collect()
            } else {
                found
            };
        }
        match base {
            Some(base) => self.rust_longest(&base, rest),
            // `use foo::bar` relative to the current module (a sibling `mod foo`).
            None => self.rust_longest(&module_dir, &segments),
        }
    }

    fn rust_longest(&self, base: &str, segments: &[&str]) -> Vec<&'a str> {
        for length in (1..=segments.len()).rev() {
            if let Some(file) = self.rust_module_file(&join(base, &segments[..length].join("/"))) {
                return vec![file];
            }
        }
        Vec::new()
    }

    /// The directory of the crate root (`lib.rs` or `main.rs`) above a file.
    fn crate_root(&self, path: &str) -> Option<String> {
        let mut dir = parent_dir(path);
        loop {
            if self.existing(&join(dir, "lib.rs")).is_some()
                || self.existing(&join(dir, "main.rs")).is_some()
            {
                return Some(dir.to_string());
            }
            if dir.is_empty() {
                return None;
            }
            dir = parent_dir(dir);
        }
    }

    fn python(&self, path: &str, import: &str) -> Vec<&'a str> {
        let dots = import.len() - import.trim_start_matches('.').len();
        let name = &import[dots..];
        if dots > 0 {
            let mut dir = parent_dir(path).to_string();
            for _ in 1..dots {
                dir = parent_dir(&dir).to_string();
            }
            let relative = if name.is_empty() {
                dir.clone()
            } else {
                join(&dir, &name.replace('.', "/"))
            };
            let found = self
                .existing(&format!("{relative}.py"))
                .or_else(|| self.existing(&join(&relative, "__init__.py")));
            return found.into_iter().collect();
        }
        let parts: Vec<&str> = name.split('.').collect();
        if super::builtins::is_standard_module(Some(Language::Python), parts[0]) {
            // The standard library, unless the repository's root shadows the module.
            let module = parts.join("/");
            return self
                .existing(&format!("{module}.py"))
                .or_else(|| self.existing(&join(&module, "__init__.py")))
                .into_iter()
                .collect();
        }
        for length in (1..=parts.len()).rev() {
            if let Some(candidates) = self.python_modules().get(&parts[..length].join(".")) {
                // The shortest path is the most likely top-level package.
                let best = candidates.iter().min_by_key(|p| (p.len(), **p)).copied();
                return best.into_iter().collect();
            }
        }
        Vec::new()
    }

    fn script(&self, path: &str, import: &str) -> Vec<&'a str> {
        if !import.starts_with('.') {
            return self.script_package(import);
        }
        let Some(base) = normalise(&join(parent_dir(path), import)) else {
            return Vec::new();
        };
        self.script_module(&base)
    }

    /// A bare specifier naming a workspace package (`@vue/shared`, `@vue/shared/sub`): the
    /// package's sources (`src/index.ts` before a built entry point), or nothing for a package
    /// from outside the repository.
    fn script_package(&self, import: &str) -> Vec<&'a str> {
        let segments: Vec<&str> = import.split('/').collect();
        let name_length = if import.starts_with('@') { 2 } else { 1 };
        if segments.len() < name_length {
            return Vec::new();
        }
        let name = segments[..name_length].join("/");
        let Some(&dir) = self.script_packages().get(name.as_str()) else {
            return Vec::new();
        };
        let rest = segments[name_length..].join("/");
        let bases = if rest.is_empty() {
            vec![join(dir, "src/index"), join(dir, "index")]
        } else {
            vec![join(&join(dir, "src"), &rest), join(dir, &rest)]
        };
        bases
            .iter()
            .map(|base| self.script_module(base))
            .find(|found| !found.is_empty())
            .unwrap_or_default()
    }

    /// The file a module path without extension (or with one) names: itself, with a script
    /// extension, or its directory's `index` file.
    fn script_module(&self, base: &str) -> Vec<&'a str> {
        let base = base.to_string();
        let stripped = SCRIPT_EXTENSIONS
            .iter()
            .find_map(|e| base.strip_suffix(e))
            .unwrap_or(&base);
        let mut candidates = vec![base.clone()];
        candidates.extend(SCRIPT_EXTENSIONS.iter().map(|e| format!("{stripped}{e}")));
        candidates.extend(SCRIPT_EXTENSIONS.iter().map(|e| format!("{base}/index{e}")));
        candidates
            .iter()
            .find_map(|c| self.existing(c))
            .into_iter()
            .collect()
    }

    /// A Go import path names a package directory; the module prefix is not known without
    /// go.mod, so the longest suffix of the import path that is a directory of Go files wins.
    fn go(&self, import: &str) -> Vec<&'a str> {
        let parts: Vec<&str> = import.split('/').collect();
        for start in 0..parts.len() {
            let dir = parts[start..].join("/");
            if let Some(files) = self.by_dir().get(dir.as_str()) {
                let go: Vec<&str> = files
                    .iter()
                    .filter(|f| f.ends_with(".go") && !f.ends_with("_test.go"))
                    .copied()
                    .collect();
                if !go.is_empty() {
                    return go;
                }
            }
        }
        Vec::new()
    }

    fn java(&self, import: &str) -> Vec<&'a str> {
        let import = import.trim_end_matches(".*");
        let parts: Vec<&str> = import.split('.').collect();
        for length in (1..=parts.len()).rev() {
            let suffix = parts[..length].join("/");
            let file = format!("{suffix}.java");
            let found = self.files_ending_with(&file);
            if !found.is_empty() {
                return found;
            }
            if length == parts.len() {
                // A package import (`com.acme.*`): every class in that directory.
                let package: Vec<&str> =
                    ends_with_path(self.dirs_by_name().get(last_component(&suffix)), &suffix)
                        .into_iter()
                        .flat_map(|dir| {
                            self.by_dir()[dir]
                                .iter()
                                .filter(|f| f.ends_with(".java"))
                                .copied()
                        })
                        .collect();
                if !package.is_empty() {
                    return package;
                }
            }
        }
        Vec::new()
    }

    fn include(&self, path: &str, import: &str) -> Vec<&'a str> {
        if let Some(local) =
            normalise(&join(parent_dir(path), import)).and_then(|p| self.existing(&p))
        {
            return vec![local];
        }
        let mut found = self.files_ending_with(import);
        found.sort_by(|a, b| {
            shared_prefix(path, b)
                .cmp(&shared_prefix(path, a))
                .then(a.cmp(b))
        });
        found.into_iter().take(1).collect()
    }

    /// Indexed files whose path is `suffix` or ends with `/suffix`, in path order.
    fn files_ending_with(&self, suffix: &str) -> Vec<&'a str> {
        ends_with_path(self.by_file_name().get(last_component(suffix)), suffix)
    }

    /// Files in a file's scope without an import: Go and Java package peers (same directory,
    /// same language), and the source files paired with included C/C++ headers.
    pub(super) fn peers(
        &self,
        path: &str,
        language: Option<Language>,
        imported: &BTreeMap<&str, u32>,
    ) -> Vec<&'a str> {
        match language {
            Some(Language::Go | Language::Java) => self
                .files_in_dir_of(path)
                .iter()
                .filter(|f| self.entry(f).map(|e| e.language) == Some(language))
                .copied()
                .collect(),
            Some(Language::C | Language::Cpp) => imported
                .keys()
                .filter_map(|header| header.rsplit_once('.').map(|(stem, _)| stem))
                .flat_map(|stem| {
                    C_SOURCE_EXTENSIONS
                        .iter()
                        .filter_map(move |e| self.existing(&format!("{stem}.{e}")))
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_resolves_dots() {
        assert_eq!(normalise("a/./b/../c").as_deref(), Some("a/c"));
        assert_eq!(normalise("../x"), None);
    }

    #[test]
    fn rust_module_dirs() {
        assert_eq!(PathIndex::rust_module_dir("src/lib.rs"), "src");
        assert_eq!(PathIndex::rust_module_dir("src/auth.rs"), "src/auth");
        assert_eq!(PathIndex::rust_module_dir("src/auth/mod.rs"), "src/auth");
    }
}
