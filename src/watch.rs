//! Keeping the index fresh without anyone running `sextant index`: the working tree is watched
//! (inotify and its kin, through `notify`), changes are debounced, and a change to a file the
//! walk would index triggers an incremental reindex under the writer lock. Readers keep
//! answering from the last committed generation meanwhile; `sextant serve` picks the new one
//! up at its next call, `sextant index --watch` prints a line per update.
//!
//! What counts as a change honours the walk's rules: the index directory, `.git` (and the
//! other version-control directories) and paths ignored by `.gitignore`, `.ignore` or
//! `.sextantignore` files (each applied from its own directory) and `.git/info/exclude` never
//! trigger a reindex, so a build writing into `target/` costs nothing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use notify::{RecursiveMode, Watcher as _};
use sextant_index::store::StoreError;
use sextant_index::update::IndexSummary;
use sextant_index::vector::{LiveVectors, VECTOR_STEP_STOPPED};
use sextant_index::walk::Coverage;

use crate::commands::index::VectorHooks;

use crate::cli::VectorMode;

use crate::settings::Settings;

/// Quiet time that ends a burst of changes (an editor's save, a checkout).
const SETTLE: Duration = Duration::from_millis(300);
/// Longest a burst is gathered before reindexing anyway (a long checkout).
const LONGEST_BURST: Duration = Duration::from_secs(2);
/// Wait before trying again when another process holds the writer lock.
const LOCKED_RETRY: Duration = Duration::from_millis(500);

// Names whose changes never matter (the walk skips them), and the ignore files the walk
// honours, each from its own directory: the walk's own lists.
use sextant_index::walk::{ALWAYS_SKIPPED_NAMES as SKIPPED_NAMES, RULE_FILES as IGNORE_FILES};

/// Which changed paths matter: the walk's ignore rules, read when watching starts and again
/// when an ignore file changes.
pub struct Relevance {
    root: PathBuf,
    index_dir: PathBuf,
    rules: Vec<(PathBuf, Gitignore)>,
}

impl Relevance {
    /// The rules of the tree at `root` (its ignore files, found by a walk that honours them).
    pub fn read(root: &Path, index_dir: &Path) -> Relevance {
        let mut rules = Vec::new();
        let exclude = root.join(".git/info/exclude");
        if exclude.is_file() {
            let mut builder = GitignoreBuilder::new(root);
            builder.add(&exclude);
            if let Ok(matcher) = builder.build() {
                rules.push((root.to_path_buf(), matcher));
            }
        }
        let walk = ignore::WalkBuilder::new(root)
            .hidden(false)
            .follow_links(false)
            .require_git(false)
            .filter_entry(|entry| {
                !SKIPPED_NAMES.contains(&entry.file_name().to_str().unwrap_or(""))
            })
            .build();
        for entry in walk.flatten() {
            let name = entry.file_name().to_str().unwrap_or("");
            if IGNORE_FILES.contains(&name)
                && let Some(dir) = entry.path().parent()
            {
                let mut builder = GitignoreBuilder::new(dir);
                builder.add(entry.path());
                if let Ok(matcher) = builder.build() {
                    rules.push((dir.to_path_buf(), matcher));
                }
            }
        }
        Relevance {
            root: root.to_path_buf(),
            index_dir: index_dir.to_path_buf(),
            rules,
        }
    }

    /// Whether a change at `path` (absolute) may change the index.
    pub fn matters(&self, path: &Path) -> bool {
        if path.starts_with(&self.index_dir) {
            return false;
        }
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return false;
        };
        if relative
            .components()
            .any(|part| SKIPPED_NAMES.contains(&part.as_os_str().to_str().unwrap_or("")))
        {
            return false;
        }
        let is_dir = path.is_dir();
        !self.rules.iter().any(|(dir, matcher)| {
            path.starts_with(dir)
                && matcher
                    .matched_path_or_any_parents(path, is_dir)
                    .is_ignore()
        })
    }

    /// Whether `path` is an ignore file (the rules must be read again).
    fn is_rule_file(path: &Path) -> bool {
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| IGNORE_FILES.contains(&n) || n == "exclude")
    }
}

