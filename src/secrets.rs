//! Decides whether a file is a secret that must never be sent to a model or printed as
//! context, by its name and by its content.
//!
//! Why: a name filter alone lets secrets through. A `.env` reached through an in-repository
//! symlink, `id_ecdsa`, `.pgpass`, `kubeconfig`, `terraform.tfvars`, a PGP key in
//! `keys/prod.asc` or an OpenSSH key pasted into `notes.txt` all went to the model verbatim.
//! Every path that sends or prints file contents asks this module first, and withholds the
//! file unless the verdict is [`Verdict::Clean`].
//!
//! * **Names** ([`SecretRules::check_name`]): file names and extensions that are secret by
//!   convention (`.env*` but not `.env.example`, SSH private keys but not `*.pub`, `*.ppk`,
//!   `*.pem`, `*.key`, `*.p12`, `.pgpass`, `.netrc`, `.npmrc`, `kubeconfig`, `*.tfvars`,
//!   `*.tfstate`, `.docker/config.json`, …). A name that merely contains `secret`,
//!   `credential` or `password` counts only with a data or configuration extension or none
//!   (`secrets.yaml`, `credentials`, `db/password.txt`), never for code (`secret_manager.py`,
//!   `secrets.rs`): code is judged by its content.
//! * **Content** ([`SecretRules::check_content`], [`SecretRules::check`]): the default rule
//!   set of [gitleaks](https://github.com/gitleaks/gitleaks) (MIT; vendored unmodified in
//!   `secrets/gitleaks.toml` next to this file, version in [`GITLEAKS_VERSION`]), with its
//!   semantics: a keyword prefilter (one Aho-Corasick pass decides which rules run at all),
//!   the secret capture group, the entropy floor, rule and global allowlists (regexes, stop
//!   words, paths: lock files, vendored trees, images) and the inline `gitleaks:allow`
//!   marker. Go RE2 patterns are compiled byte-wise with ASCII classes as Go does, after
//!   escaping the literal braces Rust rejects. The file is parsed on first use; each rule's
//!   regex compiles when a keyword first calls for it. Two gitleaks rules are left out
//!   (`generic-api-key`: false alarms on ordinary code; `private-key`: flags code that names
//!   the PEM header lines), see [`SecretRules::left_out`]. Own rules add private key blocks
//!   that carry key material (PEM, OpenSSH, PGP, SSH2, also inside JSON strings), PuTTY key
//!   files, kubeconfig `client-key-data`, Docker `auths`, and two heuristics: passwords in
//!   URLs (`postgres://app:…@db`) and high-entropy literals assigned to names like
//!   `*_SECRET`, `*_TOKEN`, `PASSWORD`, `API_KEY` (at least 16 characters, letters and
//!   digits, entropy above 3.5 bits; references like `${X}`, `os.environ[...]`,
//!   `settings.SECRET_KEY`, and placeholders like `changeme`, `<token>`, `xxxx` are not
//!   secrets). The heuristics skip test, fixture and example files when the path is known
//!   (realistic made-up tokens abound there), and names like `testToken`.
//! * **Settings** ([`SecretRules::new`]): extra patterns that mark content (or, prefixed
//!   `path:`, paths) secret; allow patterns that exempt matched text (or, prefixed `path:`,
//!   files).
//! * **Files** ([`SecretRules::check_file`], [`SecretRules::read_if_clean`]): resolve
//!   symlinks, check the names of both the link and its target, refuse a target outside the
//!   repository, read at most [`MAX_SCAN_BYTES`].

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::bytes::{Captures, Regex, RegexBuilder};
use serde::Deserialize;

/// The vendored gitleaks rule set (MIT; attribution and version in the file's header).
const GITLEAKS_TOML: &str = include_str!("secrets/gitleaks.toml");

/// Which upstream gitleaks rule set is vendored in `secrets/gitleaks.toml`.
pub const GITLEAKS_VERSION: &str = "gitleaks v8.30.1 (83d9cd684c87d95d656c1458ef04895a7f1cbd8e)";

/// The most bytes [`SecretRules::check_file`] reads; a longer file is [`Verdict::TooLarge`].
pub const MAX_SCAN_BYTES: usize = 2 * 1024 * 1024;

/// gitleaks rules deliberately not used, with the reason.
const LEFT_OUT: &[(&str, &str)] = &[
    (
        "generic-api-key",
        "too many false alarms on ordinary source; replaced by the own secret-assignment rule",
    ),
    (
        "private-key",
        "flags code that names both PEM header lines; replaced by the own private-key-block \
         rule, which needs key material after the header",
    ),
];

/// The inline marker that exempts a line (gitleaks' convention).
const ALLOW_MARKER: &[u8] = b"gitleaks:allow";

/// A setting that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// An extra or allow pattern is not a valid regular expression.
    #[error("secret pattern `{pattern}` is not a valid regular expression: {source}")]
    Pattern {
        /// The pattern as given (with its `path:`/`content:` prefix, if any).
        pattern: String,
        /// Why it does not compile.
        #[source]
        source: regex::Error,
    },
}

/// What the rules say about a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing secret found: the file may be shown.
    Clean,
    /// The path (or a symlink's target) is secret by name; the string names the rule.
    SecretName(String),
    /// The content holds a secret.
    SecretContent {
        /// Which rule matched (a gitleaks rule id, an own rule id, or `extra: <pattern>`).
        rule: String,
        /// The 1-based line where the secret starts.
        line: usize,
    },
    /// The path resolves (through a symlink or `..`) to a file outside the repository.
    Outside,
    /// The file is larger than [`MAX_SCAN_BYTES`] and was not scanned.
    TooLarge,
}

