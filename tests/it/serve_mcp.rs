//! `sextant serve` driven by a real MCP client: the official Python SDK from PyPI (`mcp`,
//! installed by `.ci/mcp-client.sh`, which `.ci/run` runs; its python is in
//! `SEXTANT_MCP_PYTHON`). Without it the test is skipped locally and fails under CI.
//!
//! One session: initialize, list the tools, call each and compare with the CLI's `--json` on
//! the same index; bad arguments; a new generation committed by another process is answered
//! from without a restart; 20 concurrent calls while a `reindex` runs, with no error.

use std::path::Path;

use serde_json::Value;

use crate::support::{copy_fixture, git, sextant, stdout_of};

const CLIENT: &str = r#"
import asyncio, json, subprocess, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

binary, repo, home = sys.argv[1], sys.argv[2], sys.argv[3]

def text(result):
    return {"error": result.is_error, "text": result.content[0].text if result.content else ""}

async def main():
    out = {}
    params = StdioServerParameters(
        command=binary, args=["serve", "--repo", repo],
        env={"SEXTANT_HOME": home, "PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            out["server"] = init.server_info.name
            tools = await session.list_tools()
            out["tools"] = sorted(t.name for t in tools.tools)
            out["schemas"] = {t.name: t.input_schema for t in tools.tools}
            out["why"] = text(await session.call_tool("why_relevant", {"task": "verify the token signature"}))
            out["context"] = text(await session.call_tool("why_relevant", {"task": "verify the token signature", "context": True}))
            out["search"] = text(await session.call_tool("search", {"query": "Verifier", "limit": 5}))
            out["callers"] = text(await session.call_tool("graph", {"ask": "callers", "target": "getToken"}))
            out["stats"] = text(await session.call_tool("graph", {"ask": "stats"}))
            out["status"] = text(await session.call_tool("index_status", {}))
            bad = {}
            for name, args in [("search", {"query": "x", "limit": 0}),
                               ("graph", {"ask": "callers"}),
                               ("graph", {"ask": "callers", "target": "no_such_symbol_anywhere"}),
                               ("why_relevant", {"task": "the a of"})]:
                try:
                    bad[json.dumps([name, args])] = text(await session.call_tool(name, args))
                except MCPError as error:
                    bad[json.dumps([name, args])] = {"protocol_error": str(error)}
            out["bad"] = bad
            # Another process commits a new generation: the next answer comes from it.
            with open(f"{repo}/server/src/ratelimit.rs", "w") as f:
                f.write("/// Throttles token refresh per client.\npub fn throttle_token_refresh(client: &str) -> bool {\n    !client.is_empty()\n}\n")
            # (The server's own watch may be reindexing too: the lock says so with exit 3.)
            for _ in range(50):
                done = subprocess.run([binary, "index", "--quiet", "--vectors", "off", repo],
                                      env={"SEXTANT_HOME": home, "PATH": "/usr/bin:/bin"})
                if done.returncode != 3:
                    break
                await asyncio.sleep(0.2)
            out["index_exit"] = done.returncode
            out["after_index"] = text(await session.call_tool("why_relevant", {"task": "throttle token refresh"}))
            # Freshness: a saved file shows up without anyone indexing.
            import time
            with open(f"{repo}/server/src/audit.rs", "w") as f:
                f.write("/// Keeps an audit trail of every token refresh.\npub fn audit_trail_refresh(client: &str) {\n    let _ = client;\n}\n")
            saved = time.monotonic()
            out["fresh_after"] = None
            while time.monotonic() - saved < 20:
                answer = await session.call_tool("why_relevant", {"task": "audit trail of token refresh"})
                if "server/src/audit.rs" in answer.content[0].text:
                    out["fresh_after"] = time.monotonic() - saved
                    break
                await asyncio.sleep(0.1)
            # 20 concurrent calls while the server reindexes a change.
            with open(f"{repo}/server/src/ratelimit.rs", "a") as f:
                f.write("// reviewed\n")
            calls = [session.call_tool("reindex", {})]
            for i in range(20):
                if i % 2:
                    calls.append(session.call_tool("search", {"query": "token", "limit": 3}))
                else:
                    calls.append(session.call_tool("why_relevant", {"task": "verify the token signature"}))
            results = await asyncio.gather(*calls, return_exceptions=True)
            out["concurrent"] = [
                "exception: " + repr(r) if isinstance(r, BaseException) else ("error: " + r.content[0].text if r.is_error else "ok")
                for r in results]
    print(json.dumps(out))

asyncio.run(main())
"#;

fn paths(report: &Value) -> Vec<String> {
    crate::support::report_paths(report)
}

fn cli_json(root: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&stdout_of(sextant(root).args(args))).expect("json")
}

fn tool_json(out: &Value, name: &str) -> Value {
    assert_eq!(out[name]["error"], false, "{name}: {}", out[name]);
    serde_json::from_str(out[name]["text"].as_str().expect("text")).expect("tool json")
}

/// The python with the `mcp` package, or `None` (skip) outside CI.
fn mcp_python() -> Option<String> {
    let python = std::env::var("SEXTANT_MCP_PYTHON").ok();
    if python.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set SEXTANT_MCP_PYTHON (.ci/run does)"
        );
        eprintln!("skipped: SEXTANT_MCP_PYTHON not set (run .ci/mcp-client.sh)");
    }
    python
}

