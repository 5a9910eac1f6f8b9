//! Resolves command-line options and the repository's `sextant.toml` into one `Settings`.
//!
//! Precedence: command-line flag, then `sextant.toml` at the repository root, then the
//! built-in default.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use sextant_index::store::{DEFAULT_INDEX_DIR, IndexDir};
use sextant_index::update::IndexSettings;

use crate::bounds::UsageError;
use crate::cli::{GlobalArgs, VectorMode};
use crate::llm::config::{LlmConfig, LlmSettings, user_config_path};
use crate::rank::Weights;
use crate::rank::pack::{Budget, DEFAULT_TOKENIZER};
use crate::secrets::SecretRules;
use sextant_index::vector::embed::EmbeddingProvider;
use sextant_index::vector::units::UnitDesign;

/// Name of the per-repository configuration file.
pub const CONFIG_FILE: &str = "sextant.toml";

/// Everything a command needs to know about where and how to work.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Repository root (canonical).
    pub root: PathBuf,
    /// The index directory.
    pub index_dir: IndexDir,
    /// How to index.
    pub index: IndexSettings,
    /// Whether to keep quiet (no progress bars, no extra summary lines).
    pub quiet: bool,
    /// How to rank and pack (`[rank]`).
    pub rank: RankSettings,
    /// The embedding model and when to build vectors (`[vectors]`, repository over user).
    pub vectors: VectorSection,
    /// The `[llm]` layers found in the user config and `sextant.toml`, in that order; the
    /// environment and flags are applied on top by [`Settings::llm`].
    llm_layers: Vec<LlmConfig>,
    /// `[secrets]`: patterns added to and exempted from the secret rules.
    pub secrets: SecretsSection,
    /// Which embedding-server settings came from the repository's `sextant.toml` alone.
    vectors_from_repository: RepositoryChoices,
}

/// Embedding-server settings a repository made on its own (the user config did not agree):
/// they may reach only a server on this machine, and never with the user's key.
#[derive(Clone, Copy, Debug, Default)]
struct RepositoryChoices {
    /// The repository turned a server on.
    provider: bool,
    /// The repository named the server.
    base_url: bool,
}

/// `[secrets]`: what else counts as a secret, and what does not (see [`crate::secrets`]).
/// Patterns are Rust regexes; `path:` ones match repository-relative paths, others content.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSection {
    /// Patterns that mark a file secret (from the user config and `sextant.toml`).
    #[serde(default)]
    pub extra: Vec<String>,
    /// Patterns that exempt files or matched text. Read from the user config only: a
    /// repository's own `sextant.toml` must not be able to switch off the protection of the
    /// secrets a user keeps in its working tree.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// The secret rules a command applies: the shared defaults, or the defaults with the user's
/// patterns.
pub enum SecretGuard {
    /// No patterns configured.
    Default(&'static SecretRules),
    /// Built for these settings.
    Custom(Box<SecretRules>),
}

impl std::ops::Deref for SecretGuard {
    type Target = SecretRules;

    fn deref(&self) -> &SecretRules {
        match self {
            SecretGuard::Default(rules) => rules,
            SecretGuard::Custom(rules) => rules,
        }
    }
}

/// The `sextant.toml` file (and the user config, same shape), as far as this build reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    index: IndexSection,
    #[serde(default)]
    llm: LlmConfig,
    #[serde(default)]
    rank: RankSection,
    #[serde(default)]
    vectors: VectorSection,
    #[serde(default)]
    secrets: SecretsSection,
}

