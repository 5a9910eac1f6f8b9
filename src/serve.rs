//! `sextant serve`: retrieval for coding agents over the Model Context Protocol (stdio), from a
//! warm process. The index's sources are opened once through the one retrieval path and kept
//! loaded; a new generation (from `reindex`, `sextant index` or CI) is picked up at the next
//! call by watching the lexical commit's `meta.json`, which tantivy replaces atomically.
//!
//! Tools (input schemas come from the parameter types): `why_relevant`, `search`, `graph`,
//! `index_status`, `reindex`. Each answers with the same JSON as the CLI's `--json` for the
//! same question (`why_relevant` with `context: true`: the packed context). A bad argument or
//! a missing index is a tool error with what to do, never a crash of the server; the server
//! writes nothing but protocol messages to stdout (notes go to stderr).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use sextant_index::vector::LiveVectors;

use crate::bounds;
use crate::cli::{GlobalArgs, GraphQuery, ServeArgs};
use crate::output::json_text;
use crate::retrieval::{HistoryFrom, Retrieval, VectorsFrom};
use crate::settings::{Overrides, SecretGuard, Settings};

/// `why_relevant`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WhyRelevantParams {
    /// The task, in words: "add rate limiting to the login endpoint".
    pub task: String,
    /// Token budget of the packed context (default: `[rank] budget`, else 32000).
    pub budget: Option<usize>,
    /// Most files in the packed context (default: `[rank] max_files`, else 15).
    pub max_files: Option<usize>,
    /// Tokenizer counting the budget: cl100k_base, o200k_base, or a tokenizer.json path.
    pub tokenizer: Option<String>,
    /// Return the packed context itself (ready for a model) instead of the JSON report.
    #[serde(default)]
    pub context: bool,
}

/// `search`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchParams {
    /// Words, identifiers in any spelling, paths (lexical) or a description (semantic).
    pub query: String,
    /// Nearest units by meaning (the vector index) instead of BM25.
    #[serde(default)]
    pub semantic: bool,
    /// Most hits (default 10).
    pub limit: Option<usize>,
}

/// What to ask the knowledge graph.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GraphAsk {
    /// Who calls a symbol (`target`: a name or id).
    Callers,
    /// What a symbol calls (`target`).
    Callees,
    /// Files a file depends on (`target`: a path).
    Deps,
    /// Files that depend on a file (`target`).
    Rdeps,
    /// The shortest chain of edges from `target` to `to`.
    Path,
    /// Node and edge counts.
    Stats,
}

/// `graph`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GraphParams {
    /// What to ask.
    pub ask: GraphAsk,
    /// The symbol (name or id) or file the question is about; the path's start.
    pub target: Option<String>,
    /// The path's end (for `path`).
    pub to: Option<String>,
}

/// The loaded sources and what they were loaded from.
struct Warm {
    retrieval: Option<Retrieval>,
    /// The stamp of the lexical commit they belong to.
    stamp: Option<CommitStamp>,
}

/// Length, modification time and inode of `lexical/meta.json`: tantivy writes it anew at
/// every commit, so a changed stamp means a new generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CommitStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

fn commit_stamp(settings: &Settings) -> Option<CommitStamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(settings.index_dir.lexical_meta_path()).ok()?;
    Some(CommitStamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode: meta.ino(),
    })
}

/// What every call shares: the settings and the warm sources.
struct Shared {
    settings: Settings,
    /// The secret rules, built once (with `[secrets]` patterns, building costs ~10 ms).
    secrets: SecretGuard,
    warm: Mutex<Warm>,
    /// Set while newer vectors are being loaded on a thread of their own: queries go on with
    /// the loaded ones meanwhile (an HNSW graph of a large repository takes most of a second
    /// to load; no query waits for it).
    loading_vectors: AtomicBool,
    /// The vectors generation whose load failed last, and when: not tried again at every
    /// query.
    vectors_failed: Mutex<Option<VectorFailure>>,
    /// The newest vectors in memory, shared with the watch's vector step: it patches the graph
    /// held here and leaves its result here, so a change's vectors are taken, not loaded.
    live: LiveVectors,
}