/// A fixture copied into a fresh git repository with one commit.
fn committed_fixture(name: &str) -> tempfile::TempDir {
    let repo = copy_fixture(name);
    let root = repo.path();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", name]);
    repo
}

#[test]
fn a_real_mcp_client_gets_the_clis_answers_from_a_warm_server() {
    let Some(python) = mcp_python() else { return };
    let repo = committed_fixture("polyglot");
    let root = repo.path();
    stdout_of(sextant(root).args(["index", "--quiet", "--vectors", "off"]));
    // What the CLI answers on the same index, before the session changes anything.
    let why = cli_json(
        root,
        &["why-relevant", "verify the token signature", "--json"],
    );
    let search = cli_json(root, &["search", "Verifier", "-n", "5", "--json"]);
    let callers = cli_json(root, &["graph", "callers", "getToken", "--json"]);
    let stats = cli_json(root, &["graph", "stats", "--json"]);

    let script = tempfile::NamedTempFile::new().expect("script");
    std::fs::write(script.path(), CLIENT).expect("write");
    let output = std::process::Command::new(&python)
        .arg(script.path())
        .arg(assert_cmd::cargo::cargo_bin("sextant"))
        .arg(root)
        .arg(crate::support::NO_MODELS)
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client failed:\n{stderr}");
    let out: Value = serde_json::from_slice(&output.stdout).expect("client json");

    assert_eq!(out["server"], "sextant");
    assert_eq!(
        out["tools"],
        serde_json::json!(["graph", "index_status", "reindex", "search", "why_relevant"])
    );
    // Input schemas come from the types.
    assert_eq!(
        out["schemas"]["why_relevant"]["required"],
        serde_json::json!(["task"])
    );
    assert_eq!(paths(&tool_json(&out, "why")), paths(&why));
    assert_eq!(tool_json(&out, "search"), search);
    assert_eq!(tool_json(&out, "callers"), callers);
    assert_eq!(tool_json(&out, "stats"), stats);
    let context = out["context"]["text"].as_str().expect("context");
    assert!(context.contains("server/src/auth.rs"), "{context}");
    assert_eq!(tool_json(&out, "status")["generation"], 1);
    // Bad arguments: protocol errors for the request's shape, tool errors with what to do.
    let bad = out["bad"].as_object().expect("bad");
    let find = |needle: &str| {
        bad.iter()
            .find(|(key, _)| key.contains(needle))
            .map(|(_, value)| value.to_string())
            .unwrap_or_default()
    };
    assert!(find("\"limit\": 0").contains("out of range"), "{bad:?}");
    assert!(
        find("{\"ask\": \"callers\"}").contains("needs `target`"),
        "{bad:?}"
    );
    assert!(
        find("no_such_symbol_anywhere").contains("no file or symbol named"),
        "{bad:?}"
    );
    assert!(
        find("the a of").contains("no words to search for"),
        "{bad:?}"
    );
    assert_eq!(out["index_exit"], 0);
    // A saved file is answered from without anyone indexing (the server watches the tree).
    let fresh = out["fresh_after"].as_f64();
    assert!(
        fresh.is_some(),
        "the edit never showed up: {}",
        out["fresh_after"]
    );
    eprintln!(
        "freshness: {:.2} s from save to answer",
        fresh.unwrap_or_default()
    );
    // A generation committed by another process is answered from, without a restart.
    let fresh = paths(&tool_json(&out, "after_index"));
    assert!(
        fresh.contains(&"server/src/ratelimit.rs".to_string()),
        "{fresh:?}"
    );
    let concurrent: Vec<&str> = out["concurrent"]
        .as_array()
        .expect("concurrent")
        .iter()
        .map(|r| r.as_str().unwrap_or("?"))
        .collect();
    assert_eq!(concurrent, vec!["ok"; 21], "{concurrent:?}");
}