/// A watch on a working tree.
pub struct TreeWatch {
    _watcher: notify::RecommendedWatcher,
    events: Receiver<notify::Result<notify::Event>>,
    relevance: Arc<RwLock<Relevance>>,
    /// Set by the watcher's own thread as soon as a relevant change arrives, whatever the
    /// reader is doing: a running vector step reads it to give way to the change.
    stirred: Arc<AtomicBool>,
}

impl TreeWatch {
    /// Starts watching the repository of `settings`.
    pub fn start(settings: &Settings) -> anyhow::Result<TreeWatch> {
        let (sender, events) = channel();
        let relevance = Arc::new(RwLock::new(Relevance::read(
            &settings.root,
            settings.index_dir.path(),
        )));
        let stirred = Arc::new(AtomicBool::new(false));
        let mut watcher = {
            let relevance = Arc::clone(&relevance);
            let stirred = Arc::clone(&stirred);
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = &event
                    && !matches!(event.kind, notify::EventKind::Access(_))
                {
                    let relevance = relevance.read().unwrap_or_else(|e| e.into_inner());
                    if event.paths.iter().any(|path| relevance.matters(path)) {
                        stirred.store(true, Ordering::Release);
                    }
                }
                let _ = sender.send(event);
            })
        }
        .context("starting to watch the working tree")?;
        watcher
            .watch(&settings.root, RecursiveMode::Recursive)
            .with_context(|| format!("watching {}", settings.root.display()))?;
        Ok(TreeWatch {
            _watcher: watcher,
            events,
            relevance,
            stirred,
        })
    }

    /// A flag that is set when a relevant change arrives after [`TreeWatch::calm`].
    pub fn stirred(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stirred)
    }

    /// Clears [`TreeWatch::stirred`]: changes from now on set it.
    pub fn calm(&self) {
        self.stirred.store(false, Ordering::Release);
    }

    /// Blocks until a burst of relevant changes has settled; returns it (`None` when the
    /// watch ended).
    pub fn next_burst(&mut self, settings: &Settings) -> Option<Burst> {
        loop {
            let first = self.events.recv().ok()?;
            let mut changed = std::collections::BTreeSet::new();
            let mut seen = Seen::default();
            if !self.absorb(first, settings, &mut changed, &mut seen) {
                continue;
            }
            let started = Instant::now();
            // Only relevant events keep the burst open: files read (the server answering
            // queries opens the tree's files) or the index's own writes must not hold a
            // change back until the longest burst.
            let mut last_relevant = Instant::now();
            loop {
                let quiet = SETTLE.saturating_sub(last_relevant.elapsed());
                if quiet.is_zero() || started.elapsed() >= LONGEST_BURST {
                    break;
                }
                match self.events.recv_timeout(quiet) {
                    Ok(event) => {
                        if self.absorb(event, settings, &mut changed, &mut seen) {
                            last_relevant = Instant::now();
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return None,
                }
            }
            if !changed.is_empty() {
                return Some(Burst {
                    changed: changed.len(),
                    only: seen.coverage(&settings.root, settings.index_dir.path()),
                });
            }
        }
    }

    /// Adds the event's relevant paths to `changed` and every path it names to `seen`;
    /// whether it had a relevant one.
    fn absorb(
        &mut self,
        event: notify::Result<notify::Event>,
        settings: &Settings,
        changed: &mut std::collections::BTreeSet<PathBuf>,
        seen: &mut Seen,
    ) -> bool {
        let Ok(event) = event else {
            // The watch lost track (an error from the watcher): only a walk of the tree
            // knows what changed.
            seen.lost = true;
            return false;
        };
        if event.need_rescan() {
            // Events were dropped (the kernel's queue overflowed): the same.
            seen.lost = true;
        }
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return false;
        }
        // Every path an event names, relevant or not, is walked again: the walk's rules, not
        // `Relevance`'s reading of them, decide what is indexed.
        seen.note(&event.paths);
        let mut relevant = false;
        for path in event.paths {
            if Relevance::is_rule_file(&path) {
                *self.relevance.write().unwrap_or_else(|e| e.into_inner()) =
                    Relevance::read(&settings.root, settings.index_dir.path());
            }
            // `.git/info/exclude` changes what the walk indexes anywhere, though nothing under
            // `.git` is indexed itself.
            let matters = is_git_exclude(&path, &settings.root)
                || self
                    .relevance
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .matters(&path);
            if matters {
                changed.insert(path);
                relevant = true;
            }
        }
        relevant
    }
}