impl Shared {
    /// Runs `work` on the sources of the current generation, reopening them first when a
    /// writer committed since they were loaded. Newer vectors are loaded off the query path
    /// ([`Shared::load_vectors_behind`]).
    fn with_retrieval<T>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Retrieval, &Settings) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut warm = self.warm.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = commit_stamp(&self.settings);
        if warm.retrieval.is_none() || warm.stamp != stamp {
            // A new generation: its lexical index, graph and history are opened; the loaded
            // model and vectors are kept (still the newest, or the best there is until the
            // newer ones are loaded).
            let opening = std::time::Instant::now();
            let previous = warm.retrieval.take();
            let reopening = previous.is_some();
            let retrieval = match previous.and_then(Retrieval::into_semantic) {
                Some(semantic) => Retrieval::open(
                    &self.settings.index_dir,
                    &self.settings.root,
                    VectorsFrom::Kept(semantic),
                    HistoryFrom::Stored,
                ),
                // None were loaded before either: loading the model and the vectors (a second
                // or more) is the loader's job, off the query path.
                None if reopening => {
                    Retrieval::deferring_vectors(&self.settings, self.why_no_vectors())
                }
                None => Retrieval::for_settings(&self.settings, true),
            }
            .map_err(|error| {
                error.context("no usable index: run `sextant index` (or the `reindex` tool) first")
            })?;
            for note in retrieval.notes() {
                eprintln!("warning: {note}");
            }
            eprintln!(
                "sextant serve: generation {} opened in {} ms",
                retrieval.generation(),
                opening.elapsed().as_millis()
            );
            if let Some(vectors) = retrieval.vector_snapshot() {
                self.live.offer(vectors);
            }
            warm.retrieval = Some(retrieval);
            warm.stamp = stamp;
        }
        let Some(retrieval) = warm.retrieval.as_mut() else {
            anyhow::bail!("no usable index: run `sextant index` first");
        };
        if let Some((newer, with_model)) = retrieval.vectors_to_load(&self.settings.index_dir) {
            self.load_vectors_behind(newer, with_model);
        }
        work(retrieval, &self.settings)
    }

    /// What a generation opened without vectors says of them.
    fn why_no_vectors(&self) -> String {
        match &*self
            .vectors_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
        {
            Some(failed) => format!(
                "the vectors of generation {} were not loaded: {}",
                failed.generation, failed.why
            ),
            None => "the vectors are being loaded in the background".to_string(),
        }
    }

    /// Loads vectors of generation `newer` on a thread of their own and swaps them into the
    /// warm sources when loaded — with the model too when none is loaded (a server started
    /// before the vectors were built or the model installed). One load at a time; a load
    /// that fails (or panics in the HNSW reader) is reported and not tried again for
    /// [`VECTOR_RETRY`].
    fn load_vectors_behind(self: &Arc<Self>, newer: u64, with_model: bool) {
        {
            let failed = self
                .vectors_failed
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if failed.as_ref().is_some_and(|failed| {
                failed.generation == newer && failed.at.elapsed() < VECTOR_RETRY
            }) {
                return;
            }
        }
        if self.loading_vectors.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("vectors".into())
            .spawn(move || {
                let _done = ClearOnDrop(&shared.loading_vectors);
                let loading = std::time::Instant::now();
                let dir = &shared.settings.index_dir;
                let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    if with_model {
                        let model = shared.settings.vector_model()?;
                        Ok(Loaded::Whole(Box::new(
                            crate::rank::semantic::Semantic::open(
                                dir,
                                newer,
                                &model,
                                crate::retrieval::QUERY_EMBEDDING_THREADS,
                            )?
                            .ok_or_else(|| {
                                anyhow::anyhow!("they were removed before they were read")
                            })?,
                        )))
                    } else if let Some(held) = shared.live.of_generation(newer) {
                        // Built by this process's watch: taken as they are, not read again.
                        Ok(Loaded::Vectors(Box::new(held), "taken from the watch"))
                    } else {
                        Ok(Loaded::Vectors(
                            Box::new(
                                sextant_index::vector::VectorSnapshot::open(dir, newer)?
                                    .ok_or_else(|| {
                                        anyhow::anyhow!("they were removed before they were read")
                                    })?,
                            ),
                            "loaded",
                        ))
                    }
                }))
                .unwrap_or_else(|_| Err(anyhow::anyhow!("reading them panicked")));
                let outcome = loaded.and_then(|loaded| {
                    let mut warm = shared.warm.lock().unwrap_or_else(|e| e.into_inner());
                    let retrieval = warm
                        .retrieval
                        .as_mut()
                        .ok_or_else(|| anyhow::anyhow!("the index was closed"))?;
                    let how = match loaded {
                        Loaded::Whole(semantic) => {
                            retrieval.install_semantic(*semantic)?;
                            "loaded with the model"
                        }
                        Loaded::Vectors(snapshot, how) => {
                            retrieval.adopt_vectors(*snapshot)?;
                            how
                        }
                    };
                    if let Some(vectors) = retrieval.vector_snapshot() {
                        shared.live.offer(vectors);
                    }
                    Ok(how)
                });
                match outcome {
                    Ok(how) => {
                        *shared
                            .vectors_failed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner()) = None;
                        eprintln!(
                            "sextant serve: vectors of generation {newer} {how} in {} ms",
                            loading.elapsed().as_millis()
                        );
                    }
                    Err(why) => {
                        eprintln!(
                            "warning: the vectors of generation {newer} were not loaded: {why:#}"
                        );
                        *shared
                            .vectors_failed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner()) = Some(VectorFailure {
                            generation: newer,
                            at: std::time::Instant::now(),
                            why: format!("{why:#}"),
                        });
                    }
                }
            });
        if let Err(error) = spawned {
            eprintln!("warning: cannot start loading newer vectors: {error}");
            self.loading_vectors.store(false, Ordering::Release);
        }
    }
}