const VECTORS_CLIENT: &str = r#"
import asyncio, json, subprocess, sys, time
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

binary, repo, home = sys.argv[1], sys.argv[2], sys.argv[3]

async def main():
    out = {"errors": [], "calls": 0}
    params = StdioServerParameters(
        command=binary, args=["serve", "--repo", repo],
        env={"SEXTANT_HOME": home, "PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            # Started on an index without vectors: the server's first pass (catching up with
            # the tree) builds them, and they are picked up without a restart.
            started = time.monotonic()
            out["vectors_after"] = None
            while time.monotonic() - started < 60:
                answer = await session.call_tool("search", {"query": "rate limiting uploads", "semantic": True, "limit": 3})
                if not answer.is_error:
                    out["vectors_after"] = time.monotonic() - started
                    break
                out["without_vectors"] = answer.content[0].text
                await asyncio.sleep(0.1)
            first = await session.call_tool("search", {"query": "rate limiting uploads", "semantic": True, "limit": 3})
            out["before"] = first.content[0].text
            with open(f"{repo}/app/limits.py", "w") as f:
                f.write('def throttle_uploads(user):\n    """Rate limit uploads per user."""\n    return True\n')
            saved = time.monotonic()
            out["found_after"] = None
            while time.monotonic() - saved < 60:
                answer = await session.call_tool("search", {"query": "rate limiting uploads", "semantic": True, "limit": 3})
                out["calls"] += 1
                if answer.is_error:
                    out["errors"].append(answer.content[0].text)
                elif "app/limits.py" in answer.content[0].text:
                    out["found_after"] = time.monotonic() - saved
                    break
                await asyncio.sleep(0.1)
    print(json.dumps(out))

asyncio.run(main())
"#;

/// With vectors: a server started on an index without them builds them in its first pass and
/// picks them up; a saved file's units reach its semantic search without a restart, the
/// newer vectors swapped in off the query path, and no call fails meanwhile.
#[test]
fn a_warm_server_swaps_in_the_vectors_of_a_change() {
    let Some(python) = mcp_python() else { return };
    let home = std::env::var_os("SEXTANT_HOME").map(std::path::PathBuf::from);
    let Some(home) = home.filter(|h| h.join("models/minilm-l6-v2-int8/model.onnx").is_file())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install the embedding model and set SEXTANT_HOME"
        );
        eprintln!("skipped: no embedding model in $SEXTANT_HOME");
        return;
    };
    let repo = committed_fixture("shop");
    let root = repo.path();
    stdout_of(sextant(root).env("SEXTANT_HOME", &home).args([
        "index",
        "--quiet",
        "--vectors",
        "off",
    ]));
    let script = tempfile::NamedTempFile::new().expect("script");
    std::fs::write(script.path(), VECTORS_CLIENT).expect("write");
    let output = std::process::Command::new(&python)
        .arg(script.path())
        .arg(assert_cmd::cargo::cargo_bin("sextant"))
        .arg(root)
        .arg(&home)
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client failed:\n{stderr}");
    let out: Value = serde_json::from_slice(&output.stdout).expect("client json");
    assert!(
        out["vectors_after"].as_f64().is_some(),
        "vectors built after the server started never reached it: {out}\n{stderr}"
    );
    assert!(
        !out["before"]
            .as_str()
            .unwrap_or("")
            .contains("app/limits.py"),
        "{out}"
    );
    assert_eq!(out["errors"], serde_json::json!([]), "{out}");
    assert!(
        out["found_after"].as_f64().is_some(),
        "the change's vectors never reached the server: {out}\n{stderr}"
    );
    assert!(
        stderr.contains("sextant serve: vectors of generation"),
        "the newer vectors were not swapped in off the query path:\n{stderr}"
    );
}