/// Whether `path` is the repository's `.git/info/exclude`.
fn is_git_exclude(path: &Path, root: &Path) -> bool {
    path.strip_prefix(root)
        .is_ok_and(|inside| inside == Path::new(".git/info/exclude"))
}

/// A settled burst of changes.
#[derive(Debug)]
pub struct Burst {
    /// How many relevant paths changed.
    pub changed: usize,
    /// What the reindex must walk: the paths the burst's events named; `None` (the whole
    /// tree) when the watch may have missed events or they named too many paths.
    pub only: Option<Arc<Coverage>>,
}

/// Most paths one burst walks one by one; past it the whole tree is walked (a checkout of
/// thousands of files is walked faster in one pass).
const MAX_PATHS_OF_A_BURST: usize = 10_000;

/// The paths a burst's events named, and whether events may have been missed.
#[derive(Default)]
struct Seen {
    paths: std::collections::BTreeSet<PathBuf>,
    lost: bool,
}

impl Seen {
    fn note(&mut self, paths: &[PathBuf]) {
        if self.paths.len() <= MAX_PATHS_OF_A_BURST {
            self.paths.extend(paths.iter().cloned());
        }
    }

    /// The paths as a walk's coverage of the tree at `root` (paths outside it, the index's
    /// own in `index_dir` and version-control internals left out); `None` for the whole tree,
    /// which a change of `.git/info/exclude` (rules for every path) also asks for.
    fn coverage(&self, root: &Path, index_dir: &Path) -> Option<Arc<Coverage>> {
        if self.lost || self.paths.len() > MAX_PATHS_OF_A_BURST {
            return None;
        }
        let mut relative = Vec::with_capacity(self.paths.len());
        for path in &self.paths {
            if path.starts_with(index_dir) {
                continue;
            }
            let Ok(inside) = path.strip_prefix(root) else {
                continue;
            };
            let parts: Vec<&str> = inside
                .components()
                .map(|c| c.as_os_str().to_str())
                .collect::<Option<Vec<&str>>>()?;
            if parts.ends_with(&[".git", "info", "exclude"]) {
                return None;
            }
            if parts.iter().any(|part| SKIPPED_NAMES.contains(part)) {
                continue;
            }
            relative.push(parts.join("/"));
        }
        Coverage::of(relative.iter().map(String::as_str)).map(Arc::new)
    }
}

/// What the watch remembers between vector steps.
#[derive(Default)]
pub struct VectorPacing {
    /// Vector steps given up in a row for a newer change.
    given_up: usize,
    /// Why the last vector step built nothing, as last said.
    last_note: Option<String>,
    /// The newest vectors, held in memory between steps (and shared with a server's readers).
    live: LiveVectors,
}

impl VectorPacing {
    /// Pacing whose vector steps patch, and leave their result in, `live`.
    pub fn sharing(live: LiveVectors) -> VectorPacing {
        VectorPacing {
            live,
            ..VectorPacing::default()
        }
    }

    /// The warning to log for `why`, unless it is the one said last (no model installed is
    /// said once, not after every change).
    fn note_once(&mut self, why: String) -> Option<String> {
        if self.last_note.as_ref() == Some(&why) {
            return None;
        }
        let line = format!("warning: no vectors: {why}");
        self.last_note = Some(why);
        Some(line)
    }
}

/// Vector steps given up in a row for a newer change, after which one runs to its end
/// (a tree that never stops changing still gets its vectors).
const MAX_VECTOR_STEPS_GIVEN_UP: usize = 3;

/// Reindexes after a burst, waiting while another process holds the writer lock. Vectors as
/// `mode` says, with what `hooks` lends the vector step.
fn reindex(
    settings: &Settings,
    mode: VectorMode,
    hooks: VectorHooks,
    only: Option<Arc<Coverage>>,
) -> anyhow::Result<IndexSummary> {
    loop {
        match crate::commands::index::update_with_mode(settings, mode, hooks.clone(), only.clone())
        {
            Err(error)
                if error
                    .chain()
                    .any(|e| matches!(e.downcast_ref(), Some(StoreError::Locked(_)))) =>
            {
                std::thread::sleep(LOCKED_RETRY);
            }
            other => return other,
        }
    }
}