/// The vector load that failed last.
struct VectorFailure {
    generation: u64,
    at: std::time::Instant,
    why: String,
}

/// How long a failed vector load waits before it is tried again.
const VECTOR_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

/// What the vector loader read.
enum Loaded {
    /// Vectors and the model (none was loaded).
    Whole(Box<crate::rank::semantic::Semantic>),
    /// Vectors for the loaded model, and how they were had.
    Vectors(Box<sextant_index::vector::VectorSnapshot>, &'static str),
}

/// Clears a flag when dropped, however the thread holding it ends.
struct ClearOnDrop<'a>(&'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The MCP server.
#[derive(Clone)]
pub struct SextantServer {
    shared: Arc<Shared>,
    tool_router: ToolRouter<Self>,
}

/// A tool's failure (no index, an unknown symbol, a damaged file), with its causes and what
/// to do, as a tool result the model reads: MCP keeps protocol errors for bad requests.
fn failure(error: anyhow::Error) -> CallToolResult {
    let mut message = format!("{error}");
    for cause in error.chain().skip(1) {
        message.push_str(&format!(": {cause}"));
    }
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn invalid(error: bounds::UsageError) -> ErrorData {
    ErrorData::invalid_params(error.0, None)
}

/// Runs blocking work off the protocol's threads; its failure is the tool's error result.
async fn blocking(
    work: impl FnOnce() -> anyhow::Result<CallToolResult> + Send + 'static,
) -> Result<CallToolResult, ErrorData> {
    let outcome = tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ErrorData::internal_error(format!("the work crashed: {error}"), None))?;
    Ok(outcome.unwrap_or_else(failure))
}

fn text(body: String) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(body)])
}

#[tool_router]
impl SextantServer {
    /// A server for the repository these settings describe, sharing `live` with the watch.
    pub fn new(settings: Settings, live: LiveVectors) -> anyhow::Result<SextantServer> {
        Ok(SextantServer {
            shared: Arc::new(Shared {
                secrets: settings.secret_rules()?,
                settings,
                warm: Mutex::new(Warm {
                    retrieval: None,
                    stamp: None,
                }),
                loading_vectors: AtomicBool::new(false),
                vectors_failed: Mutex::new(None),
                live,
            }),
            tool_router: Self::tool_router(),
        })
    }

