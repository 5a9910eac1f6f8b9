//! The secrets corpus (issue 17): realistic secret files and contents — named as secrets and
//! innocently named, direct and through in-repository symlinks — in a repository whose task
//! is about exactly those files. None of them reaches the model in any prompt of `run` and
//! `execute`, and none is printed by `why-relevant --context`.
//!
//! The fake secrets are generated when the test runs (split literals, a seeded generator), so
//! this file holds nothing secret-shaped.

use std::path::Path;

use serde_json::json;
use sextant::llm::replay::Reply;

use crate::support::{git, impact, sextant, stdout_of, tiny_model, tiny_model_args};

/// A deterministic generator (xorshift) of made-up key material.
struct Fake(u64);

impl Fake {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick(&mut self, alphabet: &str, len: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        (0..len)
            .map(|_| chars[(self.next() % chars.len() as u64) as usize])
            .collect()
    }

    fn alnum(&mut self, len: usize) -> String {
        self.pick(ALNUM, len)
    }

    fn base64(&mut self, len: usize) -> String {
        self.pick(&format!("{ALNUM}+/"), len)
    }
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const DASHES: &str = "-----";

/// An armored private key block of `kind` with `lines` lines of material.
fn armored(fake: &mut Fake, kind: &str, lines: usize) -> (String, String) {
    let body: Vec<String> = (0..lines).map(|_| fake.base64(64)).collect();
    let marker = body[1].clone();
    (
        format!(
            "{DASHES}BEGIN {kind}{DASHES}\n{}\n{DASHES}END {kind}{DASHES}\n",
            body.join("\n")
        ),
        marker,
    )
}

/// The corpus: (path, content, a piece of secret that must never be seen).
fn corpus() -> Vec<(&'static str, String, String)> {
    let mut f = Fake(0x5eed_0017_c0ff_ee00);
    let private_key = ["PRIVATE", "KEY"].join(" ");
    let db_password = f.alnum(24);
    let stripe = format!("{}_{}_{}", "sk", "live", f.alnum(24));
    let (openssh, openssh_marker) = armored(&mut f, &["OPENSSH", &private_key].join(" "), 6);
    let (ecdsa, ecdsa_marker) = armored(&mut f, &["OPENSSH", &private_key].join(" "), 5);
    let (dsa, dsa_marker) = armored(&mut f, &["DSA", &private_key].join(" "), 8);
    let (pgp, pgp_marker) = armored(&mut f, &["PGP", &private_key, "BLOCK"].join(" "), 10);
    let (rsa, rsa_marker) = armored(&mut f, &["RSA", &private_key].join(" "), 8);
    let kube_key = f.base64(120);
    let ppk_private = f.base64(48);
    let tf_secret = f.alnum(40);
    let aws_secret = f.base64(40);
    let github = format!("{}_{}", "ghp", f.alnum(36));
    let yaml_password = format!("{}{}", f.alnum(12), f.pick("0123456789", 8));
    vec![
        (
            ".env",
            format!(
                "# deploy database settings\nDATABASE_URL=postgres://deploy:{db_password}@db:5432/app\nSTRIPE_SECRET_KEY={stripe}\n"
            ),
            db_password.clone(),
        ),
        ("id_ecdsa", ecdsa, ecdsa_marker),
        ("id_dsa", dsa, dsa_marker),
        ("id_rsa", rsa, rsa_marker),
        (
            ".pgpass",
            format!("db.internal:5432:app:deploy:{db_password}x\n"),
            format!("{db_password}x"),
        ),
        (
            "kubeconfig",
            format!(
                "apiVersion: v1\nkind: Config\nusers:\n- name: deploy\n  user:\n    client-key-data: {kube_key}\n"
            ),
            kube_key.clone(),
        ),
        (
            "deploy.ppk",
            format!(
                "{}-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy key\nPrivate-Lines: 1\n{ppk_private}\n",
                "PuTTY"
            ),
            ppk_private.clone(),
        ),
        (
            "terraform.tfvars",
            format!("deploy_database_password = \"{tf_secret}\"\n"),
            tf_secret.clone(),
        ),
        ("keys/prod.asc", pgp, pgp_marker),
        (
            "notes.txt",
            format!("Deploy notes: the database key for the config rotation.\n\n{openssh}"),
            openssh_marker,
        ),
        (
            "config.py",
            format!(
                "\"\"\"Deploy configuration for the database.\"\"\"\n\nAWS_SECRET_ACCESS_KEY = \"{aws_secret}\"\nDATABASE = \"app\"\n"
            ),
            aws_secret.clone(),
        ),
        (
            "app/github.py",
            format!(
                "\"\"\"Deploy through GitHub.\"\"\"\n\nTOKEN = \"{github}\"\n\n\ndef deploy():\n    return TOKEN\n"
            ),
            github.clone(),
        ),
        (
            "settings.yml",
            format!("deploy:\n  database:\n    user: deploy\n    password: {yaml_password}\n"),
            yaml_password.clone(),
        ),
    ]
}

/// Innocent names pointing at secrets: in-repository symlinks.
const LINKS: &[(&str, &str)] = &[
    ("docs/cfg.txt", "../.env"),
    ("docs/deploy-key.txt", "../id_ecdsa"),
];

const TASK: &str = "rotate the deploy database password and keys in the config";

fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    for (path, text, _) in corpus() {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    std::fs::create_dir_all(root.join("docs")).expect("mkdir");
    for (link, target) in LINKS {
        std::os::unix::fs::symlink(target, root.join(link)).expect("symlink");
    }
    std::fs::write(
        root.join("app/deploy.py"),
        "\"\"\"Deploy: rotate the database password and keys read from the config.\"\"\"\n\n\ndef rotate(config):\n    return config\n\n\n# end\n",
    )
    .expect("write");
    git(root, &["init", "--quiet", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "--quiet", "-m", "deploy"]);
    dir
}

fn assert_nothing_leaks(what: &str, text: &str) {
    for (path, _, secret) in corpus() {
        assert!(!text.contains(&secret), "{what} leaks {path}");
    }
}

#[test]
fn no_secret_is_printed_by_why_relevant_context() {
    let dir = repository();
    let root = dir.path();
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let context = stdout_of(sextant(root).args(["why-relevant", TASK, "--context"]));
    assert_nothing_leaks("--context", &context);
    assert!(context.contains("app/deploy.py"), "{context}");
    // The secrets were candidates (the test can fail) and were withheld, saying so.
    let report: serde_json::Value = serde_json::from_str(&stdout_of(sextant(root).args([
        "why-relevant",
        TASK,
        "--json",
        "--max-files",
        "30",
    ])))
    .expect("json");
    let withheld: Vec<&str> = report["passed"]
        .as_array()
        .expect("passed")
        .iter()
        .filter(|p| {
            p["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("withheld"))
        })
        .filter_map(|p| p["path"].as_str())
        .collect();
    for (expected, _, _) in corpus() {
        assert!(
            withheld.contains(&expected),
            "{expected} not withheld: {withheld:?}"
        );
    }
    // The walk does not follow symlinks: the links are never candidates at all.
    let packed: Vec<&str> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(!packed.iter().any(|p| p.starts_with("docs/")), "{packed:?}");
    assert_nothing_leaks("--json", &report.to_string());
}

#[test]
fn no_secret_reaches_the_model_in_any_prompt() {
    let dir = repository();
    let root = dir.path();
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let answers = tempfile::NamedTempFile::new().expect("answers");
    std::fs::write(answers.path(), "in place\nall at once\n").expect("write");
    // Five steps whose files are the secrets themselves, named and innocent, direct and
    // through symlinks.
    let step_files: [&[&str]; 5] = [
        &[".env", "docs/cfg.txt", "id_rsa", "app/deploy.py"],
        &["id_ecdsa", "id_dsa", "docs/deploy-key.txt", "keys/prod.asc"],
        &[".pgpass", "kubeconfig", "deploy.ppk", "terraform.tfvars"],
        &["notes.txt", "config.py", "settings.yml", "app/github.py"],
        &["app/deploy.py"],
    ];
    let steps: Vec<serde_json::Value> = step_files
        .iter()
        .enumerate()
        .map(|(n, files)| {
            json!({
                "title": format!("Rotation step {}", n + 1),
                "files": files,
                "new_files": [],
                "tests": [],
                "validate": "true",
                "rollback": "revert this step's commit"
            })
        })
        .collect();
    let edit = |n: usize| {
        Reply::text(format!(
            "app/deploy.py\n<<<<<<< SEARCH\n# end\n=======\n# rotated {n}\n# end\n>>>>>>> REPLACE\n"
        ))
    };
    let mut replies = vec![
        Reply::text(
            json!({"questions": [
                {"question": "Should the keys be rotated in place or moved to a vault?",
                 "decision": "key storage", "options": ["in place", "a vault"]},
                {"question": "Should every credential rotate at once or one service at a time?",
                 "decision": "rollout", "options": ["all at once", "one at a time"]}
            ]})
            .to_string(),
        ),
        Reply::text(
            json!({"steps": steps, "impact": impact("Deploy credentials change; watch logins. Roll back by reverting the branch.")})
                .to_string(),
        ),
    ];
    replies.extend((1..=5).map(edit));
    let server = tiny_model(replies);
    let llm = tiny_model_args(&server);
    stdout_of(
        sextant(root)
            .args(["run", TASK, "--answers"])
            .arg(answers.path())
            .args(&llm),
    );
    stdout_of(sextant(root).arg("approve"));
    let executed = stdout_of(sextant(root).arg("execute").args(&llm));
    assert!(executed.contains("all 5 steps done"), "{executed}");
    let requests = server.requests();
    let chats: Vec<String> = requests
        .iter()
        .filter(|r| r.path.contains("chat"))
        .map(|r| r.body.to_string())
        .collect();
    assert_eq!(chats.len(), 7, "ask, plan, five steps");
    for (n, chat) in chats.iter().enumerate() {
        assert_nothing_leaks(&format!("prompt {n}"), chat);
    }
    // The model is told the files are withheld, and sees the harmless one.
    assert!(chats[2].contains(".env is withheld"), "{}", chats[2]);
    assert!(
        chats[2].contains("docs/cfg.txt is withheld"),
        "{}",
        chats[2]
    );
    assert!(chats[2].contains("Current app/deploy.py"), "{}", chats[2]);
    assert!(chats[5].contains("config.py is withheld"), "{}", chats[5]);
    assert!(Path::new(&root.join(".env")).exists());
}

#[test]
fn settings_add_patterns_and_only_the_user_may_allow() {
    let dir = repository();
    let root = dir.path();
    let mut fake = Fake(7);
    let internal = format!("{}_{}", "corp", fake.pick("0123456789abcdef", 32));
    std::fs::write(
        root.join("app/internal.py"),
        format!("\"\"\"Deploy database helper.\"\"\"\n\nDEPLOY_ID = \"{internal}\"\n"),
    )
    .expect("write");
    // The repository adds a pattern of its own: files matching it are withheld.
    std::fs::write(
        root.join("sextant.toml"),
        "[secrets]\nextra = ['corp_[0-9a-f]{32}']\n",
    )
    .expect("write");
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let context =
        stdout_of(sextant(root).args(["why-relevant", "deploy database helper", "--context"]));
    assert!(!context.contains(&internal), "{context}");
    // A repository cannot exempt anything: `allow` there is refused.
    std::fs::write(
        root.join("sextant.toml"),
        "[secrets]\nallow = ['path:.*']\n",
    )
    .expect("write");
    let refused = sextant(root)
        .args(["why-relevant", "deploy database helper", "--context"])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("read from your user config only"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // The user can: their config exempts the settings file they know is fake.
    std::fs::remove_file(root.join("sextant.toml")).expect("rm");
    let config = tempfile::NamedTempFile::new().expect("config");
    std::fs::write(
        config.path(),
        "[secrets]\nallow = ['path:^settings\\.yml$']\n",
    )
    .expect("write");
    let allowed = stdout_of(sextant(root).env("SEXTANT_CONFIG", config.path()).args([
        "why-relevant",
        "deploy database user password settings",
        "--context",
    ]));
    let (_, _, yaml_secret) = corpus()
        .into_iter()
        .find(|(path, _, _)| *path == "settings.yml")
        .expect("settings.yml");
    assert!(allowed.contains(&yaml_secret), "{allowed}");
    // A bad pattern is a usage error, not a silent no-op.
    std::fs::write(config.path(), "[secrets]\nextra = ['(unclosed']\n").expect("write");
    let bad = sextant(root)
        .env("SEXTANT_CONFIG", config.path())
        .args(["why-relevant", "x"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
}