const CATCH_UP_CLIENT: &str = r#"
import asyncio, json, sys, time
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

binary, repo, home = sys.argv[1], sys.argv[2], sys.argv[3]

async def main():
    out = {"found_after": None}
    params = StdioServerParameters(
        command=binary, args=["serve", "--repo", repo],
        env={"SEXTANT_HOME": home, "PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            started = time.monotonic()
            while time.monotonic() - started < 20:
                answer = await session.call_tool("search", {"query": "quarantine_stale_sessions", "limit": 5})
                if "server/src/quarantine.rs" in answer.content[0].text:
                    out["found_after"] = time.monotonic() - started
                    break
                await asyncio.sleep(0.1)
            out["removed"] = (await session.call_tool("search", {"query": "Verifier", "limit": 10})).content[0].text
    print(json.dumps(out))

asyncio.run(main())
"#;

/// What changed while no server watched (a pull, a branch switch, edits between sessions) is
/// indexed when the server starts, without any change during the session: a file written
/// before the start is found, a file deleted before it is gone.
#[test]
fn a_server_catches_up_with_changes_made_before_it_started() {
    let Some(python) = mcp_python() else { return };
    let repo = committed_fixture("polyglot");
    let root = repo.path();
    stdout_of(sextant(root).args(["index", "--quiet", "--vectors", "off"]));
    let before = cli_json(root, &["search", "Verifier", "-n", "10", "--json"]);
    let verifier_file = before
        .as_array()
        .and_then(|hits| hits.first())
        .and_then(|hit| hit["path"].as_str())
        .expect("a file defines Verifier")
        .to_string();
    std::fs::remove_file(root.join(&verifier_file)).expect("remove");
    std::fs::write(
        root.join("server/src/quarantine.rs"),
        "/// Quarantines sessions idle too long.\npub fn quarantine_stale_sessions() {}\n",
    )
    .expect("write");
    let script = tempfile::NamedTempFile::new().expect("script");
    std::fs::write(script.path(), CATCH_UP_CLIENT).expect("write");
    let output = std::process::Command::new(&python)
        .arg(script.path())
        .arg(assert_cmd::cargo::cargo_bin("sextant"))
        .arg(root)
        .arg(crate::support::NO_MODELS)
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client failed:\n{stderr}");
    let out: Value = serde_json::from_slice(&output.stdout).expect("client json");
    assert!(
        out["found_after"].as_f64().is_some(),
        "a file written before the server started was never indexed: {out}\n{stderr}"
    );
    let removed = out["removed"].as_str().unwrap_or_default();
    assert!(!removed.contains(&verifier_file), "{removed}");
}