/// `[vectors]`: the embedding model and when to build vectors.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorSection {
    /// `auto`, `sync` or `off`.
    pub mode: Option<VectorMode>,
    /// A fastembed-compatible ONNX model directory (model.onnx, tokenizer.json, config.json,
    /// special_tokens_map.json, tokenizer_config.json) instead of the installed default.
    pub model_dir: Option<PathBuf>,
    /// The ONNX Runtime library instead of the installed one.
    pub runtime: Option<PathBuf>,
    /// ONNX Runtime threads (0 = its default).
    pub threads: Option<usize>,
    /// What to embed: `symbols` (default) or `chunks`.
    pub units: Option<UnitDesign>,
    /// Where vectors come from: `local` (the installed ONNX model, the default), `ollama`
    /// (`/api/embed`) or `openai` (an OpenAI-compatible `/v1/embeddings` server).
    pub provider: Option<EmbedWith>,
    /// The embedding server's root URL (default: the protocol's usual port on 127.0.0.1). A
    /// repository's `sextant.toml` may only name a loopback server.
    pub base_url: Option<String>,
    /// The embedding model's name on the server (required with a server).
    pub model: Option<String>,
    /// Environment variable holding the embedding server's API key (user config only;
    /// default `SEXTANT_EMBED_API_KEY`).
    pub api_key_env: Option<String>,
    /// Texts per request to the server.
    pub batch: Option<usize>,
    /// Requests to the server in flight at once.
    pub concurrency: Option<usize>,
    /// Run the local model's int8 weights in int8 (default true; false runs them in float,
    /// slower, as the model file says).
    pub int8: Option<bool>,
}

/// Where vectors come from (`[vectors] provider`, `SEXTANT_EMBED_PROVIDER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedWith {
    /// The installed ONNX model, in the process.
    Local,
    /// Ollama's `/api/embed`.
    Ollama,
    /// An OpenAI-compatible `/v1/embeddings` server.
    #[serde(rename = "openai", alias = "openai-compatible")]
    OpenAi,
}

impl std::str::FromStr for EmbedWith {
    type Err = String;

    fn from_str(value: &str) -> Result<EmbedWith, String> {
        match value {
            "local" => Ok(EmbedWith::Local),
            "ollama" => Ok(EmbedWith::Ollama),
            "openai" | "openai-compatible" => Ok(EmbedWith::OpenAi),
            other => Err(format!(
                "{other:?} is not an embedding provider (local, ollama, openai)"
            )),
        }
    }
}

impl VectorSection {
    fn over(self, user: VectorSection) -> VectorSection {
        VectorSection {
            mode: self.mode.or(user.mode),
            model_dir: self.model_dir.or(user.model_dir),
            runtime: self.runtime.or(user.runtime),
            threads: self.threads.or(user.threads),
            units: self.units.or(user.units),
            provider: self.provider.or(user.provider),
            base_url: self.base_url.or(user.base_url),
            model: self.model.or(user.model),
            api_key_env: self.api_key_env.or(user.api_key_env),
            batch: self.batch.or(user.batch),
            concurrency: self.concurrency.or(user.concurrency),
            int8: self.int8.or(user.int8),
        }
    }
}