/// Reindexes one burst of changes in two steps: the lexical index and the graph first (what
/// makes an edit findable, committed in a fraction of a second), then the vectors of that
/// generation — unless the tree changed again meanwhile, in which case the vector step gives
/// way (at once, or at its next checkpoint) to the newer change, whose run builds them.
/// Returns the first step's summary and a line on the vectors, if there is one to say. Both
/// steps walk only what `only` covers (the burst's paths), when it is set.
pub fn reindex_burst(
    settings: &Settings,
    mode: VectorMode,
    watch: &TreeWatch,
    pacing: &mut VectorPacing,
    only: Option<Arc<Coverage>>,
) -> (anyhow::Result<IndexSummary>, Option<String>) {
    watch.calm();
    let lexical = reindex(
        settings,
        VectorMode::Off,
        VectorHooks::default(),
        only.clone(),
    );
    if lexical.is_err() || mode == VectorMode::Off {
        return (lexical, None);
    }
    // Without a model the second step could build nothing: said once, then skipped.
    if let Err(error) = settings.vector_model() {
        return (lexical, pacing.note_once(format!("{error:#}")));
    }
    let yielding = pacing.given_up < MAX_VECTOR_STEPS_GIVEN_UP;
    if yielding && watch.stirred().load(Ordering::Acquire) {
        pacing.given_up += 1;
        return (lexical, None);
    }
    let started = Instant::now();
    let hooks = VectorHooks {
        stop: yielding.then(|| watch.stirred()),
        live: Some(pacing.live.clone()),
    };
    let line = match reindex(settings, mode, hooks, only) {
        Ok(summary) => match (&summary.vectors, &summary.vectors_missing) {
            (Some(vectors), _) => {
                pacing.given_up = 0;
                (vectors.embedded > 0 || vectors.ann_ms > 0).then(|| {
                    format!(
                        "vectors of generation {} built in {} ms ({} embedded)",
                        summary.generation,
                        started.elapsed().as_millis(),
                        crate::output::counted(vectors.embedded as u64, "unit")
                    )
                })
            }
            (None, Some(why)) if why.contains(VECTOR_STEP_STOPPED) => {
                pacing.given_up += 1;
                None
            }
            (None, Some(why)) => pacing.note_once(why.clone()),
            (None, None) => None,
        },
        Err(error) => Some(format!("warning: the vector step failed: {error:#}")),
    };
    (lexical, line)
}

/// The log line of a committed lexical step: how long it took, by phase.
fn committed_line(summary: &IndexSummary) -> String {
    let t = &summary.timings;
    format!(
        "sextant: changes committed in {} ms (generation {}: walk {}, scan {}, load {}, extract {}, graph {}, commit {} ms)",
        t.total_ms,
        summary.generation,
        t.walk_ms,
        t.scan_ms,
        t.load_ms,
        t.extract_ms,
        t.graph_ms,
        t.commit_ms
    )
}

