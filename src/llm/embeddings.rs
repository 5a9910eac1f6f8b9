//! Embedding servers as a source of vectors: Ollama's `/api/embed` and any OpenAI-compatible
//! `/v1/embeddings` (llama.cpp's `llama-server --embedding`, vLLM, text-embeddings-inference).
//!
//! Texts are sent in batches of [`ServerSettings::batch`], [`ServerSettings::concurrency`]
//! requests at a time, each retried on transient failures like a chat call; vectors are
//! cached under an id made of the protocol and the model's name, so the index reuses them as
//! it does the local model's. The server is outside the process: a unit of a file that is
//! secret by name or by content is never sent ([`EmbeddingSource::admits`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use sextant_index::facts::ContentHash;
use sextant_index::vector::VectorError;
use sextant_index::vector::embed::{Embed, EmbeddingSource, normalise};

use super::http::{HttpClient, with_retries};
use super::{LlmError, LlmSettings, Provider};
use crate::settings::SecretGuard;

/// Longest text sent, in bytes: a server rejects an input longer than its batch (llama-server's
/// default is 512 tokens) instead of cutting it. Units are short (a signature, a docstring,
/// the names used), so only chunk units ever reach this.
pub const MAX_TEXT_BYTES: usize = 1024;

/// Longest a query waits for its embedding: a task is ranked by text and graph alone rather
/// than wait for a server that hangs (the wait for an index batch is the HTTP timeouts').
pub const QUERY_DEADLINE: Duration = Duration::from_secs(10);

/// After a query's embedding failed, queries rank without it this long before asking the
/// server again: a warm `serve` answers at once instead of waiting out the deadline query
/// after query (the worker may still be stuck on the request that hung).
pub const QUERY_BACKOFF: Duration = Duration::from_secs(30);

/// Texts per request by default.
pub const DEFAULT_BATCH: usize = 32;

/// Requests in flight by default.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// How to reach an embedding server.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// Protocol, server URL, API key, timeouts and retries (the chat client's settings; its
    /// `model` is the embedding model's name on the server).
    pub http: LlmSettings,
    /// Texts per request.
    pub batch: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Longest a query waits for its embedding ([`QUERY_DEADLINE`]).
    pub query_deadline: Duration,
}

impl ServerSettings {
    /// The cache id of the model: protocol and model name. The name is the model's identity
    /// (a server that serves another model under the same name must be given another name;
    /// a changed vector length is caught when the cache is reused).
    pub fn model_id(&self) -> String {
        let key = format!("{}\n{}", self.http.provider.name(), self.http.model);
        format!(
            "{}-{}",
            self.http.provider.name(),
            &blake3::hash(key.as_bytes()).to_hex()[..16]
        )
    }
}

/// An embedding server with the secret rules that guard what it receives.
pub struct EmbeddingServer {
    settings: ServerSettings,
    root: PathBuf,
    rules: Arc<SecretGuard>,
    /// Whether each file checked so far may be sent (a file's units come together).
    verdicts: Mutex<HashMap<String, bool>>,
}

impl std::fmt::Debug for EmbeddingServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingServer")
            .field("provider", &self.settings.http.provider)
            .field("base_url", &self.settings.http.base_url)
            .field("model", &self.settings.http.model)
            .finish_non_exhaustive()
    }
}

impl EmbeddingServer {
    /// A server for the repository at `root`, whose files are checked with `rules`.
    pub fn new(settings: ServerSettings, root: PathBuf, rules: SecretGuard) -> EmbeddingServer {
        EmbeddingServer {
            settings,
            root,
            rules: Arc::new(rules),
            verdicts: Mutex::new(HashMap::new()),
        }
    }
}

impl EmbeddingSource for EmbeddingServer {
    fn model_id(&self) -> Result<String, VectorError> {
        Ok(self.settings.model_id())
    }

    fn load(&self, _threads: usize) -> Result<Box<dyn Embed>, VectorError> {
        let mut client = ServerEmbedder::start(self.settings.clone(), Arc::clone(&self.rules))?;
        let probe = client.embed(&["dimension probe"])?;
        client.dimension = probe.first().map_or(0, Vec::len);
        if client.dimension == 0 {
            return Err(VectorError::Model(format!(
                "{} returns empty vectors",
                client.describe()
            )));
        }
        Ok(Box::new(client))
    }

    fn batch_size(&self) -> usize {
        self.settings.batch.max(1) * self.settings.concurrency.max(1)
    }

