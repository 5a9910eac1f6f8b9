//! End-to-end tests of the `sextant` binary on real temporary repositories.

mod crash;
mod index_cli;
mod llm;
mod llama_smoke;
mod llm_cli;
mod support;