/// Watches on a thread of its own for as long as the process lives, reindexing once at once
/// and then after each burst (for `sextant serve`); failures are reported on stderr and
/// watching goes on.
pub fn spawn(settings: Settings, live: LiveVectors) -> anyhow::Result<()> {
    let mut watch = TreeWatch::start(&settings)?;
    std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || {
            let mut pacing = VectorPacing::sharing(live);
            // The first pass catches up with what changed while nothing watched (a pull, a
            // branch switch, edits between sessions) and repairs damaged index files; then
            // one pass per burst of changes.
            let mut catching_up = true;
            loop {
                // The first pass walks the whole tree.
                let only = if catching_up {
                    catching_up = false;
                    None
                } else {
                    match watch.next_burst(&settings) {
                        Some(burst) => burst.only,
                        None => break,
                    }
                };
                let mode = settings.vectors.mode.unwrap_or(VectorMode::Auto);
                let (lexical, vectors) = reindex_burst(&settings, mode, &watch, &mut pacing, only);
                match lexical {
                    Ok(summary) if summary.committed => {
                        eprintln!("{}", committed_line(&summary));
                    }
                    Ok(_) => {}
                    Err(error) => eprintln!("warning: reindex after a change failed: {error:#}"),
                }
                if let Some(line) = vectors {
                    eprintln!("sextant: {line}");
                }
            }
        })
        .context("starting the watch thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_and_internal_paths_do_not_matter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("root");
        std::fs::write(root.join(".gitignore"), "target/\n*.log\n").expect("write");
        std::fs::create_dir_all(root.join("web")).expect("mkdir");
        std::fs::write(root.join("web/.gitignore"), "dist/\n").expect("write");
        std::fs::create_dir_all(root.join("web/dist")).expect("mkdir");
        let relevance = Relevance::read(&root, &root.join(".sextant"));
        assert!(relevance.matters(&root.join("src/lib.rs")));
        assert!(relevance.matters(&root.join("web/app.js")));
        for ignored in [
            "target/debug/build.rs",
            "run.log",
            "web/dist/bundle.js",
            ".git/index",
            ".sextant/manifest-2.bin",
        ] {
            assert!(!relevance.matters(&root.join(ignored)), "{ignored}");
        }
        // A rule of web/.gitignore applies under web/ only.
        assert!(relevance.matters(&root.join("dist/keep.js")));
    }

    /// Quiet settings for the tree at `root`.
    fn settings_of(root: &Path) -> Settings {
        let global = crate::cli::GlobalArgs {
            index_dir: None,
            quiet: true,
            threads: None,
        };
        Settings::resolve(Some(root), &global, &crate::settings::Overrides::default())
            .expect("settings")
    }

    /// A change of `.git/info/exclude` (nothing under `.git` is indexed, but its rules apply
    /// to every path) makes a burst, and that burst walks the whole tree.
    #[test]
    fn a_changed_git_exclude_walks_the_whole_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("root");
        std::fs::write(root.join("app.py"), "x = 1\n").expect("write");
        std::fs::create_dir_all(root.join(".git/info")).expect("mkdir");
        let settings = settings_of(&root);
        let mut watch = TreeWatch::start(&settings).expect("watch");
        std::thread::sleep(Duration::from_millis(100));
        std::fs::write(root.join(".git/info/exclude"), "app.py\n").expect("write");
        // (Without a burst the watch waits for ever: the test waits 10 s for one.)
        let (sender, receiver) = channel();
        std::thread::spawn(move || {
            let _ = sender.send(watch.next_burst(&settings));
        });
        let burst = receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("a burst within 10 s")
            .expect("a burst");
        assert!(burst.only.is_none(), "{burst:?}");
    }

    /// A change settles after [`SETTLE`] of quiet in relevant paths, whatever else happens:
    /// a server answering queries keeps opening the tree's files and the index writes its
    /// own; those events used to hold every change back until [`LONGEST_BURST`].
    #[test]
    fn reads_and_the_indexs_own_writes_do_not_hold_a_change_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("root");
        std::fs::write(root.join("app.py"), "x = 1\n").expect("write");
        std::fs::create_dir_all(root.join(".sextant")).expect("mkdir");
        let settings = settings_of(&root);
        let mut watch = TreeWatch::start(&settings).expect("watch");
        let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let noise = {
            let busy = busy.clone();
            let root = root.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while busy.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = std::fs::read(root.join("app.py"));
                    let _ = std::fs::write(root.join(".sextant/noise.bin"), n.to_le_bytes());
                    n += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        std::fs::write(root.join("app.py"), "x = 2\n").expect("write");
        let started = Instant::now();
        let changed = watch.next_burst(&settings);
        let waited = started.elapsed();
        busy.store(false, std::sync::atomic::Ordering::Relaxed);
        noise.join().expect("noise");
        let burst = changed.expect("a burst");
        assert_eq!(burst.changed, 1);
        // The reindex walks the changed file only: neither the files read nor the index's
        // own writes.
        let only = burst.only.expect("a limited walk");
        assert_eq!(only.paths().collect::<Vec<_>>(), ["app.py"]);
        assert!(
            waited < LONGEST_BURST / 2,
            "the change waited {waited:?} behind reads and the index's writes"
        );
    }
}