    /// A unit is sent only when its own text and its whole file are free of secrets by name
    /// and by content, the file read again now (symlinks resolved) and still the content that
    /// was indexed: a file changed since (a secret removed, say) waits for the next index run,
    /// which checks what it indexes.
    fn admits(&self, path: &str, indexed: Option<&ContentHash>, text: &str) -> bool {
        if self.rules.check(path, text) != crate::secrets::Verdict::Clean {
            return false;
        }
        let Some(indexed) = indexed else {
            return false;
        };
        let mut verdicts = self.verdicts.lock().unwrap_or_else(|e| e.into_inner());
        *verdicts.entry(path.to_string()).or_insert_with(|| {
            matches!(
                self.rules.read_bytes_if_clean(&self.root, path),
                Ok(Ok(bytes)) if ContentHash::of(&bytes) == *indexed
            )
        })
    }
}

/// One batch for the worker, and where its answer goes.
type Job = (
    Vec<String>,
    mpsc::Sender<Result<Vec<Vec<f32>>, VectorError>>,
);

/// A connected client. Requests run on a thread of its own with its own async runtime, so the
/// client can be used and dropped from any thread (a server's blocking pool, the watch, an
/// async task) without nesting runtimes.
struct ServerEmbedder {
    id: String,
    dimension: usize,
    jobs: mpsc::Sender<Job>,
    what: String,
    /// Checked against every text before it leaves: an indexed unit was admitted already,
    /// but a task or a search query is whatever a user or an agent typed.
    rules: Arc<SecretGuard>,
    query_deadline: Duration,
    /// Until when queries are not sent, and why (the last query's failure).
    backing_off: Option<(std::time::Instant, String)>,
}

impl ServerEmbedder {
    fn start(
        settings: ServerSettings,
        rules: Arc<SecretGuard>,
    ) -> Result<ServerEmbedder, VectorError> {
        let client =
            HttpClient::new(&settings.http).map_err(|e| VectorError::Model(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| VectorError::Model(format!("cannot start the async runtime: {e}")))?;
        let (jobs, inbox) = mpsc::channel::<Job>();
        let what = format!(
            "the {} embedding server at {} (model {:?})",
            settings.http.provider.name(),
            settings.http.base_url,
            settings.http.model
        );
        let id = settings.model_id();
        let query_deadline = settings.query_deadline;
        let worker = Worker { settings, client };
        std::thread::Builder::new()
            .name("embedding-client".into())
            .spawn(move || {
                while let Ok((texts, reply)) = inbox.recv() {
                    let _ = reply.send(runtime.block_on(worker.embed(texts)));
                }
            })
            .map_err(|e| VectorError::Model(format!("cannot start the embedding client: {e}")))?;
        Ok(ServerEmbedder {
            id,
            dimension: 0,
            jobs,
            what,
            rules,
            query_deadline,
            backing_off: None,
        })
    }

    /// An error when a text holds what looks like a secret (it is never sent).
    fn refuse_secrets(&self, texts: &[&str]) -> Result<(), VectorError> {
        for text in texts {
            if let Some((rule, _)) = self.rules.check_content(text) {
                return Err(VectorError::Model(format!(
                    "a text holds what looks like a secret ({rule}); it is not sent to {}",
                    self.what
                )));
            }
        }
        Ok(())
    }

    /// Sends `texts` to the worker and waits for their vectors, at most `deadline`.
    fn ask(
        &mut self,
        texts: &[&str],
        deadline: Option<Duration>,
    ) -> Result<Vec<Vec<f32>>, VectorError> {
        self.refuse_secrets(texts)?;
        let (reply, answer) = mpsc::channel();
        let texts = texts.iter().map(|t| clip(t).to_string()).collect();
        let gone = || VectorError::Model(format!("{}: the client stopped", self.what));
        self.jobs.send((texts, reply)).map_err(|_| gone())?;
        let answered = match deadline {
            Some(deadline) => answer.recv_timeout(deadline).map_err(|error| match error {
                mpsc::RecvTimeoutError::Timeout => VectorError::Model(format!(
                    "{} did not answer within {} s",
                    self.what,
                    deadline.as_secs()
                )),
                mpsc::RecvTimeoutError::Disconnected => gone(),
            })?,
            None => answer.recv().map_err(|_| gone())?,
        };
        let vectors = answered.map_err(|e| VectorError::Model(format!("{}: {e}", self.what)))?;
        if self.dimension > 0
            && let Some(other) = vectors.iter().find(|v| v.len() != self.dimension)
        {
            return Err(VectorError::Model(format!(
                "{} returned a vector of {} numbers, not {}",
                self.what,
                other.len(),
                self.dimension
            )));
        }
        Ok(vectors)
    }

    fn describe(&self) -> &str {
        &self.what
    }
}

impl Embed for ServerEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, VectorError> {
        self.ask(texts, None)
    }

