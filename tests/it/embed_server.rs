//! Vectors from an embedding server (`[vectors] provider = "ollama" | "openai"`), end to end
//! through the CLI against a real HTTP server on 127.0.0.1: the replay server with a scripted
//! embedding model (words hashed into a vector), faults included. No local model is installed
//! in these tests (`SEXTANT_HOME` is empty): the server is the only source of vectors.
//! `llama_smoke.rs` runs the same path against llama-server's own `/v1/embeddings`.

use std::path::Path;

use serde_json::Value;
use sextant::llm::replay::{ReplayServer, Script, ScriptedEmbeddings};

use crate::support::{copy_fixture, sextant, stdout_of};

fn embedding_server(embeddings: ScriptedEmbeddings, api_key: Option<&str>) -> ReplayServer {
    ReplayServer::start(Script {
        embeddings: Some(embeddings),
        require_api_key: api_key.map(str::to_string),
        ..Script::default()
    })
    .expect("server starts")
}

/// Texts the server was sent, request by request (the load-time probe included).
fn inputs(server: &ReplayServer, path: &str) -> Vec<Vec<String>> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .map(|r| {
            r.body["input"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|i| i.as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

fn index_json(root: &Path, env: &[(&str, &str)]) -> Value {
    let mut command = sextant(root);
    command.args(["index", "--json"]).envs(env.iter().copied());
    serde_json::from_str(&stdout_of(&mut command)).expect("json")
}

#[test]
fn vectors_come_from_an_openai_compatible_server_in_batches_and_are_cached() {
    let server = embedding_server(
        ScriptedEmbeddings {
            dimension: 256,
            max_inputs: Some(8),
            ..ScriptedEmbeddings::default()
        },
        Some("k-embed"),
    );
    // A proxy the environment names must never see a request to a server on this machine.
    let proxy = embedding_server(ScriptedEmbeddings::default(), None);
    let repo = copy_fixture("shop");
    // A repository may turn a loopback server on and choose the model; the URL and the key
    // come from the user's environment.
    std::fs::write(
        repo.path().join("sextant.toml"),
        "[vectors]\nprovider = \"openai\"\nmodel = \"hash-256\"\nbatch = 8\nconcurrency = 3\n",
    )
    .expect("write config");
    let url = format!("{}/", server.url());
    let proxy_url = proxy.url();
    let key = [
        ("SEXTANT_EMBED_API_KEY", "k-embed"),
        ("SEXTANT_EMBED_BASE_URL", url.as_str()),
        ("HTTP_PROXY", proxy_url.as_str()),
        ("http_proxy", proxy_url.as_str()),
        ("ALL_PROXY", proxy_url.as_str()),
    ];
    let first = index_json(repo.path(), &key);
    let vectors = &first["vectors"];
    let units = vectors["units"].as_u64().expect("units");
    assert!(units > 30, "{first}");
    assert_eq!(vectors["embedded"], units);
    assert_eq!(vectors["withheld"], 0);
    assert!(
        vectors["model_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("openai-")),
        "{vectors}"
    );
    let sent = inputs(&server, "/v1/embeddings");
    assert!(sent.iter().all(|batch| batch.len() <= 8), "{sent:?}");
    let texts: usize = sent.iter().map(Vec::len).sum();
    // Every unit once, plus the probe that learns the vector length.
    assert_eq!(texts as u64, units + 1, "{sent:?}");
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());

    // Queries embed the task through the same server.
    let hits: Value = serde_json::from_str(&stdout_of(sextant(repo.path()).envs(key).args([
        "search",
        "--semantic",
        "throttle requests",
        "-n",
        "3",
        "--json",
    ])))
    .expect("json");
    assert_eq!(hits[0]["unit"]["path"], "app/throttle.py", "{hits}");
    let why: Value = serde_json::from_str(&stdout_of(sextant(repo.path()).envs(key).args([
        "why-relevant",
        "throttle requests",
        "--json",
    ])))
    .expect("json");
    assert_eq!(why["signals"]["vectors"], true, "{why}");

    // A change sends only the changed file's units.
    let before = server.requests().len();
    let throttle = repo.path().join("app/throttle.py");
    let mut text = std::fs::read_to_string(&throttle).expect("read");
    text.push_str("\n\ndef reset_buckets():\n    \"\"\"Forget every client's request count.\"\"\"\n    return None\n");
    std::fs::write(&throttle, text).expect("write");
    let second = index_json(repo.path(), &key);
    let embedded = second["vectors"]["embedded"].as_u64().expect("embedded");
    assert!((1..=4).contains(&embedded), "{second}");
    let later: Vec<String> = server.requests()[before..]
        .iter()
        .filter(|r| r.path == "/v1/embeddings")
        .flat_map(|r| r.body["input"].as_array().cloned().unwrap_or_default())
        .filter_map(|i| i.as_str().map(str::to_string))
        .filter(|t| t != "dimension probe")
        .collect();
    assert_eq!(later.len() as u64, embedded, "{later:?}");
    assert!(
        later.iter().all(|t| t.starts_with("app/throttle.py")),
        "{later:?}"
    );

    // A task holding a secret is never sent: it is ranked by text and graph, and says why.
    let token = format!("ghp_{}", "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2");
    let before = server.requests().len();
    let task = format!("throttle requests for the token {token}");
    let why: Value = serde_json::from_str(&stdout_of(sextant(repo.path()).envs(key).args([
        "why-relevant",
        task.as_str(),
        "--json",
    ])))
    .expect("json");
    assert_eq!(why["signals"]["vectors"], false, "{why}");
    assert!(
        why["vectors_missing"]
            .as_str()
            .is_some_and(|m| m.contains("secret")),
        "{why}"
    );
    let output = sextant(repo.path())
        .envs(key)
        .args(["search", "--semantic", task.as_str()])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("secret"));
    for request in &server.requests()[before..] {
        assert!(
            !request.body.to_string().contains(&token),
            "sent: {}",
            request.body
        );
    }

    // A server the repository names itself never gets the user's key: refused, said, and
    // the index still works.
    std::fs::write(
        repo.path().join("sextant.toml"),
        format!(
            "[vectors]\nprovider = \"openai\"\nmodel = \"hash-256\"\nbase_url = \"{}\"\n",
            server.url()
        ),
    )
    .expect("write config");
    std::fs::write(&throttle, "def throttle():\n    return 1\n").expect("write");
    let refused = index_json(repo.path(), &[("SEXTANT_EMBED_API_KEY", "k-embed")]);
    let reason = refused["vectors_missing"].as_str().expect("reason");
    assert!(reason.contains("API key"), "{reason}");
    assert_eq!(refused["committed"], true, "{refused}");
    assert!(refused["vectors"].is_null(), "{refused}");
}

#[test]
fn an_ollama_server_that_is_still_loading_is_retried_and_never_receives_a_secret() {
    let server = embedding_server(
        ScriptedEmbeddings {
            dimension: 128,
            fail_first: 2,
            ..ScriptedEmbeddings::default()
        },
        None,
    );
    let repo = copy_fixture("shop");
    // A token elsewhere in a file keeps all of the file's units home, not only the line's.
    let token = format!("ghp_{}", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8");
    std::fs::write(
        repo.path().join("app/deploy.py"),
        format!(
            "def deploy_release(version):\n    \"\"\"Ships a release.\"\"\"\n    return version\n\n\nGITHUB_TOKEN = \"{token}\"\n"
        ),
    )
    .expect("write");
    // A file secret by name (a rule of the repository's own).
    std::fs::write(
        repo.path().join("app/vault.py"),
        "def open_vault(passphrase):\n    return passphrase\n",
    )
    .expect("write");
    std::fs::write(
        repo.path().join("sextant.toml"),
        "[secrets]\nextra = [\"path:^app/vault\\\\.py$\"]\n",
    )
    .expect("write");
    let url = server.url();
    let env = [
        ("SEXTANT_EMBED_PROVIDER", "ollama"),
        ("SEXTANT_EMBED_BASE_URL", url.as_str()),
        ("SEXTANT_EMBED_MODEL", "hash-128"),
    ];
    let summary = index_json(repo.path(), &env);
    let vectors = &summary["vectors"];
    assert!(
        vectors["units"].as_u64().is_some_and(|n| n > 30),
        "{summary}"
    );
    assert!(
        vectors["withheld"].as_u64().is_some_and(|n| n >= 3),
        "{summary}"
    );
    let requests = server.requests();
    let statuses = requests.iter().filter(|r| r.path == "/api/embed").count();
    assert!(statuses >= 3, "two refused, then served: {statuses}");
    for request in &requests {
        let body = request.body.to_string();
        for leaked in [
            token.as_str(),
            "app/deploy.py",
            "deploy_release",
            "app/vault.py",
            "open_vault",
        ] {
            assert!(!body.contains(leaked), "{leaked} was sent: {body}");
        }
    }
    // Text search still finds what the vectors leave out, and the summary says why.
    let why: Value = serde_json::from_str(&stdout_of(
        sextant(repo.path()).envs(env.iter().copied()).args([
            "why-relevant",
            "deploy_release version",
            "--json",
        ]),
    ))
    .expect("json");
    // (found by its name, then kept out of the packed context as the packer keeps secrets)
    let passed = why["passed"].as_array().expect("passed");
    assert!(
        passed.iter().any(|p| p["path"] == "app/deploy.py"
            && p["reason"].as_str().is_some_and(|r| r.contains("secret"))),
        "{why}"
    );
    let human = stdout_of(
        sextant(repo.path())
            .envs(env.iter().copied())
            .args(["index", "--full"]),
    );
    assert!(
        human.contains("left out: their files hold secrets"),
        "{human}"
    );
}

#[test]
fn a_server_that_is_down_or_changes_its_model_is_named_and_the_index_keeps_working() {
    let repo = copy_fixture("shop");
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let down = format!("http://127.0.0.1:{port}");
    let env = |url: &str| -> Vec<(String, String)> {
        vec![
            ("SEXTANT_EMBED_PROVIDER".into(), "openai".into()),
            ("SEXTANT_EMBED_BASE_URL".into(), url.into()),
            ("SEXTANT_EMBED_MODEL".into(), "hash".into()),
        ]
    };
    let mut command = sextant(repo.path());
    command.args(["index", "--json"]).envs(env(&down));
    let summary: Value = serde_json::from_str(&stdout_of(&mut command)).expect("json");
    let reason = summary["vectors_missing"].as_str().expect("reason");
    assert!(reason.contains(&down), "{reason}");
    // `--vectors sync` makes it an error, naming the server.
    let output = sextant(repo.path())
        .args(["index", "--vectors", "sync"])
        .envs(env(&down))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&down));

    // Vectors of one length are cached; the server then answers another length under the
    // same model name: said plainly, never mixed.
    let long = embedding_server(
        ScriptedEmbeddings {
            dimension: 64,
            ..ScriptedEmbeddings::default()
        },
        None,
    );
    let mut command = sextant(repo.path());
    command.args(["index", "--json"]).envs(env(&long.url()));
    let built: Value = serde_json::from_str(&stdout_of(&mut command)).expect("json");
    assert!(
        built["vectors"]["units"].as_u64().is_some_and(|n| n > 0),
        "{built}"
    );
    let short = embedding_server(
        ScriptedEmbeddings {
            dimension: 32,
            ..ScriptedEmbeddings::default()
        },
        None,
    );
    std::fs::write(
        repo.path().join("app/new.py"),
        "def fresh():\n    return 2\n",
    )
    .expect("write");
    let mut command = sextant(repo.path());
    command.args(["index", "--json"]).envs(env(&short.url()));
    let changed: Value = serde_json::from_str(&stdout_of(&mut command)).expect("json");
    let reason = changed["vectors_missing"].as_str().expect("reason");
    assert!(
        reason.contains("vectors of 32 numbers") && reason.contains("64"),
        "{reason}"
    );
    // Nor at query time: the last vectors (64) are not compared with the 32 the model gives.
    let why: Value = serde_json::from_str(&stdout_of(
        sextant(repo.path())
            .envs(env(&short.url()))
            .args(["why-relevant", "fresh", "--json"]),
    ))
    .expect("json");
    assert_eq!(why["signals"]["vectors"], false, "{why}");
    assert!(
        why["vectors_missing"]
            .as_str()
            .is_some_and(|m| m.contains("64 numbers")),
        "{why}"
    );

    // A server that redirects is not followed: the texts never reach where it points.
    let elsewhere = embedding_server(
        ScriptedEmbeddings {
            dimension: 64,
            ..ScriptedEmbeddings::default()
        },
        None,
    );
    let redirecting = embedding_server(
        ScriptedEmbeddings {
            dimension: 64,
            redirect_to: Some(format!("{}/v1/embeddings", elsewhere.url())),
            ..ScriptedEmbeddings::default()
        },
        None,
    );
    let mut command = sextant(repo.path());
    command
        .args(["index", "--json", "--full"])
        .envs(env(&redirecting.url()));
    let redirected: Value = serde_json::from_str(&stdout_of(&mut command)).expect("json");
    assert!(
        redirected["vectors_missing"]
            .as_str()
            .is_some_and(|m| m.contains("307")),
        "{redirected}"
    );
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );

    // A repository cannot turn on a remote server the user config names for other uses.
    let user = tempfile::NamedTempFile::new().expect("user config");
    std::fs::write(
        user.path(),
        "[vectors]\nbase_url = \"https://embed.example.com\"\nmodel = \"m\"\n",
    )
    .expect("write");
    std::fs::write(
        repo.path().join("sextant.toml"),
        "[vectors]\nprovider = \"openai\"\n",
    )
    .expect("write");
    let output = sextant(repo.path())
        .env("SEXTANT_CONFIG", user.path())
        .args(["index", "--vectors", "sync"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not on this machine"), "{stderr}");

    // A repository cannot send code to a server elsewhere, nor choose the key.
    for config in [
        "[vectors]\nbase_url = \"https://embed.example.com\"\n",
        "[vectors]\napi_key_env = \"AWS_SECRET_ACCESS_KEY\"\n",
    ] {
        std::fs::write(repo.path().join("sextant.toml"), config).expect("write");
        let output = sextant(repo.path()).args(["index"]).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{config}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("user config"),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // A server provider without a model name is a usage error that says what to set.
    std::fs::write(
        repo.path().join("sextant.toml"),
        "[vectors]\nprovider = \"ollama\"\n",
    )
    .expect("write");
    let output = sextant(repo.path())
        .args(["index", "--vectors", "sync"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("SEXTANT_EMBED_MODEL"));
}