impl Verdict {
    /// Whether the file may be sent or printed.
    pub fn is_clean(&self) -> bool {
        matches!(self, Verdict::Clean)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Clean => write!(f, "clean"),
            Verdict::SecretName(rule) => write!(f, "secret by name ({rule})"),
            Verdict::SecretContent { rule, line } => {
                write!(f, "secret content at line {line} ({rule})")
            }
            Verdict::Outside => write!(f, "resolves outside the repository"),
            Verdict::TooLarge => write!(f, "larger than {MAX_SCAN_BYTES} bytes, not scanned"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// gitleaks configuration, as far as it is read here.

#[derive(Deserialize)]
struct GlConfig {
    #[serde(default)]
    allowlist: Option<GlAllowlist>,
    #[serde(default)]
    allowlists: Vec<GlAllowlist>,
    #[serde(default)]
    rules: Vec<GlRule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GlRule {
    id: String,
    regex: Option<String>,
    path: Option<String>,
    entropy: Option<f64>,
    #[serde(default)]
    secret_group: usize,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    allowlists: Vec<GlAllowlist>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GlAllowlist {
    condition: Option<String>,
    regex_target: Option<String>,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Compiled rules.

/// What an allowlist regex is tested against.
#[derive(Clone, Copy)]
enum Target {
    Secret,
    Match,
    Line,
}

/// A compiled gitleaks allowlist.
struct Allowlist {
    all: bool,
    target: Target,
    regex: Option<Regex>,
    paths: Option<Regex>,
    stopwords: Option<AhoCorasick>,
}

/// A finding, before allowlists are applied.
struct Candidate<'t> {
    secret: &'t [u8],
    matched: &'t [u8],
    line: &'t [u8],
}

impl Allowlist {
    fn compile(list: &GlAllowlist) -> Result<Allowlist, String> {
        let stopwords = if list.stopwords.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .build(&list.stopwords)
                    .map_err(|e| e.to_string())?,
            )
        };
        Ok(Allowlist {
            all: list
                .condition
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case("and")),
            target: match list.regex_target.as_deref() {
                Some("match") => Target::Match,
                Some("line") => Target::Line,
                _ => Target::Secret,
            },
            regex: join_go(&list.regexes)?,
            paths: join_go(&list.paths)?,
            stopwords,
        })
    }

    /// Whether the path alone exempts the file (gitleaks: `OR` lists with a matching path,
    /// `AND` lists made of paths only). Every name of the file must be exempt.
    fn allows_path(&self, paths: &[&str]) -> bool {
        let Some(re) = &self.paths else { return false };
        if self.all && (self.regex.is_some() || self.stopwords.is_some()) {
            return false;
        }
        !paths.is_empty() && paths.iter().all(|p| re.is_match(p.as_bytes()))
    }

    /// Whether this finding is exempt.
    fn allows(&self, c: &Candidate<'_>, paths: &[&str]) -> bool {
        let target = match self.target {
            Target::Secret => c.secret,
            Target::Match => c.matched,
            Target::Line => c.line,
        };
        let regex = self
            .regex
            .as_ref()
            .map(|re| !target.is_empty() && re.is_match(target));
        let stop = self
            .stopwords
            .as_ref()
            .map(|ac| !c.secret.is_empty() && ac.is_match(c.secret));
        if self.all {
            let path = self
                .paths
                .as_ref()
                .map(|re| !paths.is_empty() && paths.iter().all(|p| re.is_match(p.as_bytes())));
            let checks = [regex, stop, path];
            checks.iter().any(Option::is_some) && checks.iter().flatten().all(|ok| *ok)
        } else {
            regex == Some(true) || stop == Some(true)
        }
    }
}

/// Extra checks a rule needs beyond its regex.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// gitleaks semantics: secret group, entropy, allowlists.
    Plain,
    /// The own assignment rule: the name must be a secret's, the value a plausible secret.
    Assignment,
    /// The own URL rule: the password in `scheme://user:password@host` must be a plausible one.
    UrlPassword,
}

/// One content rule. Its regex compiles on first use: a typical repository triggers only a
/// few of the vendored rules, and compiling all of them would cost tens of milliseconds.
struct ContentRule {
    id: String,
    /// The pattern (for vendored rules, already translated from Go).
    pattern: String,
    /// The compiled pattern; `None` if it does not compile (see [`SecretRules::left_out`]).
    regex: OnceLock<Option<Regex>>,
    /// Only for files whose path matches.
    path: Option<Regex>,
    entropy: Option<f64>,
    secret_group: usize,
    allowlists: Vec<Allowlist>,
    check: Check,
    /// Whether the global path allowlist (lock files, vendored trees, images) applies.
    path_exemptable: bool,
    /// Whether the rule runs without a keyword hit.
    always: bool,
    /// A built-in rule (gitleaks or own), as opposed to a user's extra pattern.
    builtin: bool,
    /// The rule is heuristic: it does not run on test, fixture and example files.
    skips_tests: bool,
}

impl ContentRule {
    fn regex(&self) -> Option<&Regex> {
        self.regex
            .get_or_init(|| ascii_regex(&self.pattern).ok())
            .as_ref()
    }
}

/// One name rule, tested against the lower-cased, `/`-separated path.
struct NameRule {
    id: String,
    regex: Regex,
    unless: Option<Regex>,
}

/// Compiled secret rules: names, content, settings. Build once and share.
pub struct SecretRules {
    names: Vec<NameRule>,
    extra_names: Vec<NameRule>,
    content: Vec<ContentRule>,
    /// Keyword automaton; `keyword_rules[pattern]` lists the rules it triggers.
    keywords: Option<AhoCorasick>,
    keyword_rules: Vec<Vec<usize>>,
    global: Vec<Allowlist>,
    allow_paths: Vec<Regex>,
    allow_text: Vec<Regex>,
    dropped: Vec<(String, String)>,
    gitleaks_total: usize,
    /// Verdicts of texts already scanned, by blake3 of their names and bytes: a warm server
    /// packs the same files for query after query, and scanning is most of packing's cost.
    /// The same names and bytes always get the same verdict from the same rules.
    memo: std::sync::Mutex<HashMap<[u8; 32], Found>>,
}

/// What a scan found: the rule and the 1-based line of the earliest secret, if any.
type Found = Option<(String, usize)>;

/// Texts shorter than this are scanned every time (hashing would cost about as much).
const MEMO_MIN_BYTES: usize = 4_096;
/// Verdicts remembered at most; the memo starts over beyond.
const MEMO_ENTRIES: usize = 20_000;

impl fmt::Debug for SecretRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRules")
            .field("name_rules", &(self.names.len() + self.extra_names.len()))
            .field("content_rules", &self.content.len())
            .field("dropped", &self.dropped.len())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// Own rules.

/// Own name rules: (id, regex on the lower-cased path, optional exception).
const NAME_RULES: &[(&str, &str, Option<&str>)] = &[
    (
        "dotenv",
        r"(?:^|/)(?:\.env(?:rc)?(?:\.[^/]*)?|[^/]+\.env)$",
        Some(r"\.(?:example|sample|template|tmpl|tpl|dist|defaults|schema)$"),
    ),
    (
        "ssh-private-key-file",
        r"(?:^|/)(?:id_(?:rsa|dsa|ecdsa|ed25519|xmss)(?:_sk)?(?:[._-][^/]*)?|ssh_host_[a-z0-9]+_key)$",
        Some(r"\.pub$|\.(?:rs|py|go|js|ts|java|c|h|md|txt)$"),
    ),
    (
        "ssh-directory",
        r"(?:^|/)\.ssh/[^/]+$",
        Some(r"\.pub$|/known_hosts(?:\.old)?$|/authorized_keys2?$|/config$"),
    ),
    (
        "key-file",
        r"\.(?:pem|key|p12|pfx|ppk|jks|keystore|bks|p8|pkcs8|pkcs12|kdbx|kdb|keychain|keychain-db|keytab|gpg|pgp)$",
        None,
    ),
    (
        "gnupg-keyring",
        r"(?:^|/)(?:secring\.[a-z]+|private-keys-v1\.d/[^/]+)$",
        None,
    ),
    (
        "credential-dotfile",
        r"(?:^|/)(?:\.pgpass|[._]netrc|\.npmrc|\.pypirc|\.git-credentials|\.htpasswd|\.my\.cnf|\.s3cfg|\.boto|\.dockercfg|\.dockerconfigjson|\.vault-token|\.terraformrc|terraform\.rc|\.gem/credentials)$",
        None,
    ),
    (
        "kubeconfig",
        r"(?:^|/)(?:[^/]*[._-])?kubeconfig(?:\.ya?ml|\.json)?$|(?:^|/)\.kube/config$",
        None,
    ),
    (
        "terraform-variables",
        r"\.(?:tfvars|tfvars\.json|tfstate|tfstate\.backup)$",
        None,
    ),
    ("docker-config", r"(?:^|/)\.docker/config\.json$", None),
    (
        "secret-config-file",
        r"(?:^|/)\.?[a-z0-9_-]*(?:secret|credential|passwords?)[a-z0-9_-]*(?:\.(?:ya?ml|json|toml|ini|env|conf|cfg|properties|xml|txt|plist|csv|dat|enc))?$",
        None,
    ),
    (
        "google-client-secret",
        r"(?:^|/)client_secret[^/]*\.json$",
        None,
    ),
];

/// Names of private-key material formats (the key body must follow the header).
const PRIVATE_KEY: &str = r"(?:-----BEGIN[ A-Z0-9_-]{0,100}(?:PRIVATE|SECRET) KEY(?: BLOCK)?-----|---- BEGIN SSH2 (?:ENCRYPTED )?PRIVATE KEY ----)(?:[ \t\r\n]|\\[rn])+(?:[A-Za-z0-9-]+:[^\r\n\\]*(?:\r?\n|\\r\\n|\\n)(?:[ \t\r\n]|\\[rn])*)*[A-Za-z0-9+/=]{32}";

/// Assignments of a literal to a name; the name and value are judged in code.
const ASSIGNMENT: &str = r#"(?i)(?:^|[^0-9a-z_.-])(?P<name>[0-9a-z_.-]*?(?:secret|token|passw(?:or)?d|pwd|passphrase|credentials?|auth|key))["'`]?\]?[ \t]*(?::=|=>|:|=)[ \t]*(?:"(?P<dq>[^"\r\n]{16,})"|'(?P<sq>[^'\r\n]{16,})'|`(?P<bq>[^`\r\n]{16,})`|(?P<bare>[^\s"'`,;(){}\[\]<>=-][^\s"'`,;(){}\[\]<>]{15,}))"#;

/// Secrets made only of shell variable references (`${user}:${!token}`): an own addition to
/// gitleaks' global allowlist, which misses indirect expansion.
const VARIABLE_ONLY: &str = r#"^["']?(?:\$\{[!#]?[A-Za-z_][A-Za-z0-9_]*(?:[:-][^}]*)?\}|\$[A-Za-z_][A-Za-z0-9_]*|\$\([^)]*\)|[:@/])+["']?$"#;

/// Own content rules: id, regex, keywords, entropy floor, check, exemptable by global paths.
struct OwnRule {
    id: &'static str,
    regex: &'static str,
    keywords: &'static [&'static str],
    entropy: Option<f64>,
    check: Check,
    path_exemptable: bool,
}