    fn embed_query(&mut self, text: &str) -> Result<Vec<f32>, VectorError> {
        // A secret in the query says nothing about the server.
        self.refuse_secrets(&[text])?;
        let now = std::time::Instant::now();
        if let Some((until, why)) = &self.backing_off
            && now < *until
        {
            return Err(VectorError::Model(format!(
                "not asked again for {} s after: {why}",
                until.duration_since(now).as_secs()
            )));
        }
        match self.ask(&[text], Some(self.query_deadline)) {
            Ok(vectors) => {
                self.backing_off = None;
                Ok(vectors.into_iter().next().unwrap_or_default())
            }
            Err(error) => {
                self.backing_off = Some((now + QUERY_BACKOFF, error.to_string()));
                Err(error)
            }
        }
    }
}

/// The client's side of the thread: the HTTP client and what to ask.
struct Worker {
    settings: ServerSettings,
    client: HttpClient,
}

impl Worker {
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, VectorError> {
        let batches: Vec<Vec<Vec<f32>>> =
            futures_util::stream::iter(texts.chunks(self.settings.batch.max(1)))
                .map(|batch| self.request(batch))
                .buffered(self.settings.concurrency.max(1))
                .try_collect()
                .await?;
        Ok(batches.into_iter().flatten().collect())
    }

    async fn request(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, VectorError> {
        let http = &self.settings.http;
        let (path, body) = match http.provider {
            Provider::Ollama => (
                "/api/embed",
                json!({"model": http.model, "input": texts, "truncate": true}),
            ),
            Provider::OpenAi => (
                "/v1/embeddings",
                json!({"model": http.model, "input": texts, "encoding_format": "float"}),
            ),
        };
        let attempt = || async {
            let response = self.client.post(path, &body).await?;
            let value = self.client.read_json(response).await?;
            parse(http.provider, &value, texts.len())
        };
        match with_retries(http, attempt).await {
            Ok((vectors, _)) => Ok(vectors),
            Err((
                LlmError::Http {
                    status: 404,
                    detail,
                },
                _,
            )) => Err(VectorError::Model(format!(
                "{path} answered 404 ({detail}): the model is not there, or the server does not serve embeddings (llama-server needs --embedding)"
            ))),
            Err((error, attempts)) => Err(VectorError::Model(format!(
                "{path}: {error} (after {attempts} attempt{})",
                if attempts == 1 { "" } else { "s" }
            ))),
        }
    }
}

/// The vectors of a reply, L2-normalised, in input order; a reply with another count, a
/// ragged or non-finite vector is garbage (never cached).
fn parse(provider: Provider, reply: &Value, expected: usize) -> Result<Vec<Vec<f32>>, LlmError> {
    let garbage = |what: &str| LlmError::Garbage(format!("the embedding reply {what}"));
    let rows: Vec<&Value> = match provider {
        Provider::Ollama => reply
            .get("embeddings")
            .and_then(Value::as_array)
            .ok_or_else(|| garbage("has no `embeddings` list"))?
            .iter()
            .collect(),
        Provider::OpenAi => {
            let data = reply
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| garbage("has no `data` list"))?;
            // Servers may answer out of order; `index` says whose vector each is.
            let mut rows: Vec<(u64, &Value)> = data
                .iter()
                .enumerate()
                .map(|(position, item)| {
                    let index = item
                        .get("index")
                        .and_then(Value::as_u64)
                        .unwrap_or(position as u64);
                    item.get("embedding")
                        .map(|embedding| (index, embedding))
                        .ok_or_else(|| garbage("has an item without `embedding`"))
                })
                .collect::<Result<_, _>>()?;
            rows.sort_by_key(|(index, _)| *index);
            if rows
                .iter()
                .enumerate()
                .any(|(i, (index, _))| *index != i as u64)
            {
                return Err(garbage("has indexes that are not 0..n"));
            }
            rows.into_iter().map(|(_, row)| row).collect()
        }
    };
    if rows.len() != expected {
        return Err(garbage(&format!(
            "has {} vectors for {expected} texts",
            rows.len()
        )));
    }
    let mut vectors = Vec::with_capacity(rows.len());
    for row in rows {
        let numbers = row
            .as_array()
            .ok_or_else(|| garbage("has a vector that is not a list of numbers"))?;
        let mut vector = Vec::with_capacity(numbers.len());
        for number in numbers {
            let value = number
                .as_f64()
                .filter(|v| v.is_finite())
                .ok_or_else(|| garbage("has a vector with a value that is not a finite number"))?;
            vector.push(value as f32);
        }
        normalise(&mut vector);
        vectors.push(vector);
    }
    if let Some(first) = vectors.first()
        && (first.is_empty() || vectors.iter().any(|v| v.len() != first.len()))
    {
        return Err(garbage("has vectors of different or zero lengths"));
    }
    Ok(vectors)
}