/// Ranking and packing settings.
#[derive(Clone, Debug)]
pub struct RankSettings {
    /// Signal weights.
    pub weights: Weights,
    /// Token budget and file count.
    pub budget: Budget,
    /// Name of the BPE tokenizer that counts tokens.
    pub tokenizer: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RankSection {
    whole_file_weight: Option<f64>,
    symbol_weight: Option<f64>,
    path_weight: Option<f64>,
    graph_weight: Option<f64>,
    vector_weight: Option<f64>,
    /// Weight of the history prior.
    history_weight: Option<f64>,
    /// Weight of files changed by past commits like the task.
    past_weight: Option<f64>,
    /// Factor on tests' scores.
    test_factor: Option<f64>,
    /// Factor on non-code files' scores.
    non_code_factor: Option<f64>,
    budget: Option<usize>,
    max_files: Option<usize>,
    tokenizer: Option<String>,
}

impl RankSection {
    /// Settings from the repository's section, then the user's, then the defaults.
    fn resolve(repo: &RankSection, user: &RankSection) -> RankSettings {
        let defaults = Weights::default();
        let budget = Budget::default();
        let pick = |a: Option<f64>, b: Option<f64>, default: f64| a.or(b).unwrap_or(default);
        RankSettings {
            weights: Weights {
                whole_file: pick(
                    repo.whole_file_weight,
                    user.whole_file_weight,
                    defaults.whole_file,
                ),
                symbol: pick(repo.symbol_weight, user.symbol_weight, defaults.symbol),
                path: pick(repo.path_weight, user.path_weight, defaults.path),
                graph: pick(repo.graph_weight, user.graph_weight, defaults.graph),
                vector: pick(repo.vector_weight, user.vector_weight, defaults.vector),
                history: pick(repo.history_weight, user.history_weight, defaults.history),
                past: pick(repo.past_weight, user.past_weight, defaults.past),
                test_factor: pick(repo.test_factor, user.test_factor, defaults.test_factor),
                non_code_factor: pick(
                    repo.non_code_factor,
                    user.non_code_factor,
                    defaults.non_code_factor,
                ),
            },
            budget: Budget {
                tokens: repo.budget.or(user.budget).unwrap_or(budget.tokens),
                max_files: repo
                    .max_files
                    .or(user.max_files)
                    .unwrap_or(budget.max_files),
            },
            tokenizer: repo
                .tokenizer
                .clone()
                .or_else(|| user.tokenizer.clone())
                .unwrap_or_else(|| DEFAULT_TOKENIZER.to_string()),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexSection {
    max_file_size: Option<u64>,
    threads: Option<usize>,
}

/// Command-specific overrides.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--max-file-size`.
    pub max_file_size: Option<u64>,
}

impl Settings {
    /// Resolves settings for a repository at `root` (or the one found from the current
    /// directory when `None`).
    pub fn resolve(
        root: Option<&Path>,
        global: &GlobalArgs,
        overrides: &Overrides,
    ) -> anyhow::Result<Settings> {
        let root = match root {
            Some(root) => root.to_path_buf(),
            None => {
                discover_root(&std::env::current_dir().context("reading the current directory")?)
            }
        };
        let root = root
            .canonicalize()
            .with_context(|| format!("cannot use {} as the repository root", root.display()))?;
        if !root.is_dir() {
            return Err(UsageError(format!(
                "cannot use {} as the repository root: it is not a directory",
                crate::output::escaped(&root.display().to_string())
            ))
            .into());
        }
        let user_config = match user_config_path(|name| std::env::var(name).ok()) {
            Some(path) => read_config_file(&path)?,
            None => ConfigFile::default(),
        };
        let config = read_config_file(&root.join(CONFIG_FILE))?;
        let mut index = IndexSettings::default();
        if let Some(size) = overrides
            .max_file_size
            .or(config.index.max_file_size)
            .or(user_config.index.max_file_size)
        {
            index.max_file_size = size;
        }
        if let Some(threads) = global
            .threads
            .or(config.index.threads)
            .or(user_config.index.threads)
        {
            index.threads = threads;
        }
        let index_dir = match &global.index_dir {
            Some(dir) => IndexDir::new(absolute(dir)?),
            None => {
                let dir = root.join(DEFAULT_INDEX_DIR);
                // A repository can ship `.sextant` as a link out (to a directory of yours):
                // the index, run records and metrics would be written there.
                if dir
                    .symlink_metadata()
                    .is_ok_and(|m| m.file_type().is_symlink())
                {
                    return Err(UsageError(format!(
                        "{} is a symbolic link: sextant keeps its index in a real directory inside the repository; remove the link (or choose a directory with --index-dir)",
                        crate::output::escaped(&dir.display().to_string())
                    ))
                    .into());
                }
                IndexDir::new(dir)
            }
        };
        if let Some(link) = symlink_inside(index_dir.path()) {
            return Err(UsageError(format!(
                "{} is a symbolic link inside the index directory: sextant never follows links there; remove it",
                crate::output::escaped(&link.display().to_string())
            ))
            .into());
        }
        let rank = RankSection::resolve(&config.rank, &user_config.rank);
        check_repository_vectors(&root.join(CONFIG_FILE), &config.vectors)?;
        let vectors_from_repository = RepositoryChoices {
            provider: config
                .vectors
                .provider
                .is_some_and(|p| p != EmbedWith::Local && user_config.vectors.provider != Some(p)),
            base_url: config.vectors.base_url.is_some(),
        };
        let vectors = config.vectors.over(user_config.vectors);
        check_ranges(&index, &rank, &vectors)?;
        check_repository_llm(&root.join(CONFIG_FILE), &config.llm)?;
        let llm_layers = vec![user_config.llm, config.llm];
        if !config.secrets.allow.is_empty() {
            return Err(UsageError(format!(
                "{}: `[secrets] allow` is read from your user config only (a repository cannot exempt files from the secret rules)",
                root.join(CONFIG_FILE).display()
            ))
            .into());
        }
        let secrets = SecretsSection {
            extra: user_config
                .secrets
                .extra
                .into_iter()
                .chain(config.secrets.extra)
                .collect(),
            allow: user_config.secrets.allow,
        };
        // A bad pattern is a usage error before anything runs.
        if !secrets.extra.is_empty() || !secrets.allow.is_empty() {
            SecretRules::new(&secrets.extra, &secrets.allow)
                .map_err(|error| UsageError(format!("[secrets]: {error}")))?;
        }
        Ok(Settings {
            root,
            index_dir,
            index,
            quiet: global.quiet,
            rank,
            vectors,
            llm_layers,
            secrets,
            vectors_from_repository,
        })
    }

    /// The secret rules for this repository: the defaults plus the `[secrets]` patterns.
    pub fn secret_rules(&self) -> anyhow::Result<SecretGuard> {
        if self.secrets.extra.is_empty() && self.secrets.allow.is_empty() {
            return Ok(SecretGuard::Default(SecretRules::default_rules()));
        }
        SecretRules::new(&self.secrets.extra, &self.secrets.allow)
            .map(|rules| SecretGuard::Custom(Box::new(rules)))
            .map_err(|error| UsageError(format!("[secrets]: {error}")).into())
    }

    /// LLM settings: user config, then `sextant.toml`, then `SEXTANT_LLM_*` variables, then
    /// `flags`.
    pub fn llm(&self, flags: LlmConfig) -> anyhow::Result<LlmSettings> {
        let environment =
            LlmConfig::from_env(|name| std::env::var(name).ok()).map_err(anyhow::Error::msg)?;
        let mut layers = self.llm_layers.clone();
        layers.push(environment);
        layers.push(flags);
        LlmSettings::resolve(&layers, |name| std::env::var(name).ok())
            .map_err(|message| UsageError(message).into())
    }

    /// Where vectors come from, or why they cannot: the installed local model, or the
    /// embedding server `[vectors]` names (`SEXTANT_EMBED_PROVIDER`, `_BASE_URL` and `_MODEL`
    /// override it).
    pub fn vector_model(&self) -> anyhow::Result<EmbeddingProvider> {
        self.vector_model_with(|name| std::env::var(name).ok())
    }

    fn vector_model_with(
        &self,
        get: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<EmbeddingProvider> {
        use crate::llm::Provider;
        use crate::llm::embeddings::{
            DEFAULT_BATCH, DEFAULT_CONCURRENCY, EmbeddingServer, QUERY_DEADLINE, ServerSettings,
        };
        let env = |name: &str| get(name).filter(|value| !value.trim().is_empty());
        let (provider, provider_by_repository) = match env("SEXTANT_EMBED_PROVIDER") {
            Some(value) => (
                value
                    .trim()
                    .parse()
                    .map_err(|e: String| UsageError(format!("SEXTANT_EMBED_PROVIDER: {e}")))?,
                false,
            ),
            None => (
                self.vectors.provider.unwrap_or(EmbedWith::Local),
                self.vectors_from_repository.provider,
            ),
        };
        let protocol = match provider {
            EmbedWith::Local => {
                let home = crate::models::sextant_home(&get)?;
                return crate::models::resolve(
                    &home,
                    self.vectors.model_dir.as_deref(),
                    self.vectors.runtime.as_deref(),
                )
                .map(|mut paths| {
                    paths.int8 = self.vectors.int8.unwrap_or(true);
                    EmbeddingProvider::local(paths)
                });
            }
            EmbedWith::Ollama => Provider::Ollama,
            EmbedWith::OpenAi => Provider::OpenAi,
        };
        let model = env("SEXTANT_EMBED_MODEL")
            .or_else(|| self.vectors.model.clone())
            .ok_or_else(|| {
                UsageError(format!(
                    "embedding with {} needs the model's name on the server: set vectors.model in your config or SEXTANT_EMBED_MODEL",
                    protocol.name()
                ))
            })?;
        let from_env = env("SEXTANT_EMBED_BASE_URL");
        let url_by_repository = from_env.is_none() && self.vectors_from_repository.base_url;
        let base_url = from_env
            .or_else(|| self.vectors.base_url.clone())
            .unwrap_or_else(|| protocol.default_base_url().to_string());
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        // A cloned repository may turn a server on only on this machine (a remote one named in
        // the user config is the user's to turn on), and a server it names never gets the
        // user's key.
        if provider_by_repository && !is_loopback_url(&base_url) {
            return Err(UsageError(format!(
                "{}: vectors.provider = {:?} would send this repository's code to {base_url}, which is not on this machine; a repository may only turn on a loopback embedding server — set vectors.provider in your user config or SEXTANT_EMBED_PROVIDER to use it",
                self.root.join(CONFIG_FILE).display(),
                protocol.name()
            ))
            .into());
        }
        if !matches!(url::Url::parse(&base_url), Ok(url) if matches!(url.scheme(), "http" | "https"))
        {
            return Err(UsageError(format!(
                "the embedding server URL {base_url:?} is not an http(s) URL"
            ))
            .into());
        }
        let api_key_env = self
            .vectors
            .api_key_env
            .clone()
            .unwrap_or_else(|| "SEXTANT_EMBED_API_KEY".to_string());
        let api_key = if url_by_repository {
            None
        } else {
            env(&api_key_env)
        };
        let http = LlmSettings {
            provider: protocol,
            base_url,
            model,
            api_key_env,
            api_key,
            ..LlmSettings::default()
        };
        let server = ServerSettings {
            http,
            batch: self.vectors.batch.unwrap_or(DEFAULT_BATCH),
            concurrency: self.vectors.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            query_deadline: QUERY_DEADLINE,
        };
        Ok(EmbeddingProvider::new(EmbeddingServer::new(
            server,
            self.root.clone(),
            self.secret_rules()?,
        )))
    }

    /// Where LLM call metrics are appended.
    pub fn llm_metrics_path(&self) -> PathBuf {
        self.index_dir.llm_metrics_path()
    }
}

/// Checks the resolved settings that came from `sextant.toml` or the user config (flags were
/// checked by clap with the same ranges) and names the first one out of range.
fn check_ranges(
    index: &IndexSettings,
    rank: &RankSettings,
    vectors: &VectorSection,
) -> Result<(), UsageError> {
    use crate::bounds::{
        BUDGET_TOKENS, FACTOR, MAX_FILE_SIZE, MAX_FILES, THREADS, WEIGHT, check_integer, check_real,
    };
    check_integer("index.max_file_size", index.max_file_size, MAX_FILE_SIZE)?;
    check_integer("index.threads", index.threads as u64, THREADS)?;
    if let Some(threads) = vectors.threads {
        check_integer("vectors.threads", threads as u64, THREADS)?;
    }
    if let Some(batch) = vectors.batch {
        check_integer("vectors.batch", batch as u64, crate::bounds::EMBED_BATCH)?;
    }
    if let Some(concurrency) = vectors.concurrency {
        check_integer(
            "vectors.concurrency",
            concurrency as u64,
            crate::bounds::EMBED_CONCURRENCY,
        )?;
    }
    check_integer("rank.budget", rank.budget.tokens as u64, BUDGET_TOKENS)?;
    check_integer("rank.max_files", rank.budget.max_files as u64, MAX_FILES)?;
    let w = &rank.weights;
    for (name, value) in [
        ("rank.whole_file_weight", w.whole_file),
        ("rank.symbol_weight", w.symbol),
        ("rank.path_weight", w.path),
        ("rank.graph_weight", w.graph),
        ("rank.vector_weight", w.vector),
        ("rank.history_weight", w.history),
        ("rank.past_weight", w.past),
    ] {
        check_real(name, value, WEIGHT)?;
    }
    check_real("rank.test_factor", w.test_factor, FACTOR)?;
    check_real("rank.non_code_factor", w.non_code_factor, FACTOR)?;
    Ok(())
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("reading the current directory")?
        .join(path))
}

/// The nearest ancestor holding a committed index or a `.git`, else `start` itself. A bare
/// `.sextant` folder (metrics only, say) does not mark a root.
fn discover_root(start: &Path) -> PathBuf {
    let is_root = |dir: &Path| dir.join(".git").exists() || has_index(dir);
    start
        .ancestors()
        .find(|dir| is_root(dir))
        .unwrap_or(start)
        .to_path_buf()
}

/// Whether `dir` holds an index in its default place (one that has committed or is being
/// built).
pub fn has_index(dir: &Path) -> bool {
    IndexDir::new(dir.join(DEFAULT_INDEX_DIR))
        .lexical_meta_path()
        .exists()
}

/// What a repository's own `sextant.toml` may not decide about the model server: where
/// prompts go beyond this machine, and which environment variable's value is sent as the API
/// key. A cloned repository (or a model's edit) must not be able to send a user's code, task
/// and key to a server of its choosing; those settings belong to the user config, the
/// environment and the flags.
fn check_repository_llm(path: &Path, llm: &LlmConfig) -> anyhow::Result<()> {
    if llm.api_key_env.is_some() {
        return Err(UsageError(format!(
            "{}: llm.api_key_env is read from your user config only (a repository must not choose which secret is sent)",
            path.display()
        ))
        .into());
    }
    if let Some(url) = &llm.base_url
        && !is_loopback_url(url)
    {
        return Err(UsageError(format!(
            "{}: llm.base_url {url:?} is not on this machine; a repository may only name a loopback server (127.0.0.1, localhost, ::1) — set a remote one in your user config, SEXTANT_LLM_BASE_URL or --base-url",
            path.display()
        ))
        .into());
    }
    Ok(())
}

/// What a repository's `sextant.toml` may not decide about vectors: which shared library is
/// loaded into the process (ONNX Runtime) and which model files are read — a cloned repository
/// naming `./evil.so` would run its code. Those belong to the user config (or `sextant models
/// install`).
fn check_repository_vectors(path: &Path, vectors: &VectorSection) -> anyhow::Result<()> {
    if let Some(url) = &vectors.base_url
        && !is_loopback_url(url)
    {
        return Err(UsageError(format!(
            "{}: vectors.base_url {url:?} is not on this machine; a repository may only name a loopback embedding server (127.0.0.1, localhost, ::1) — set a remote one in your user config or SEXTANT_EMBED_BASE_URL",
            path.display()
        ))
        .into());
    }
    for (set, key, why) in [
        (
            vectors.runtime.is_some(),
            "vectors.runtime",
            "a repository must not choose code or model files to load",
        ),
        (
            vectors.model_dir.is_some(),
            "vectors.model_dir",
            "a repository must not choose code or model files to load",
        ),
        (
            vectors.api_key_env.is_some(),
            "vectors.api_key_env",
            "a repository must not choose which secret is sent",
        ),
    ] {
        if set {
            return Err(UsageError(format!(
                "{}: {key} is read from your user config only ({why})",
                path.display()
            ))
            .into());
        }
    }
    Ok(())
}

/// Whether `url` names a server on this machine, as the HTTP client will read it (the WHATWG
/// parser: `\\` is `/`, userinfo is not the host, `127.1` is `127.0.0.1`).
pub(crate) fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The first symbolic link found under `dir` (not following any), if there is one.
fn symlink_inside(dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            return Some(entry.path());
        }
        if kind.is_dir()
            && let Some(link) = symlink_inside(&entry.path())
        {
            return Some(link);
        }
    }
    None
}

fn read_config_file(path: &Path) -> anyhow::Result<ConfigFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("invalid {}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_config_which_beats_defaults() {
        let repo = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            repo.path().join(CONFIG_FILE),
            "[index]\nmax_file_size = 500\nthreads = 3\n",
        )
        .expect("write");
        let global = GlobalArgs {
            index_dir: None,
            quiet: false,
            threads: None,
        };
        let from_config =
            Settings::resolve(Some(repo.path()), &global, &Overrides::default()).expect("resolve");
        assert_eq!(
            (from_config.index.max_file_size, from_config.index.threads),
            (500, 3)
        );
        let overrides = Overrides {
            max_file_size: Some(7),
        };
        let global = GlobalArgs {
            threads: Some(1),
            ..global
        };
        let from_flags =
            Settings::resolve(Some(repo.path()), &global, &overrides).expect("resolve");
        assert_eq!(
            (from_flags.index.max_file_size, from_flags.index.threads),
            (7, 1)
        );
    }

    #[test]
    fn unknown_config_keys_are_errors() {
        let repo = tempfile::tempdir().expect("tempdir");
        std::fs::write(repo.path().join(CONFIG_FILE), "[index]\nmax_size = 5\n").expect("write");
        let global = GlobalArgs {
            index_dir: None,
            quiet: false,
            threads: None,
        };
        let error = Settings::resolve(Some(repo.path()), &global, &Overrides::default())
            .expect_err("bad key");
        assert!(format!("{error:#}").contains("max_size"), "{error:#}");
    }

    #[test]
    fn root_is_discovered_from_a_subdirectory() {
        let repo = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(repo.path().join(".git")).expect("mkdir");
        std::fs::create_dir_all(repo.path().join("a/b")).expect("mkdir");
        assert_eq!(discover_root(&repo.path().join("a/b")), repo.path());
    }

    #[test]
    fn a_repository_may_not_send_prompts_or_keys_elsewhere() {
        for url in [
            "http://127.0.0.1:11434",
            "http://localhost:8080/",
            "http://[::1]:8000",
            "https://127.0.0.5",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://api.example.com",
            "http://127.0.0.1.evil.example",
            "http://localhost@evil.example",
            "http://10.0.0.1:8000",
            "http://[::2]",
            "http://192.0.2.2:48131\\@127.0.0.1",
            "http:\\\\192.0.2.2\\@127.0.0.1",
            "http://127.0.0.1.nip.io",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
        let repo = tempfile::tempdir().expect("tempdir");
        let global = GlobalArgs {
            index_dir: None,
            quiet: false,
            threads: None,
        };
        for config in [
            "[llm]\nbase_url = \"https://collect.example\"\n",
            "[llm]\napi_key_env = \"AWS_SECRET_ACCESS_KEY\"\n",
            "[vectors]\nruntime = \"./evil.so\"\n",
            "[vectors]\nmodel_dir = \"./model\"\n",
        ] {
            std::fs::write(repo.path().join(CONFIG_FILE), config).expect("write");
            let error = Settings::resolve(Some(repo.path()), &global, &Overrides::default())
                .expect_err("refused");
            assert!(error.is::<UsageError>(), "{error}");
        }
        std::fs::write(
            repo.path().join(CONFIG_FILE),
            "[llm]\nbase_url = \"http://127.0.0.1:8080\"\nmodel = \"qwen\"\n",
        )
        .expect("write");
        Settings::resolve(Some(repo.path()), &global, &Overrides::default())
            .expect("loopback is fine");
    }
}