    #[tool(
        description = "The files that matter for a coding task, packed into a token budget, each with the evidence for its place (the same report as `sextant why-relevant --json`; with context=true, the packed context itself)."
    )]
    async fn why_relevant(
        &self,
        Parameters(params): Parameters<WhyRelevantParams>,
    ) -> Result<CallToolResult, ErrorData> {
        if let Some(budget) = params.budget {
            bounds::check_integer("budget", budget as u64, bounds::BUDGET_TOKENS)
                .map_err(invalid)?;
        }
        if let Some(files) = params.max_files {
            bounds::check_integer("max_files", files as u64, bounds::MAX_FILES).map_err(invalid)?;
        }
        let shared = self.shared.clone();
        blocking(move || {
            shared.with_retrieval(|retrieval, settings| {
                let budget = settings
                    .rank
                    .budget
                    .overridden(params.budget, params.max_files);
                let tokenizer = params
                    .tokenizer
                    .clone()
                    .unwrap_or_else(|| settings.rank.tokenizer.clone());
                let answer = crate::commands::why_relevant::answer(
                    retrieval,
                    settings,
                    &params.task,
                    &settings.rank.weights,
                    budget,
                    &tokenizer,
                    &shared.secrets,
                )?;
                Ok(text(if params.context {
                    answer.context
                } else {
                    answer.json
                }))
            })
        })
        .await
    }

    #[tool(
        description = "Search the index: BM25 over code chunks with matching lines (as `sextant search --json`), or, with semantic=true, the nearest units by meaning."
    )]
    async fn search(
        &self,
        Parameters(params): Parameters<SearchParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let limit = params.limit.unwrap_or(10);
        bounds::check_integer("limit", limit as u64, bounds::SEARCH_LIMIT).map_err(invalid)?;
        let shared = self.shared.clone();
        blocking(move || {
            shared.with_retrieval(|retrieval, _| {
                let body = if params.semantic {
                    json_text(&retrieval.nearest(&params.query, limit)?)?
                } else {
                    json_text(&retrieval.snapshot().lexical.search(&params.query, limit)?)?
                };
                Ok(text(body))
            })
        })
        .await
    }

    #[tool(
        description = "Ask the knowledge graph: callers or callees of a symbol, dependencies or dependents of a file, the path between two nodes, or statistics (as `sextant graph ... --json`)."
    )]
    async fn graph(
        &self,
        Parameters(params): Parameters<GraphParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let target = || {
            params
                .target
                .clone()
                .ok_or_else(|| ErrorData::invalid_params("this question needs `target`", None))
        };
        let query = match params.ask {
            GraphAsk::Callers => GraphQuery::Callers { symbol: target()? },
            GraphAsk::Callees => GraphQuery::Callees { symbol: target()? },
            GraphAsk::Deps => GraphQuery::Deps { file: target()? },
            GraphAsk::Rdeps => GraphQuery::Rdeps { file: target()? },
            GraphAsk::Path => GraphQuery::Path {
                from: target()?,
                to: params
                    .to
                    .clone()
                    .ok_or_else(|| ErrorData::invalid_params("`path` needs `to`", None))?,
            },
            GraphAsk::Stats => GraphQuery::Stats,
        };
        let shared = self.shared.clone();
        blocking(move || {
            shared.with_retrieval(|retrieval, _| {
                let graph = retrieval.graph().ok_or_else(|| {
                    anyhow::anyhow!(
                        "the knowledge graph is missing or damaged; `sextant index` repairs it"
                    )
                })?;
                Ok(text(crate::commands::graph::answer(graph, &query)?.json))
            })
        })
        .await
    }

    #[tool(
        description = "What the index holds: generation, files and lines by language, when it was committed, whether vectors, graph and history are loaded, and what is missing."
    )]
    async fn index_status(&self) -> Result<CallToolResult, ErrorData> {
        let shared = self.shared.clone();
        blocking(move || {
            shared.with_retrieval(|retrieval, settings| {
                let manifest = &retrieval.snapshot().manifest;
                let lines: u64 = manifest
                    .files
                    .values()
                    .map(|f| u64::from(f.line_count))
                    .sum();
                Ok(text(json_text(&serde_json::json!({
                    "root": settings.root.display().to_string(),
                    "generation": manifest.generation,
                    "committed_at_unix": manifest.committed_at_unix,
                    "files": manifest.files.len(),
                    "lines": lines,
                    "graph": retrieval.has_graph(),
                    "vectors": retrieval.has_vectors(),
                    "vectors_missing": retrieval.vectors_missing(),
                    "history": retrieval.history().is_some(),
                    "notes": retrieval.notes(),
                }))?))
            })
        })
        .await
    }

    #[tool(
        description = "Bring the index up to date with the working tree (incremental; the same as `sextant index`). Queries keep answering from the last committed generation while it runs."
    )]
    async fn reindex(&self) -> Result<CallToolResult, ErrorData> {
        let shared = self.shared.clone();
        blocking(move || {
            let summary = crate::commands::index::update(&shared.settings, false)?;
            Ok(text(json_text(&summary)?))
        })
        .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SextantServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("sextant", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Retrieval over one repository's index: call why_relevant with the task before \
                 reading or changing code; search, graph and index_status answer narrower \
                 questions; reindex brings the index up to date.",
            )
    }
}

/// Runs `sextant serve`: MCP over stdin/stdout until the client closes it.
pub fn run(args: &ServeArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args.repo.as_deref(), global, &Overrides::default())?;
    let root: PathBuf = settings.root.clone();
    eprintln!("sextant serve: MCP over stdio for {}", root.display());
    let live = LiveVectors::default();
    if !args.no_watch {
        // Fresh without anyone running `sextant index`: changes are reindexed in the
        // background and picked up at the next call.
        crate::watch::spawn(settings.clone(), live.clone())?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let service = SextantServer::new(settings, live)?
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|error| anyhow::anyhow!("starting the MCP session: {error}"))?;
        service
            .waiting()
            .await
            .map_err(|error| anyhow::anyhow!("serving: {error}"))?;
        Ok::<(), anyhow::Error>(())
    })
}