/// `text` cut to at most [`MAX_TEXT_BYTES`] on a character boundary.
fn clip(text: &str) -> &str {
    if text.len() <= MAX_TEXT_BYTES {
        return text;
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_of_both_protocols_are_read_in_input_order() {
        let ollama = json!({"model": "m", "embeddings": [[3.0, 4.0], [0.0, 2.0]]});
        assert_eq!(
            parse(Provider::Ollama, &ollama, 2).expect("ollama"),
            vec![vec![0.6, 0.8], vec![0.0, 1.0]]
        );
        let openai = json!({"object": "list", "data": [
            {"object": "embedding", "index": 1, "embedding": [0.0, 2.0]},
            {"object": "embedding", "index": 0, "embedding": [3.0, 4.0]}
        ]});
        assert_eq!(
            parse(Provider::OpenAi, &openai, 2).expect("openai"),
            vec![vec![0.6, 0.8], vec![0.0, 1.0]]
        );
    }

    #[test]
    fn malformed_replies_are_garbage_not_vectors() {
        for (provider, reply, expected) in [
            (Provider::Ollama, json!({"embeddings": [[1.0]]}), 2),
            (
                Provider::Ollama,
                json!({"embeddings": [[1.0], [1.0, 2.0]]}),
                2,
            ),
            (Provider::Ollama, json!({"embeddings": [["x"]]}), 1),
            (Provider::Ollama, json!({"embeddings": [[]]}), 1),
            (Provider::Ollama, json!({"error": "no"}), 1),
            (
                Provider::OpenAi,
                json!({"data": [{"index": 3, "embedding": [1.0]}]}),
                1,
            ),
            (Provider::OpenAi, json!({"data": [{"index": 0}]}), 1),
            (Provider::OpenAi, json!({"embeddings": [[1.0]]}), 1),
        ] {
            let parsed = parse(provider, &reply, expected);
            assert!(
                matches!(parsed, Err(LlmError::Garbage(_))),
                "{reply}: {parsed:?}"
            );
        }
    }

    #[test]
    fn only_clean_files_still_as_indexed_are_sent() {
        let root = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| {
            std::fs::write(root.path().join(name), text).expect("write");
            ContentHash::of(text.as_bytes())
        };
        let token = format!("ghp_{}", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8");
        let with_secret = format!("TOKEN = \"{token}\"\n\ndef f():\n    return 1\n");
        let server = || {
            EmbeddingServer::new(
                ServerSettings {
                    http: LlmSettings::default(),
                    batch: DEFAULT_BATCH,
                    concurrency: DEFAULT_CONCURRENCY,
                    query_deadline: QUERY_DEADLINE,
                },
                root.path().to_path_buf(),
                SecretGuard::Default(crate::secrets::SecretRules::default_rules()),
            )
        };
        let clean = write("clean.py", "def g():\n    return 2\n");
        let secret = write("secret.py", &with_secret);
        // Indexed with the secret, cleaned before the vector step: not sent this time.
        let cleaned = write("cleaned.py", &with_secret);
        write("cleaned.py", "def f():\n    return 1\n");
        let unit = "def f()";
        assert!(server().admits("clean.py", Some(&clean), unit));
        assert!(!server().admits("secret.py", Some(&secret), unit));
        assert!(!server().admits("cleaned.py", Some(&cleaned), unit));
        assert!(!server().admits("clean.py", None, unit));
        assert!(!server().admits("clean.py", Some(&clean), &with_secret));
    }

    /// A client of the replay server at `base_url` (model `hash`) for a repository at `root`:
    /// `(batch, concurrency)` and the query deadline as given, the default secret rules.
    fn replay_source(
        provider: Provider,
        base_url: String,
        (batch, concurrency): (usize, usize),
        query_deadline: Duration,
        root: &std::path::Path,
    ) -> EmbeddingServer {
        EmbeddingServer::new(
            ServerSettings {
                http: LlmSettings {
                    provider,
                    base_url,
                    model: "hash".to_string(),
                    ..LlmSettings::default()
                },
                batch,
                concurrency,
                query_deadline,
            },
            root.to_path_buf(),
            SecretGuard::Default(crate::secrets::SecretRules::default_rules()),
        )
    }

    /// Batches sent at once answer out of order (the first is held back); every vector still
    /// lands with its own text, and a query goes through the same client.
    #[test]
    fn concurrent_batches_keep_each_vector_with_its_text() {
        use crate::llm::replay::{ReplayServer, Script, ScriptedEmbeddings};
        let model = ScriptedEmbeddings {
            dimension: 64,
            slow_text: Some("unit 0 ".to_string()),
            slow_ms: 300,
            ..ScriptedEmbeddings::default()
        };
        let server = ReplayServer::start(Script {
            embeddings: Some(model.clone()),
            ..Script::default()
        })
        .expect("server");
        let root = tempfile::tempdir().expect("tempdir");
        let source = replay_source(
            Provider::OpenAi,
            server.url(),
            (2, 4),
            QUERY_DEADLINE,
            root.path(),
        );
        // The first batch is held back; the three sent beside it answer first.
        let mut embedder = source.load(0).expect("loads");
        let texts: Vec<String> = (0..16)
            .map(|i| format!("unit {i} word{i} other{}", i * 7))
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = embedder.embed(&refs).expect("embeds");
        assert_eq!(vectors.len(), texts.len());
        for (text, vector) in texts.iter().zip(&vectors) {
            let mut expected = model.vector(text);
            normalise(&mut expected);
            assert_eq!(vector, &expected, "{text}");
        }
        let query = embedder.embed_query("unit 3 word3").expect("query");
        let mut expected = model.vector("unit 3 word3");
        normalise(&mut expected);
        assert_eq!(query, expected);
    }

    /// A query whose embedding does not come in time ranks without it, and the next queries do
    /// not wait again: they are refused at once until the back-off passes.
    #[test]
    fn a_hanging_server_costs_one_query_deadline_not_one_per_query() {
        use crate::llm::replay::{ReplayServer, Script, ScriptedEmbeddings};
        let server = ReplayServer::start(Script {
            embeddings: Some(ScriptedEmbeddings {
                dimension: 8,
                slow_text: Some("hang".to_string()),
                slow_ms: 3_000,
                ..ScriptedEmbeddings::default()
            }),
            ..Script::default()
        })
        .expect("server");
        let root = tempfile::tempdir().expect("tempdir");
        let source = replay_source(
            Provider::Ollama,
            server.url(),
            (DEFAULT_BATCH, DEFAULT_CONCURRENCY),
            Duration::from_millis(200),
            root.path(),
        );
        let mut embedder = source.load(0).expect("loads");
        let started = std::time::Instant::now();
        let hung = embedder.embed_query("hang here").expect_err("times out");
        assert!(hung.to_string().contains("did not answer"), "{hung}");
        let refused = embedder
            .embed_query("rate limiting")
            .expect_err("backing off");
        assert!(refused.to_string().contains("not asked again"), "{refused}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // A secret is refused as such, not as a server failure.
        let token = format!("ghp_{}", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8");
        let secret = embedder.embed_query(&token).expect_err("secret");
        assert!(secret.to_string().contains("secret"), "{secret}");
    }

    #[test]
    fn long_texts_are_clipped_on_a_character_boundary() {
        let text = "é".repeat(MAX_TEXT_BYTES);
        let clipped = clip(&text);
        assert!(clipped.len() <= MAX_TEXT_BYTES && clipped.len() >= MAX_TEXT_BYTES - 1);
        assert_eq!(clip("short"), "short");
    }

    #[test]
    fn the_cache_id_names_protocol_and_model() {
        let settings = |provider, model: &str| ServerSettings {
            http: LlmSettings {
                provider,
                model: model.to_string(),
                ..LlmSettings::default()
            },
            batch: DEFAULT_BATCH,
            concurrency: DEFAULT_CONCURRENCY,
            query_deadline: QUERY_DEADLINE,
        };
        let a = settings(Provider::Ollama, "nomic-embed-text").model_id();
        assert!(
            a.starts_with("ollama-") && a.len() == "ollama-".len() + 16,
            "{a}"
        );
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert_ne!(a, settings(Provider::OpenAi, "nomic-embed-text").model_id());
        assert_ne!(a, settings(Provider::Ollama, "all-minilm").model_id());
    }
}
