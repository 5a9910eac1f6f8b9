//! End-to-end tests of the `sextant` binary on real temporary repositories.

mod attacks;
mod bad_input;
mod check_graph;
mod corruption;
mod crash;
mod embed_server;
mod eval_cli;
mod execute_cli;
mod graph_cli;
mod graph_part;
mod history_soak;
mod index_cli;
mod llama_smoke;
mod llm;
mod llm_cli;
mod readme_flow;
mod run_cli;
mod secrets_corpus;
mod serve_mcp;
mod support;
mod vectors_cli;
mod why_relevant_cli;
