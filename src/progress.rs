//! A progress bar on stderr for long index phases, shown only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use sextant_index::update::Progress;

/// Draws one bar per phase; does nothing when disabled.
pub struct TerminalProgress {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl TerminalProgress {
    /// A bar that draws only if `wanted` and stderr is a terminal.
    pub fn new(wanted: bool) -> TerminalProgress {
        TerminalProgress {
            enabled: wanted && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }

    fn with_bar(&self, action: impl FnOnce(&mut Option<ProgressBar>)) {
        if self.enabled {
            action(&mut self.bar.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }
}

impl Progress for TerminalProgress {
    fn start(&self, phase: &'static str, total: u64) {
        self.with_bar(|slot| {
            let bar = ProgressBar::new(total);
            let style =
                ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} ({eta} left)")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(phase);
            *slot = Some(bar);
        });
    }

    fn advance(&self, units: u64) {
        if self.enabled
            && let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
        {
            bar.inc(units);
        }
    }

    fn finish(&self) {
        self.with_bar(|slot| {
            if let Some(bar) = slot.take() {
                bar.finish_and_clear();
            }
        });
    }
}