const OWN_RULES: &[OwnRule] = &[
    OwnRule {
        id: "private-key-block",
        regex: PRIVATE_KEY,
        keywords: &["private key", "secret key", "ssh2 "],
        entropy: None,
        check: Check::Plain,
        path_exemptable: false,
    },
    OwnRule {
        id: "putty-private-key",
        regex: r"(?m)^PuTTY-User-Key-File-[0-9]+: *[A-Za-z0-9-]+[ \t]*\r?$",
        keywords: &["putty-user-key-file-"],
        entropy: None,
        check: Check::Plain,
        path_exemptable: false,
    },
    OwnRule {
        id: "kubeconfig-client-key",
        regex: r#"client-key-data["']?[ \t]*:[ \t]*["']?([A-Za-z0-9+/]{40,}={0,2})"#,
        keywords: &["client-key-data"],
        entropy: None,
        check: Check::Plain,
        path_exemptable: true,
    },
    OwnRule {
        id: "docker-registry-auth",
        regex: r#""auth"[ \t]*:[ \t]*"([A-Za-z0-9+/]{12,}={0,2})""#,
        keywords: &["\"auths\""],
        entropy: Some(3.0),
        check: Check::Plain,
        path_exemptable: true,
    },
    OwnRule {
        id: "url-credentials",
        regex: r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@'\x22`]{1,64}:([^\s:/@'\x22`]{8,128})@[a-z0-9][a-z0-9.-]*",
        keywords: &["://"],
        entropy: Some(3.0),
        check: Check::UrlPassword,
        path_exemptable: true,
    },
    OwnRule {
        id: "secret-assignment",
        regex: ASSIGNMENT,
        keywords: &[
            "secret",
            "token",
            "passw",
            "pwd",
            "passphrase",
            "credential",
            "auth",
            "key",
        ],
        entropy: Some(3.5),
        check: Check::Assignment,
        path_exemptable: true,
    },
];

/// Name words that make an assignment not a secret even when it ends like one.
const NOT_SECRET_NAMES: &[&str] = &[
    "public",
    "publishable",
    "pubkey",
    "csrf",
    "xsrf",
    "page",
    "continuation",
    "cursor",
    "cache",
    "sort",
    "primary",
    "foreign",
    "partition",
    "idempotency",
    "lookup",
    "sitekey",
    "nonce",
];

/// Words in a name that mark test data (`testToken`, `FAKE_API_KEY`, `mock_secret`).
const TEST_NAME_WORDS: &[&str] = &[
    "test",
    "tests",
    "testing",
    "fake",
    "mock",
    "mocked",
    "dummy",
    "example",
    "sample",
    "stub",
    "fixture",
    "placeholder",
];

/// Paths of tests, fixtures and examples, where realistic-looking made-up secrets abound.
const TEST_PATH: &str = r"(?:^|/)(?:tests?|testing|testdata|test_?data|__tests__|spec|specs|fixtures?|__fixtures__|mocks?|__mocks__|examples?|e2e)/|(?:^|/)test_[^/]*$|_test\.[a-z0-9]+$|\.(?:test|spec)\.[a-z0-9]+$|(?:^|/)[^/]*tests?\.(?:java|kt|scala|cs|swift|php|groovy)$|(?:^|/)conftest\.py$";

/// Whether `path` is a test, fixture or example file.
fn is_test_path(path: &str) -> bool {
    static TEST: OnceLock<Option<Regex>> = OnceLock::new();
    TEST.get_or_init(|| ascii_regex(TEST_PATH).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(path.to_ascii_lowercase().as_bytes()))
}

/// The words of an identifier: split at `_`, `-`, `.` and lower-to-upper case changes.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word).to_ascii_lowercase());
            }
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower && !word.is_empty() {
            out.push(std::mem::take(&mut word).to_ascii_lowercase());
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        word.push(c);
    }
    if !word.is_empty() {
        out.push(word.to_ascii_lowercase());
    }
    out
}

/// Name endings that mark a key as a secret one (after removing `_`, `-`, `.`).
const SECRET_KEY_ENDINGS: &[&str] = &[
    "apikey",
    "secretkey",
    "privatekey",
    "signingkey",
    "encryptionkey",
    "masterkey",
    "authkey",
    "clientkey",
    "appkey",
    "licensekey",
    "sessionkey",
    "hmackey",
    "cryptokey",
    "deploykey",
    "sshkey",
    "servicekey",
    "adminkey",
    "writekey",
    "accountkey",
    "storagekey",
    "subscriptionkey",
    "serverkey",
    "secretaccesskey",
];

/// Words in a value that make it a placeholder or test value, not a secret.
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "changeme",
    "change_me",
    "change-me",
    "placeholder",
    "your",
    "xxxx",
    "****",
    "....",
    "redacted",
    "dummy",
    "sample",
    "replace",
    "insert",
    "todo",
    "fixme",
    "secret",
    "password",
    "passwd",
    "token",
    "test",
    "fake",
    "mock",
    "${",
    "{{",
    "}}",
    "%(",
    "://",
    "os.environ",
    "getenv",
    "process.env",
    "env[",
    "env(",
    "environ",
];

// ---------------------------------------------------------------------------------------

impl SecretRules {
    /// The default rules plus the user's settings.
    ///
    /// `extra` patterns mark files secret: a pattern prefixed `path:` is matched against the
    /// `/`-separated repository-relative path (and a symlink's target), any other (optionally
    /// prefixed `content:`) against the content. `allow` patterns exempt: `path:` ones exempt
    /// files whose every name matches (no name or content check), others exempt findings
    /// whose matched text or secret they match. Patterns use Rust `regex` syntax.
    pub fn new(extra: &[String], allow: &[String]) -> Result<SecretRules, SecretsError> {
        let mut rules = SecretRules::builtin();
        for pattern in extra {
            let (is_path, body) = split_setting(pattern);
            let regex = user_regex(pattern, body)?;
            if is_path {
                rules.extra_names.push(NameRule {
                    id: format!("extra: {pattern}"),
                    regex,
                    unless: None,
                });
            } else {
                rules.content.push(ContentRule {
                    id: format!("extra: {pattern}"),
                    pattern: body.to_string(),
                    regex: OnceLock::from(Some(regex)),
                    path: None,
                    entropy: None,
                    secret_group: 0,
                    allowlists: Vec::new(),
                    check: Check::Plain,
                    path_exemptable: false,
                    always: true,
                    builtin: false,
                    skips_tests: false,
                });
            }
        }
        for pattern in allow {
            let (is_path, body) = split_setting(pattern);
            let regex = user_regex(pattern, body)?;
            if is_path {
                rules.allow_paths.push(regex);
            } else {
                rules.allow_text.push(regex);
            }
        }
        Ok(rules)
    }

    /// The default rules, compiled once on first use.
    pub fn default_rules() -> &'static SecretRules {
        static DEFAULT: OnceLock<SecretRules> = OnceLock::new();
        DEFAULT.get_or_init(SecretRules::builtin)
    }

    /// Rules that are not in use, with the reason: deliberately left out, or not compilable
    /// with the Rust `regex` crate. Nothing but the deliberate choices in a healthy build.
    /// Compiles every rule, so it costs what [`SecretRules::default_rules`] saves; meant for
    /// tests and diagnostics.
    pub fn left_out(&self) -> Vec<(String, String)> {
        let mut out = self.dropped.clone();
        for rule in &self.content {
            if rule.regex().is_none() {
                let why = ascii_regex(&rule.pattern).err().unwrap_or_default();
                out.push((rule.id.clone(), why));
            }
        }
        out
    }

    /// How many gitleaks rules the vendored file has, and how many of them are in use.
    pub fn gitleaks_rule_counts(&self) -> (usize, usize) {
        let in_use = self
            .content
            .iter()
            .filter(|r| r.builtin && !OWN_RULES.iter().any(|o| o.id == r.id))
            .count()
            + self
                .names
                .iter()
                .filter(|r| r.id.starts_with("gitleaks:"))
                .count();
        (self.gitleaks_total, in_use)
    }

    /// The rule that makes `path` secret by name, if any. `path` is repository-relative,
    /// `/`- or `\`-separated; callers pass both a symlink and its resolved target.
    pub fn check_name(&self, path: &str) -> Option<String> {
        let path = normalize(path);
        let path = path.as_str();
        if self.path_allowed(&[path]) {
            return None;
        }
        let lower = path.to_ascii_lowercase();
        for rule in &self.names {
            if rule.regex.is_match(lower.as_bytes())
                && !rule
                    .unless
                    .as_ref()
                    .is_some_and(|u| u.is_match(lower.as_bytes()))
            {
                return Some(rule.id.clone());
            }
        }
        self.extra_names
            .iter()
            .find(|r| r.regex.is_match(path.as_bytes()))
            .map(|r| r.id.clone())
    }

    /// The first secret in `text`, as (rule id, 1-based line), if any. Rules that apply
    /// only to certain paths (a few gitleaks rules) need [`SecretRules::check`].
    pub fn check_content(&self, text: &str) -> Option<(String, usize)> {
        self.scan(&[], text.as_bytes())
    }

    /// The verdict on a file with this repository-relative `path` and content `text`.
    pub fn check(&self, path: &str, text: &str) -> Verdict {
        if let Some(rule) = self.check_name(path) {
            return Verdict::SecretName(rule);
        }
        let path = normalize(path);
        match self.scan(&[path.as_str()], text.as_bytes()) {
            Some((rule, line)) => Verdict::SecretContent { rule, line },
            None => Verdict::Clean,
        }
    }

    /// The verdict on the file `relative` under `root`: symlinks resolved, the names of the
    /// link and of its target checked, a target outside `root` refused, at most
    /// [`MAX_SCAN_BYTES`] read and scanned (bytes that are not UTF-8 are scanned as they are).
    pub fn check_file(&self, root: &Path, relative: &str) -> std::io::Result<Verdict> {
        Ok(match self.load(root, relative)? {
            Ok(_) => Verdict::Clean,
            Err(verdict) => verdict,
        })
    }

    /// The text of the file `relative` under `root` if [`SecretRules::check_file`] finds it
    /// clean, else the verdict. The text returned is the text scanned (one read, no window
    /// for the file to change in between); a file that is not UTF-8 is an
    /// [`std::io::ErrorKind::InvalidData`] error, as with [`std::fs::read_to_string`].
    pub fn read_if_clean(
        &self,
        root: &Path,
        relative: &str,
    ) -> std::io::Result<Result<String, Verdict>> {
        Ok(match self.load(root, relative)? {
            Ok(bytes) => Ok(String::from_utf8(bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?),
            Err(verdict) => Err(verdict),
        })
    }

    /// The bytes of the file `relative` under `root` if [`SecretRules::check_file`] finds it
    /// clean, else the verdict: exactly the bytes scanned, whatever their encoding.
    pub fn read_bytes_if_clean(
        &self,
        root: &Path,
        relative: &str,
    ) -> std::io::Result<Result<Vec<u8>, Verdict>> {
        self.load(root, relative)
    }

    // -----------------------------------------------------------------------------------

    /// Resolves, checks and reads a file: its bytes if clean, else the verdict.
    fn load(&self, root: &Path, relative: &str) -> std::io::Result<Result<Vec<u8>, Verdict>> {
        let link = normalize(relative);
        let link = link.as_str();
        if let Some(rule) = self.check_name(link) {
            return Ok(Err(Verdict::SecretName(rule)));
        }
        // The path itself is sent wherever the file is named: a token in a file name is a
        // secret too.
        if let Some((rule, _)) = self.scan(&[], link.as_bytes()) {
            return Ok(Err(Verdict::SecretName(rule)));
        }
        let root = root.canonicalize()?;
        let target = root.join(relative).canonicalize()?;
        let Ok(inside) = target.strip_prefix(&root) else {
            return Ok(Err(Verdict::Outside));
        };
        let target_name = inside.to_string_lossy().replace('\\', "/");
        if target_name != link
            && let Some(rule) = self.check_name(&target_name)
        {
            return Ok(Err(Verdict::SecretName(rule)));
        }
        let file = File::open(&target)?;
        if !file.metadata()?.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{relative} is not a regular file"),
            ));
        }
        let mut bytes = Vec::new();
        file.take(MAX_SCAN_BYTES as u64 + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() > MAX_SCAN_BYTES {
            return Ok(Err(Verdict::TooLarge));
        }
        Ok(match self.scan(&[link, target_name.as_str()], &bytes) {
            Some((rule, line)) => Err(Verdict::SecretContent { rule, line }),
            None => Ok(bytes),
        })
    }

    /// The built-in rules; never fails (a rule that does not compile is recorded in
    /// `dropped`, which the tests keep at the deliberate choices).
    fn builtin() -> SecretRules {
        let mut rules = SecretRules {
            names: Vec::new(),
            extra_names: Vec::new(),
            content: Vec::new(),
            keywords: None,
            keyword_rules: Vec::new(),
            global: Vec::new(),
            allow_paths: Vec::new(),
            allow_text: Vec::new(),
            dropped: Vec::new(),
            gitleaks_total: 0,
            memo: std::sync::Mutex::new(HashMap::new()),
        };
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut add_keywords = |words: &[String], rule: usize| {
            for word in words {
                let word = word.to_ascii_lowercase();
                match keywords.iter().position(|k| *k == word) {
                    Some(i) => keyword_rules[i].push(rule),
                    None => {
                        keywords.push(word);
                        keyword_rules.push(vec![rule]);
                    }
                }
            }
        };

        for (id, pattern, unless) in NAME_RULES {
            let regex = ascii_regex(pattern);
            let unless = unless.map(ascii_regex);
            match (regex, unless.transpose()) {
                (Ok(regex), Ok(unless)) => rules.names.push(NameRule {
                    id: (*id).to_string(),
                    regex,
                    unless,
                }),
                (Err(e), _) | (_, Err(e)) => rules.dropped.push(((*id).to_string(), e)),
            }
        }
        for own in OWN_RULES {
            match ascii_regex(own.regex) {
                Ok(regex) => {
                    let index = rules.content.len();
                    rules.content.push(ContentRule {
                        id: own.id.to_string(),
                        pattern: own.regex.to_string(),
                        regex: OnceLock::from(Some(regex)),
                        path: None,
                        entropy: own.entropy,
                        secret_group: 0,
                        allowlists: Vec::new(),
                        check: own.check,
                        path_exemptable: own.path_exemptable,
                        always: own.keywords.is_empty(),
                        builtin: true,
                        skips_tests: own.check != Check::Plain,
                    });
                    let words: Vec<String> = own.keywords.iter().map(|k| k.to_string()).collect();
                    add_keywords(&words, index);
                }
                Err(e) => rules.dropped.push((own.id.to_string(), e)),
            }
        }

        match toml::from_str::<GlConfig>(GITLEAKS_TOML) {
            Err(e) => rules
                .dropped
                .push(("gitleaks.toml".to_string(), e.to_string())),
            Ok(config) => {
                rules.gitleaks_total = config.rules.len();
                let own = GlAllowlist {
                    condition: None,
                    regex_target: None,
                    regexes: vec![VARIABLE_ONLY.to_string()],
                    paths: Vec::new(),
                    stopwords: Vec::new(),
                };
                for list in config
                    .allowlist
                    .iter()
                    .chain(&config.allowlists)
                    .chain([&own])
                {
                    match Allowlist::compile(list) {
                        Ok(a) => rules.global.push(a),
                        Err(e) => rules.dropped.push(("global allowlist".to_string(), e)),
                    }
                }
                for rule in config.rules {
                    if let Some((_, why)) = LEFT_OUT.iter().find(|(id, _)| *id == rule.id) {
                        rules.dropped.push((rule.id.clone(), (*why).to_string()));
                        continue;
                    }
                    match compile_gitleaks_rule(&rule) {
                        Ok(Compiled::Name(name)) => rules.names.push(name),
                        Ok(Compiled::Content(content)) => {
                            let index = rules.content.len();
                            rules.content.push(content);
                            add_keywords(&rule.keywords, index);
                        }
                        Err(e) => rules.dropped.push((rule.id.clone(), e)),
                    }
                }
            }
        }

        match AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&keywords)
        {
            Ok(ac) => {
                rules.keywords = Some(ac);
                rules.keyword_rules = keyword_rules;
            }
            Err(e) => {
                // Without the prefilter every rule runs: slower, never weaker.
                rules
                    .dropped
                    .push(("keyword prefilter".to_string(), e.to_string()));
                for rule in &mut rules.content {
                    rule.always = true;
                }
            }
        }
        rules
    }

    /// Whether the user's `path:` allow patterns exempt every name of the file.
    fn path_allowed(&self, paths: &[&str]) -> bool {
        !paths.is_empty()
            && !self.allow_paths.is_empty()
            && paths
                .iter()
                .all(|p| self.allow_paths.iter().any(|re| re.is_match(p.as_bytes())))
    }

    /// The earliest secret in `text` (rule id, 1-based line). `paths` are the names of the
    /// file (empty when unknown).
    fn scan(&self, paths: &[&str], text: &[u8]) -> Option<(String, usize)> {
        if text.len() < MEMO_MIN_BYTES {
            return self.scan_afresh(paths, text);
        }
        let mut hasher = blake3::Hasher::new();
        for path in paths {
            hasher.update(path.as_bytes());
            hasher.update(&[0]);
        }
        hasher.update(&[1]);
        hasher.update(text);
        let key = *hasher.finalize().as_bytes();
        let known = self
            .memo
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        if let Some(verdict) = known {
            return verdict;
        }
        let verdict = self.scan_afresh(paths, text);
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if memo.len() >= MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(key, verdict.clone());
        verdict
    }

    /// [`SecretRules::scan`] without the memo.
    fn scan_afresh(&self, paths: &[&str], text: &[u8]) -> Option<(String, usize)> {
        if self.path_allowed(paths) {
            return None;
        }
        let globally_exempt = self.global.iter().any(|a| a.allows_path(paths));

        let mut run = vec![false; self.content.len()];
        for (i, rule) in self.content.iter().enumerate() {
            run[i] = rule.always;
        }
        if let Some(ac) = &self.keywords {
            let mut seen = vec![false; self.keyword_rules.len()];
            for m in ac.find_overlapping_iter(text) {
                let keyword = m.pattern().as_usize();
                if !seen[keyword] {
                    seen[keyword] = true;
                    for &rule in &self.keyword_rules[keyword] {
                        run[rule] = true;
                    }
                }
            }
        }

        let mut best: Option<(usize, &ContentRule)> = None;
        for (i, rule) in self.content.iter().enumerate() {
            if !run[i] || (globally_exempt && rule.path_exemptable) {
                continue;
            }
            if let Some(re) = &rule.path
                && !paths.iter().any(|p| re.is_match(p.as_bytes()))
            {
                continue;
            }
            if rule.allowlists.iter().any(|a| a.allows_path(paths)) {
                continue;
            }
            // Every name must be a test's: a link from `tests/` to real configuration counts.
            if rule.skips_tests && !paths.is_empty() && paths.iter().all(|p| is_test_path(p)) {
                continue;
            }
            // Stop early: only a finding before the best one so far matters.
            // On a tie a specific rule wins over a heuristic one (`skips_tests`).
            let key = |at: usize, rule: &ContentRule| (at, rule.skips_tests);
            let end = best.map_or(text.len(), |(at, _)| at + 1);
            if let Some(at) = self.first_finding(rule, paths, text, end)
                && best.is_none_or(|(b, r)| key(at, rule) < key(b, r))
            {
                best = Some((at, rule));
            }
        }
        best.map(|(at, rule)| (rule.id.clone(), line_of(text, at)))
    }

    /// The offset of the first accepted finding of `rule` starting before `end`.
    fn first_finding(
        &self,
        rule: &ContentRule,
        paths: &[&str],
        text: &[u8],
        end: usize,
    ) -> Option<usize> {
        let regex = rule.regex()?;
        for caps in regex.captures_iter(text) {
            let whole = caps.get(0)?;
            if whole.start() >= end {
                return None;
            }
            let secret = match rule.check {
                Check::Plain => secret_of(&caps, rule.secret_group),
                Check::Assignment => assignment_secret(&caps),
                Check::UrlPassword => caps.get(1).filter(|m| plausible_password(m.as_bytes())),
            };
            let Some(secret) = secret else { continue };
            let candidate = Candidate {
                secret: secret.as_bytes(),
                matched: whole.as_bytes(),
                line: line_around(text, whole.start(), whole.end()),
            };
            if rule
                .entropy
                .is_some_and(|floor| shannon_entropy(candidate.secret) <= floor)
            {
                continue;
            }
            if find(candidate.line, ALLOW_MARKER) {
                continue;
            }
            // gitleaks' global allowlist applies to the built-in rules, not to the user's.
            if rule.builtin && self.global.iter().any(|a| a.allows(&candidate, paths)) {
                continue;
            }
            if rule.allowlists.iter().any(|a| a.allows(&candidate, paths)) {
                continue;
            }
            if self
                .allow_text
                .iter()
                .any(|re| re.is_match(candidate.matched) || re.is_match(candidate.secret))
            {
                continue;
            }
            return Some(secret.start());
        }
        None
    }
}

/// A compiled gitleaks rule: a path-only rule becomes a name rule.
enum Compiled {
    Name(NameRule),
    Content(ContentRule),
}

fn compile_gitleaks_rule(rule: &GlRule) -> Result<Compiled, String> {
    let path = rule.path.as_deref().map(go_regex).transpose()?;
    let Some(pattern) = &rule.regex else {
        return match path {
            Some(regex) => Ok(Compiled::Name(NameRule {
                id: format!("gitleaks:{}", rule.id),
                regex,
                unless: None,
            })),
            None => Err("neither regex nor path".to_string()),
        };
    };
    let allowlists = rule
        .allowlists
        .iter()
        .map(Allowlist::compile)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Compiled::Content(ContentRule {
        id: rule.id.clone(),
        pattern: translate_go(pattern),
        regex: OnceLock::new(),
        path,
        entropy: rule.entropy.filter(|e| *e > 0.0),
        secret_group: rule.secret_group,
        allowlists,
        check: Check::Plain,
        path_exemptable: true,
        always: rule.keywords.is_empty(),
        builtin: true,
        skips_tests: false,
    }))
}

/// The secret of a match: the configured group, else the first non-empty group, else the
/// whole match (gitleaks' rule).
fn secret_of<'t>(caps: &Captures<'t>, group: usize) -> Option<regex::bytes::Match<'t>> {
    if group > 0
        && let Some(m) = caps.get(group)
    {
        return Some(m);
    }
    caps.iter()
        .skip(1)
        .flatten()
        .find(|m| !m.is_empty())
        .or_else(|| caps.get(0))
}

/// The value of an assignment if name and value look like a real secret.
fn assignment_secret<'t>(caps: &Captures<'t>) -> Option<regex::bytes::Match<'t>> {
    let name = caps.name("name")?;
    if !secret_name(name.as_bytes()) {
        return None;
    }
    let (value, bare) = match (caps.name("dq"), caps.name("sq"), caps.name("bq")) {
        (Some(v), _, _) | (_, Some(v), _) | (_, _, Some(v)) => (v, false),
        _ => (caps.name("bare")?, true),
    };
    plausible_value(value.as_bytes(), bare).then_some(value)
}

/// Whether an assigned-to name is a secret's: ends in secret, token, password, …, or in a
/// key that is a secret one (`API_KEY`, `SECRET_ACCESS_KEY`, an upper-case `*_KEY`).
fn secret_name(name: &[u8]) -> bool {
    let raw = String::from_utf8_lossy(name);
    let raw = raw.rsplit(['.', '$']).next().unwrap_or(&raw);
    let lower: String = raw
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.'))
        .collect::<String>()
        .to_ascii_lowercase();
    if NOT_SECRET_NAMES.iter().any(|w| lower.contains(w)) {
        return false;
    }
    if words(raw)
        .iter()
        .any(|w| TEST_NAME_WORDS.contains(&w.as_str()))
    {
        return false;
    }
    const ENDINGS: &[&str] = &[
        "secret",
        "token",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "credential",
        "credentials",
        "auth",
    ];
    if ENDINGS.iter().any(|e| lower.ends_with(e)) {
        return lower != "oauth";
    }
    if lower.ends_with("key") {
        if SECRET_KEY_ENDINGS.iter().any(|e| lower.ends_with(e)) {
            return true;
        }
        // `FOO_KEY` in upper case, an environment variable.
        let upper_env = raw.contains('_')
            && raw
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        return upper_env;
    }
    false
}

/// Whether a literal looks like a real secret rather than code, a reference or a
/// placeholder.
fn plausible_value(value: &[u8], bare: bool) -> bool {
    if value.len() < 16 || value.iter().any(|b| b.is_ascii_whitespace()) {
        return false;
    }
    let has_digit = value.iter().any(u8::is_ascii_digit);
    let has_alpha = value.iter().any(u8::is_ascii_alphabetic);
    if !has_digit || !has_alpha {
        return false;
    }
    if matches!(
        value[0],
        b'$' | b'%' | b'<' | b'{' | b'@' | b'&' | b'*' | b'/' | b'~' | b'-'
    ) || value.starts_with(b"./")
    {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    if is_placeholder(value) {
        return false;
    }
    if is_dotted_identifier(value) || (bare && is_call_or_index(value)) {
        return false;
    }
    const FILE_EXT: &[&[u8]] = &[
        b".pem", b".key", b".crt", b".cer", b".json", b".yaml", b".yml", b".txt", b".p12", b".pfx",
        b".der", b".toml", b".env", b".conf", b".cfg", b".ini", b".xml", b".html", b".js", b".py",
        b".rs", b".go", b".gpg",
    ];
    !FILE_EXT.iter().any(|e| lower.ends_with(e))
}

/// Whether the password of a URL is a real one: not a reference or placeholder. (Its entropy
/// floor is the rule's.)
fn plausible_password(value: &[u8]) -> bool {
    !value.starts_with(b"$")
        && !matches!(value.first(), Some(b'%' | b'<' | b'{' | b'*'))
        && !is_placeholder(value)
}

/// Whether a value holds one of the [`PLACEHOLDER_WORDS`] (one pass, any case).
fn is_placeholder(value: &[u8]) -> bool {
    static WORDS: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    WORDS
        .get_or_init(|| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .build(PLACEHOLDER_WORDS)
                .ok()
        })
        .as_ref()
        // Without the automaton (it always builds), fall back to the slow way.
        .map_or_else(
            || {
                let lower = value.to_ascii_lowercase();
                PLACEHOLDER_WORDS.iter().any(|w| find(&lower, w.as_bytes()))
            },
            |ac| ac.is_match(value),
        )
}

/// `settings.SECRET_KEY`, `self.api_token`, `Config.Auth.Token2`: a reference, not a value.
fn is_dotted_identifier(value: &[u8]) -> bool {
    value.contains(&b'.')
        && value.split(|b| *b == b'.').all(|part| {
            part.first()
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
                && part.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        })
}

/// `get_token(`, `env::var(`: code, cut short by the value pattern.
fn is_call_or_index(value: &[u8]) -> bool {
    find(value, b"::") || find(value, b"->")
}

/// Shannon entropy in bits per byte.
fn shannon_entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0usize; 256];
    for b in data {
        counts[usize::from(*b)] += 1;
    }
    let len = data.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / len;
            -p * p.log2()
        })
        .sum()
}

/// Whether `needle` occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The 1-based line of byte offset `at`.
fn line_of(text: &[u8], at: usize) -> usize {
    1 + text[..at.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// The full line(s) around `start..end`.
fn line_around(text: &[u8], start: usize, end: usize) -> &[u8] {
    let from = text[..start]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let to = text[end..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(text.len(), |i| end + i);
    &text[from..to]
}

/// A path as the rules see it: `/`-separated, without a leading `./`.
fn normalize(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut rest = path.as_str();
    while let Some(stripped) = rest.strip_prefix("./") {
        rest = stripped;
    }
    rest.to_string()
}

/// `path:` or `content:` prefix of a setting.
fn split_setting(pattern: &str) -> (bool, &str) {
    if let Some(rest) = pattern.strip_prefix("path:") {
        (true, rest)
    } else {
        (false, pattern.strip_prefix("content:").unwrap_or(pattern))
    }
}

fn user_regex(pattern: &str, body: &str) -> Result<Regex, SecretsError> {
    RegexBuilder::new(body)
        .build()
        .map_err(|source| SecretsError::Pattern {
            pattern: pattern.to_string(),
            source,
        })
}

/// A built-in pattern: byte-wise, ASCII classes.
fn ascii_regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .build()
        .map_err(|e| e.to_string())
}

/// A gitleaks (Go RE2) pattern, translated and compiled byte-wise with ASCII classes as Go
/// does.
fn go_regex(pattern: &str) -> Result<Regex, String> {
    ascii_regex(&translate_go(pattern))
}

/// Several gitleaks patterns as one alternation.
fn join_go(patterns: &[String]) -> Result<Option<Regex>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let joined = patterns
        .iter()
        .map(|p| format!("(?:{})", translate_go(p)))
        .collect::<Vec<_>>()
        .join("|");
    ascii_regex(&joined).map(Some)
}

/// Go RE2 takes a `{` that does not start a repetition (`{2}`, `{2,}`, `{2,5}`) as a
/// literal, and the `}` after it too; Rust wants both escaped. Everything else gitleaks uses
/// means the same in both.
fn translate_go(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.char_indices().peekable();
    let mut in_class = false;
    let mut in_repetition = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some((_, next)) = chars.next() {
                    out.push(next);
                }
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal.
                if let Some((_, '^')) = chars.peek() {
                    out.push('^');
                    chars.next();
                }
                if let Some((_, ']')) = chars.peek() {
                    out.push_str("\\]");
                    chars.next();
                }
                continue;
            }
            ']' if in_class => in_class = false,
            '{' if !in_class => {
                if is_repetition(&pattern[i..]) {
                    in_repetition = true;
                } else {
                    out.push_str("\\{");
                    continue;
                }
            }
            '}' if !in_class => {
                if in_repetition {
                    in_repetition = false;
                } else {
                    out.push_str("\\}");
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// Whether `rest` (starting at `{`) is `{n}`, `{n,}` or `{n,m}`.
fn is_repetition(rest: &str) -> bool {
    let Some(close) = rest.find('}') else {
        return false;
    };
    let inner = &rest[1..close];
    let (low, high) = inner.split_once(',').unwrap_or((inner, ""));
    !low.is_empty()
        && low.bytes().all(|b| b.is_ascii_digit())
        && high.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! The secret corpus is generated at test time from split literals and a seeded
    //! generator, so this file holds no secret-shaped text: scanning it with these rules (or
    //! any push protection) finds nothing.

    use super::*;

    /// A deterministic generator (xorshift) for made-up key material.
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
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const DIGITS: &str = "0123456789";
    const DASHES: &str = "-----";

    fn base64(data: &[u8]) -> String {
        const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// An armored block: `-----BEGIN {kind}-----`, optional headers, wrapped base64.
    fn armored(kind: &str, headers: &str, body: &[u8], width: usize) -> String {
        let encoded = base64(body);
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(width)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "{DASHES}BEGIN {kind}{DASHES}\n{headers}{}\n{DASHES}END {kind}{DASHES}\n",
            lines.join("\n")
        )
    }

    fn openssh_key(fake: &mut Fake) -> String {
        let mut body = b"openssh-key-v1\0".to_vec();
        body.extend(fake.bytes(380));
        armored(&["OPENSSH", "PRIVATE KEY"].join(" "), "", &body, 70)
    }

    /// The secret corpus: (path, content, expected by name, expected by content).
    fn secret_corpus() -> Vec<(&'static str, String)> {
        let mut f = Fake(0x5eed_1234_abcd_9876);
        let private = ["PRIVATE", "KEY"].join(" ");
        let pgp = ["PGP", "PRIVATE", "KEY", "BLOCK"].join(" ");
        let stripe = format!("{}_{}_{}", "sk", "live", f.alnum(24));
        let github = format!("{}_{}", "ghp", f.alnum(36));
        let slack = format!(
            "{}-{}-{}-{}",
            "xoxb",
            f.pick(DIGITS, 12),
            f.pick(DIGITS, 13),
            f.alnum(24)
        );
        let google = format!(
            "{}{}",
            "AI",
            ["za", &f.pick(&format!("{ALNUM}_-"), 35)].concat()
        );
        let jwt = format!(
            "{}.{}.{}",
            base64(br#"{"alg":"HS256","typ":"JWT"}"#).trim_end_matches('='),
            base64(br#"{"sub":"4711","name":"Ops","iat":1716239022}"#)
                .trim_end_matches('=')
                .replace('+', "-")
                .replace('/', "_"),
            f.pick(&format!("{ALNUM}_-"), 43)
        );
        let aws_id = format!(
            "{}{}",
            "AK",
            ["IA", &f.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)].concat()
        );
        let aws_secret = f.pick(&format!("{ALNUM}+/"), 40);
        let db_password = f.pick(&format!("{ALNUM}!#%^*"), 24);
        let kube_key =
            base64(armored(&["RSA", &private].join(" "), "", &f.bytes(600), 64).as_bytes());
        let docker_auth = base64(format!("deploy:{}", f.alnum(20)).as_bytes());
        let ppk = format!(
            "{}-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy@ci\nPublic-Lines: 2\n{}\n{}\nPrivate-Lines: 1\n{}\nPrivate-MAC: {}\n",
            "PuTTY",
            base64(&f.bytes(48)),
            base64(&f.bytes(9)),
            base64(&f.bytes(36)),
            f.pick("0123456789abcdef", 64)
        );
        let dsa = armored(&["DSA", &private].join(" "), "", &f.bytes(440), 64);
        vec![
            (
                ".env",
                format!(
                    "DATABASE_URL=postgres://app:{db_password}@db:5432/app\nSTRIPE_SECRET_KEY={stripe}\nDEBUG=false\n"
                ),
            ),
            ("id_ecdsa", openssh_key(&mut f)),
            ("id_dsa", dsa),
            ("id_ed25519", openssh_key(&mut f)),
            (
                ".pgpass",
                format!("db.internal:5432:app:app:{db_password}\n"),
            ),
            (
                "kubeconfig",
                format!(
                    "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: prod\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {kube_key}\n",
                    base64(&f.bytes(300))
                ),
            ),
            ("deploy.ppk", ppk),
            (
                "terraform.tfvars",
                format!(
                    "region = \"eu-west-1\"\ndb_password = \"{db_password}\"\ncloudflare_api_token = \"{}\"\n",
                    f.alnum(40)
                ),
            ),
            (
                "keys/prod.asc",
                armored(
                    &pgp,
                    "Version: GnuPG v2\nComment: release key\n\n",
                    &f.bytes(900),
                    64,
                ),
            ),
            (
                "notes.txt",
                format!(
                    "Deploy notes\n\nThe bastion key, until we move it to the vault:\n\n{}\nAsk ops for the passphrase.\n",
                    openssh_key(&mut f)
                ),
            ),
            (
                "config.py",
                format!(
                    "import os\n\nREGION = \"us-east-1\"\nAWS_ACCESS_KEY_ID = \"{aws_id}\"\nAWS_SECRET_ACCESS_KEY = \"{aws_secret}\"\n"
                ),
            ),
            (
                "scripts/release.sh",
                format!(
                    "#!/bin/sh\ncurl -H \"Authorization: token {github}\" https://api.github.com/user\n"
                ),
            ),
            (
                "bot/slack.js",
                format!("const client = new WebClient('{slack}');\n"),
            ),
            (
                "billing/charge.rb",
                format!("Stripe.api_key = '{stripe}'\n"),
            ),
            (
                "web/maps.html",
                format!(
                    "<script src=\"https://maps.googleapis.com/maps/api/js?key={google}\"></script>\n"
                ),
            ),
            (
                "client/session.ts",
                format!("export const session = \"{jwt}\";\n"),
            ),
            (
                "docker/config.json",
                format!(
                    "{{\n  \"auths\": {{\n    \"registry.corp.io\": {{\n      \"auth\": \"{docker_auth}\"\n    }}\n  }}\n}}\n"
                ),
            ),
            (
                "src/main/resources/application.yml",
                format!(
                    "spring:\n  datasource:\n    url: jdbc:postgresql://db:5432/app\n    username: app\n    password: {}\n",
                    f.pick(&format!("{ALNUM}@#%"), 22)
                ),
            ),
        ]
    }

    fn write(root: &Path, path: &str, text: &str) {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }

    #[test]
    fn vendored_rules_compile_except_the_deliberate_choices() {
        let rules = SecretRules::new(&[], &[]).unwrap();
        let left_out = rules.left_out();
        let ids: Vec<&str> = left_out.iter().map(|(id, _)| id.as_str()).collect();
        let deliberate: Vec<&str> = LEFT_OUT.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, deliberate, "{left_out:?}");
        let (total, used) = rules.gitleaks_rule_counts();
        assert_eq!(total, 222);
        assert_eq!(used, total - LEFT_OUT.len());
    }

    #[test]
    fn every_file_of_the_secret_corpus_is_withheld() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let rules = SecretRules::default_rules();
        let corpus = secret_corpus();
        let mut by_content = 0;
        for (path, text) in &corpus {
            write(root, path, text);
            let verdict = rules.check_file(root, path).unwrap();
            assert!(!verdict.is_clean(), "{path} passed: {text}");
            // The same text under an innocent name: content alone.
            let innocent = rules.check("notes/file.txt", text);
            if !innocent.is_clean() {
                by_content += 1;
            }
            eprintln!("{path}: {verdict}; content alone: {innocent}");
        }
        // Only `.pgpass` (`host:port:db:user:password` lines) is known by its name alone.
        assert_eq!(by_content, corpus.len() - 1);
    }

    #[test]
    fn symlinks_are_judged_by_their_target() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".env", "PORT=8080\n");
        write(root, "docs/readme.md", "hello\n");
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "notes.md", "hello\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::symlink;
            symlink("../.env", root.join("docs/cfg.txt")).unwrap();
            symlink("readme.md", root.join("docs/link.md")).unwrap();
            symlink(outside.path().join("notes.md"), root.join("docs/out.md")).unwrap();
            symlink(root.join("docs"), root.join("alias")).unwrap();
            let rules = SecretRules::default_rules();
            assert_eq!(
                rules.check_file(root, "docs/cfg.txt").unwrap(),
                Verdict::SecretName("dotenv".into())
            );
            assert_eq!(
                rules.check_file(root, "docs/link.md").unwrap(),
                Verdict::Clean
            );
            assert_eq!(
                rules.check_file(root, "alias/cfg.txt").unwrap(),
                Verdict::SecretName("dotenv".into())
            );
            assert_eq!(
                rules.check_file(root, "docs/out.md").unwrap(),
                Verdict::Outside
            );
            assert_eq!(rules.check_file(root, "../x").ok(), None);
        }
    }

    #[test]
    fn remembered_verdicts_are_the_verdicts() {
        let rules = SecretRules::new(&[], &[]).expect("rules");
        let filler = "def f(token):\n    return token\n".repeat(200);
        assert!(filler.len() >= MEMO_MIN_BYTES);
        let token = format!("{}_{}", "ghp", "Zk3Qw8RtYu1Io9Pa2Sd4Fg6Hj7Kl0Zx5Cv3B");
        let secret = format!("{filler}TOKEN = \"{token}\"\n");
        for _ in 0..2 {
            assert_eq!(rules.scan(&["a.py"], filler.as_bytes()), None);
            let found = rules.scan(&["a.py"], secret.as_bytes()).expect("found");
            assert_eq!(found.1, 401);
        }
        // The names are part of what is remembered: a path allowed by a rule's path
        // condition is judged afresh, not by another path's verdict.
        assert_eq!(
            rules.scan(&["a.py"], secret.as_bytes()),
            rules.scan_afresh(&["a.py"], secret.as_bytes())
        );
    }

    #[test]
    fn read_if_clean_returns_the_scanned_text() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "src/a.rs", "fn main() {}\n");
        write(dir.path(), ".env", "PORT=1\n");
        std::fs::write(dir.path().join("bin.dat"), [0xff, 0xfe, 0x00]).unwrap();
        let rules = SecretRules::default_rules();
        assert_eq!(
            rules.read_if_clean(dir.path(), "src/a.rs").unwrap(),
            Ok("fn main() {}\n".to_string())
        );
        assert_eq!(
            rules.read_if_clean(dir.path(), ".env").unwrap(),
            Err(Verdict::SecretName("dotenv".into()))
        );
        let error = rules.read_if_clean(dir.path(), "bin.dat").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert!(rules.check_file(dir.path(), "missing.rs").is_err());
    }

    #[test]
    fn large_files_are_not_shown_unscanned() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "big.log", &"x".repeat(MAX_SCAN_BYTES + 1));
        write(dir.path(), "ok.log", &"x".repeat(MAX_SCAN_BYTES));
        let rules = SecretRules::default_rules();
        assert_eq!(
            rules.check_file(dir.path(), "big.log").unwrap(),
            Verdict::TooLarge
        );
        assert_eq!(
            rules.check_file(dir.path(), "ok.log").unwrap(),
            Verdict::Clean
        );
    }

    #[test]
    fn names() {
        let rules = SecretRules::default_rules();
        let secret = [
            ".env",
            "app/.env.production",
            ".envrc",
            "prod.env",
            "id_rsa",
            "home/.ssh/id_ecdsa",
            "id_ed25519_sk",
            "id_dsa",
            "deploy.ppk",
            "server.key",
            "tls/server.pem",
            "cert.p12",
            "store.jks",
            ".pgpass",
            ".netrc",
            ".npmrc",
            ".git-credentials",
            "kubeconfig",
            "prod.kubeconfig",
            ".kube/config",
            "terraform.tfvars",
            "prod.auto.tfvars",
            "terraform.tfstate",
            ".docker/config.json",
            "config/secrets.yml",
            "secrets.json",
            "credentials",
            ".aws/credentials",
            "client_secret_1234.apps.googleusercontent.com.json",
            "Vault.KDBX",
            "keys\\prod.pem",
        ];
        for path in secret {
            assert!(rules.check_name(path).is_some(), "{path} should be secret");
        }
        let clean = [
            "secret_manager.py",
            "src/agent/secrets.rs",
            "credentials.go",
            "pkg/credential_provider.ts",
            "docs/secrets.md",
            "id_rsa.pub",
            ".ssh/id_ed25519.pub",
            ".env.example",
            ".env.sample",
            "environment.py",
            "tokenizer.py",
            "keyboard.rs",
            "KEYS.asc",
            "Cargo.lock",
            "package-lock.json",
            "docker/config.go",
            "monkey.py",
            "venv.py",
        ];
        for path in clean {
            assert_eq!(rules.check_name(path), None, "{path} should not be secret");
        }
    }

    /// Ordinary source that must not be withheld (checked under a non-test path).
    const CLEAN: &[(&str, &str)] = &[
        (
            "login.py",
            "password = input()\nif not password:\n    raise SystemExit(1)\n",
        ),
        (
            "auth.py",
            "TOKEN_URL = \"https://oauth2.googleapis.com/token\"\nAUTH_URI = \"https://accounts.google.com/o/oauth2/auth\"\n",
        ),
        (
            "client.py",
            "api_key = os.environ[\"API_KEY\"]\ntoken = os.getenv(\"GITHUB_TOKEN\", \"\")\n",
        ),
        (
            "wsgi.py",
            "secret_key = settings.SECRET_KEY\nself.token = token\ntoken = tokens[index + 1]\n",
        ),
        (
            "fixtures.py",
            "user = User(name=\"ann\", password=\"test\")\nlogin(password=\"hunter2\")\n",
        ),
        (
            "Cargo.lock",
            "[[package]]\nname = \"regex\"\nversion = \"1.13.2\"\nchecksum = \"9807af0e638c12e753aa1b4e601791bf2a8f71274023c8bbeec12fc149950857\"\n",
        ),
        (
            "web/package-lock.json",
            "{\"node_modules/ms\": {\"version\": \"2.1.3\", \"integrity\": \"sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==\"}}\n",
        ),
        (
            "style.css",
            ".logo { background: url(data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==); }\n",
        ),
        (
            "ids.go",
            "var requestID = \"3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c2b71\"\nconst rev = \"8b3e7d8b9f63543374e53d1c389ea443dd65bc46\"\n",
        ),
        (
            "ci.yml",
            "env:\n  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n  NPM_TOKEN: ${NPM_TOKEN}\n  password: \"{{ vault_db_password }}\"\n",
        ),
        (
            "config.rs",
            "let api_key = std::env::var(\"API_KEY\")?;\nlet token = get_token(&client).await?;\n",
        ),
        (
            "model.go",
            "type Login struct {\n\tPassword string `json:\"password\"`\n\tToken    string `json:\"token,omitempty\"`\n}\n",
        ),
        (
            "limits.js",
            "const PASSWORD_MIN_LENGTH = 12;\nconst SECRET_KEY_LENGTH = 32;\nconst tokenType = \"Bearer\";\n",
        ),
        (
            "cache.py",
            "cache_key = \"user-profile-7f3a9c2e1b8d4f60\"\nEMPTY_SHA256 = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"\n",
        ),
        (
            "tls.py",
            "private_key_path = \"/etc/ssl/private/server-2024.key\"\nssl_keyfile = \"certs/key-2024.pem\"\n",
        ),
        (
            "keys.json",
            "{\"public_key\": \"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7n3Qx2mK8vP1sR9tY4uW6zA0bC5dE\"}\n",
        ),
        (
            "fr.json",
            "{\"password\": \"Mot de passe\", \"token\": \"Jeton d'acces\"}\n",
        ),
        (
            ".env.example",
            "STRIPE_SECRET_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx\nDATABASE_PASSWORD=changeme\nAPI_TOKEN=<your-token-here>\n",
        ),
        (
            "deploy.sh",
            "curl -u \"${git_user}:${!pr_token}\" https://api.example.com\nexport PASSWORD=$(cat /run/secrets/db)\n",
        ),
        (
            "ssh.py",
            "key = \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3n5mK8vP1sR9tY4uW6zA0bC5dE7fH9jL2nQ4sT6vX deploy@ci\"\n",
        ),
        (
            "settings.toml",
            "[server]\nauth = \"oauth2\"\nsecret_name = \"prod/db/password\"\nkey_id = \"a1b2c3d4e5f60718293a4b5c6d7e8f90\"\n",
        ),
        (
            "api.py",
            "def refresh(self, refresh_token: str = None) -> Token:\n    next_page_token = response[\"nextPageToken1234567890\"]\n",
        ),
    ];

    #[test]
    fn ordinary_source_is_clean() {
        let rules = SecretRules::default_rules();
        for (path, text) in CLEAN {
            assert_eq!(
                rules.check(&format!("src/{path}"), text),
                Verdict::Clean,
                "{path}"
            );
        }
    }

    #[test]
    fn code_that_names_pem_headers_is_clean() {
        let kind = ["RSA", "PRIVATE", "KEY"].join(" ");
        let code = format!(
            "PEM_HEADER = \"{DASHES}BEGIN {kind}{DASHES}\"\n# The footer that closes an unencrypted PKCS#1 key block.\nPEM_FOOTER = \"{DASHES}END {kind}{DASHES}\"\n\ndef is_private_key(text):\n    return text.startswith(PEM_HEADER) and text.rstrip().endswith(PEM_FOOTER)\n"
        );
        assert_eq!(
            SecretRules::default_rules().check("src/pem.py", &code),
            Verdict::Clean
        );
        // Public material is not secret either.
        let mut f = Fake(7);
        let cert = armored("CERTIFICATE", "", &f.bytes(600), 64);
        let public = armored(&["PUBLIC", "KEY"].join(" "), "", &f.bytes(270), 64);
        assert_eq!(
            SecretRules::default_rules().check("src/ca.crt", &cert),
            Verdict::Clean
        );
        assert_eq!(
            SecretRules::default_rules().check("src/pub.txt", &public),
            Verdict::Clean
        );
    }

    #[test]
    fn private_keys_inside_json_strings_are_found() {
        let mut f = Fake(99);
        let key =
            armored(&["PRIVATE", "KEY"].join(" "), "", &f.bytes(600), 64).replace('\n', "\\n");
        let json =
            format!("{{\n  \"type\": \"service_account\",\n  \"private_key\": \"{key}\"\n}}\n");
        assert_eq!(
            SecretRules::default_rules().check_content(&json),
            Some(("private-key-block".into(), 3))
        );
    }

    #[test]
    fn reports_the_first_secret_line() {
        let mut f = Fake(3);
        let text = format!("a = 1\nb = 2\n\nDEPLOY_TOKEN = \"{}\"\n", f.alnum(32));
        assert_eq!(
            SecretRules::default_rules().check_content(&text),
            Some(("secret-assignment".into(), 4))
        );
        // Heuristic assignments are not judged in tests, fixtures and examples.
        assert_eq!(
            SecretRules::default_rules().check("tests/test_deploy.py", &text),
            Verdict::Clean
        );
        // Nor where the line says so.
        let allowed = text.replace('\n', " # gitleaks:allow\n");
        assert_eq!(SecretRules::default_rules().check_content(&allowed), None);
    }

    #[test]
    fn heuristics_alone() {
        let rules = SecretRules::default_rules();
        let mut f = Fake(21);
        let aws = format!(
            "AWS_SECRET_ACCESS_KEY = \"{}\"\n",
            f.pick(&format!("{ALNUM}+/"), 40)
        );
        assert_eq!(
            rules.check_content(&aws),
            Some(("secret-assignment".into(), 1))
        );
        let url = format!(
            "DATABASE_URL=postgres://app:{}@db.internal:5432/app\n",
            f.alnum(18)
        );
        assert_eq!(
            rules.check_content(&url),
            Some(("url-credentials".into(), 1))
        );
        for clean in [
            "postgres://postgres:postgres@localhost:5432/db",
            "https://user:${GITHUB_TOKEN}@github.com/org/repo.git",
            "redis://:password@localhost:6379",
            "amqp://guest:guest@localhost:5672",
            "ssh://git@github.com:22/org/repo.git",
            "mongodb://admin:<password>@cluster0.mongodb.net",
        ] {
            assert_eq!(
                rules.check("src/settings.py", clean),
                Verdict::Clean,
                "{clean}"
            );
        }
    }

    #[test]
    fn settings_add_and_allow() {
        let mut f = Fake(11);
        let internal = format!("corp_{}", f.pick("0123456789abcdef", 32));
        let text = format!("x = \"{internal}\"\n");
        let rules = SecretRules::new(
            &["corp_[0-9a-f]{32}".into(), "path:(?i)\\.vault$".into()],
            &[
                "path:^fixtures/".into(),
                "content:AKIAIOSFODNN7EXAMPLE".into(),
            ],
        )
        .unwrap();
        assert!(matches!(
            rules.check("src/a.py", &text),
            Verdict::SecretContent { line: 1, .. }
        ));
        assert_eq!(
            rules.check_name("ops/prod.VAULT"),
            Some("extra: path:(?i)\\.vault$".into())
        );
        assert_eq!(rules.check("fixtures/a.py", &text), Verdict::Clean);
        assert_eq!(rules.check_name("fixtures/.env"), None);
        let aws = format!("{}{}", "AKIA", "IOSFODNN7EXAMPLE");
        assert_eq!(rules.check_content(&format!("id = {aws}\n")), None);
        assert!(matches!(
            SecretRules::new(&["(".into()], &[]),
            Err(SecretsError::Pattern { .. })
        ));
    }

    #[test]
    fn allow_by_path_needs_every_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut f = Fake(5);
        write(
            root,
            "config/prod.yml",
            &format!("db:\n  password: {}\n", f.alnum(24)),
        );
        #[cfg(unix)]
        {
            std::fs::create_dir_all(root.join("fixtures")).unwrap();
            std::os::unix::fs::symlink("../config/prod.yml", root.join("fixtures/prod.yml"))
                .unwrap();
            let rules = SecretRules::new(&[], &["path:^fixtures/".into()]).unwrap();
            assert!(matches!(
                rules.check_file(root, "fixtures/prod.yml").unwrap(),
                Verdict::SecretContent { line: 2, .. }
            ));
        }
    }

    #[test]
    fn assignment_judgement() {
        assert!(secret_name(b"AWS_SECRET_ACCESS_KEY"));
        assert!(secret_name(b"spring.datasource.password"));
        assert!(secret_name(b"STRIPE_KEY"));
        assert!(secret_name(b"clientSecret"));
        assert!(!secret_name(b"access_key"));
        assert!(!secret_name(b"cache_key"));
        assert!(!secret_name(b"publicKey"));
        assert!(!secret_name(b"hcloudTestToken"));
        assert!(!secret_name(b"latest_tokenizer"));
        assert!(!secret_name(b"key"));
        assert!(plausible_value(b"u8Kd2mQx9ZpL4vRt7NwYb3Hs", false));
        assert!(!plausible_value(b"settings.SECRET_KEY", true));
        assert!(!plausible_value(b"xxxxxxxxxxxxxxxxxxxx", false));
        assert!(!plausible_value(b"${DATABASE_PASSWORD}", false));
        assert!(!plausible_value(b"/run/secrets/db-2024", false));
        assert!(shannon_entropy(b"aaaa") < 0.01);
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert_eq!(words("hcloudTestToken"), ["hcloud", "test", "token"]);
        assert_eq!(
            words("AWS_SECRET_ACCESS_KEY"),
            ["aws", "secret", "access", "key"]
        );
    }

    #[test]
    fn go_patterns_translate() {
        assert_eq!(
            translate_go(r"import[ \t]+{[ \t\w,]+}"),
            r"import[ \t]+\{[ \t\w,]+\}"
        );
        assert_eq!(translate_go(r"a{2,5}\{x}"), r"a{2,5}\{x\}");
        assert_eq!(translate_go(r"[^]]+]"), r"[^\]]+]");
        assert!(ascii_regex(&translate_go(r#"['"]?\$?{{[^}]+}}['"]?"#)).is_ok());
    }

    #[test]
    fn default_rules_are_shared() {
        let a: *const SecretRules = SecretRules::default_rules();
        let b: *const SecretRules = SecretRules::default_rules();
        assert_eq!(a, b);
    }
}
