//! The run state machine, enforced in code: a stage whose preconditions do not hold cannot
//! start, whatever the model or the user asks. Persisted per run, so a run survives a crash or
//! Ctrl-C and resumes where it stood.
//!
//! ```text
//! Analysed → Asked → Answered → Planned → Approved → Executing(1..n) → Reviewed → Done
//!     any state but Done → Failed;   Executing / Reviewed / Failed → RolledBack
//! ```

use sextant_index::store::IndexDir;

use serde::{Deserialize, Serialize};

/// Where a run stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunState {
    /// The repository was analysed.
    Analysed,
    /// Clarifying questions were asked.
    Asked,
    /// Every question has an answer.
    Answered,
    /// TODO.md holds a valid plan.
    Planned,
    /// The user approved the plan (of this content hash).
    Approved,
    /// Executing step `step` (1-based); earlier steps are committed.
    Executing {
        /// The step under way.
        step: usize,
    },
    /// Every step is done and the change was reviewed.
    Reviewed,
    /// Finished.
    Done,
    /// Stopped by a failure.
    Failed {
        /// What failed.
        reason: String,
    },
    /// Step commits were reverted.
    RolledBack,
}

impl RunState {
    /// Short name for messages.
    pub fn name(&self) -> String {
        match self {
            RunState::Executing { step } => format!("executing step {step}"),
            RunState::Failed { .. } => "failed".to_string(),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

/// Facts a transition's preconditions are checked against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Questions asked.
    pub questions: usize,
    /// Questions answered.
    pub answers: usize,
    /// Steps of the validated plan (0 if none).
    pub plan_steps: usize,
    /// Whether the plan file still has the content that was approved.
    pub plan_unchanged_since_approval: bool,
}

/// Why a transition was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot go from {from} to {to}: {reason}")]
pub struct Refused {
    /// Current state.
    pub from: String,
    /// Requested state.
    pub to: String,
    /// The unmet precondition.
    pub reason: String,
}

/// Checks a transition; `Ok` means it may happen.
pub fn check(from: &RunState, to: &RunState, evidence: &Evidence) -> Result<(), Refused> {
    use RunState::*;
    let refuse = |reason: &str| {
        Err(Refused {
            from: from.name(),
            to: to.name(),
            reason: reason.to_string(),
        })
    };
    match (from, to) {
        (Done, _) => refuse("the run is finished"),
        (_, Failed { .. }) => Ok(()),
        (Executing { .. } | Reviewed | Failed { .. }, RolledBack) => Ok(()),
        (Analysed, Asked) if (2..=4).contains(&evidence.questions) => Ok(()),
        (Analysed, Asked) => refuse("a run asks 2 to 4 questions"),
        (Asked, Answered) if evidence.answers == evidence.questions && evidence.questions > 0 => {
            Ok(())
        }
        (Asked, Answered) => refuse("every question needs an answer"),
        (Answered, Planned) | (Planned, Planned) if (5..=12).contains(&evidence.plan_steps) => {
            Ok(())
        }
        (Answered | Planned, Planned) => refuse("a plan has 5 to 12 valid steps"),
        (Planned, Approved) if evidence.plan_steps > 0 => Ok(()),
        (Approved, Executing { step: 1 }) if evidence.plan_unchanged_since_approval => Ok(()),
        (Approved, Executing { .. }) => refuse(
            "the plan changed since it was approved (or execution must start at step 1); approve it again",
        ),
        (Executing { step }, Executing { step: next })
            if *step >= 1 && *next == step + 1 && *next <= evidence.plan_steps =>
        {
            Ok(())
        }
        (Executing { step }, Reviewed) if *step == evidence.plan_steps => Ok(()),
        (Executing { .. }, Reviewed) => refuse("steps remain to execute"),
        (Reviewed, Done) => Ok(()),
        (_, Executing { .. }) => refuse("execution needs an approved plan, one step at a time"),
        (_, Approved) => refuse("only a validated plan can be approved"),
        _ => refuse("not a step of the workflow"),
    }
}

/// The lock on one run, held while a command works on it (released on drop, and by the
/// system when the process dies).
pub struct RunLock {
    _file: std::fs::File,
}

/// A persisted run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Run id (directory name).
    pub id: String,
    /// The task.
    pub task: String,
    /// Current state.
    pub state: RunState,
    /// States passed through, oldest first, with Unix times.
    pub history: Vec<(u64, RunState)>,
}

impl Run {
    /// A run that has just been analysed.
    pub fn new(id: &str, task: &str) -> Run {
        Run {
            id: id.to_string(),
            task: task.to_string(),
            state: RunState::Analysed,
            history: vec![(now(), RunState::Analysed)],
        }
    }

    /// Moves to `to` if the preconditions hold.
    pub fn advance(&mut self, to: RunState, evidence: &Evidence) -> Result<(), Refused> {
        check(&self.state, &to, evidence)?;
        self.history.push((now(), to.clone()));
        self.state = to;
        Ok(())
    }

    /// The state a failed run failed in (the last state before `Failed`), if it failed.
    pub fn failed_from(&self) -> Option<&RunState> {
        if !matches!(self.state, RunState::Failed { .. }) {
            return None;
        }
        self.history
            .iter()
            .rev()
            .map(|(_, state)| state)
            .find(|state| !matches!(state, RunState::Failed { .. }))
    }

    /// Takes a failed run back to the state it failed in, so the stage that failed runs again
    /// (a model server that was down, a step that failed its validation). Only states of the
    /// workflow up to execution can be re-entered; the failure stays in the history.
    pub fn recover(&mut self) -> Result<&RunState, Refused> {
        let back = match self.failed_from() {
            Some(
                state @ (RunState::Analysed
                | RunState::Asked
                | RunState::Answered
                | RunState::Planned
                | RunState::Approved
                | RunState::Executing { .. }),
            ) => state.clone(),
            other => {
                return Err(Refused {
                    from: self.state.name(),
                    to: other.map_or("an earlier stage".to_string(), RunState::name),
                    reason: "only a run that failed before it was reviewed can continue".into(),
                });
            }
        };
        self.history.push((now(), back.clone()));
        self.state = back;
        Ok(&self.state)
    }

    /// Takes the run's lock for as long as the returned guard lives: two commands never work
    /// on one run at once (two `execute`s would apply and commit every step twice).
    pub fn lock(index_dir: &IndexDir, id: &str) -> anyhow::Result<RunLock> {
        let dir = index_dir.run_path(id);
        std::fs::create_dir_all(&dir)?;
        // The lock is on the run's directory itself: a lock file could be deleted from under
        // a holder, the directory cannot while it holds the run.
        let file = std::fs::File::open(&dir)?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(anyhow::anyhow!(
                "run {id} is in use by another sextant command; wait for it to finish"
            )),
            Err(std::fs::TryLockError::Error(error)) => Err(error.into()),
        }
    }

    /// Writes `run.json` atomically and durably ([`sextant_index::atomic::write`]).
    pub fn save(&self, index_dir: &IndexDir) -> anyhow::Result<()> {
        std::fs::create_dir_all(index_dir.run_path(&self.id))?;
        sextant_index::atomic::write(
            &index_dir.run_state_path(&self.id),
            &serde_json::to_vec_pretty(self)?,
        )?;
        Ok(())
    }

    /// Reads a run back.
    pub fn load(index_dir: &IndexDir, id: &str) -> anyhow::Result<Run> {
        let path = index_dir.run_state_path(id);
        let bytes = std::fs::read(&path)
            .map_err(|e| anyhow::anyhow!("no run {id} ({}): {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "run record {} is damaged: {e}\nhint: start a new run with `sextant run`, or restore the file",
                path.display()
            )
        })
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use RunState::*;

    fn ready(plan_steps: usize) -> Evidence {
        Evidence {
            questions: 3,
            answers: 3,
            plan_steps,
            plan_unchanged_since_approval: true,
        }
    }

    #[test]
    fn the_whole_workflow_in_order() {
        let mut run = Run::new("r1", "add caching");
        let evidence = ready(5);
        for next in [Asked, Answered, Planned, Approved] {
            run.advance(next, &evidence).expect("legal");
        }
        for step in 1..=5 {
            run.advance(Executing { step }, &evidence).expect("legal");
        }
        run.advance(Reviewed, &evidence).expect("legal");
        run.advance(Done, &evidence).expect("legal");
        assert_eq!(run.history.len(), 12);
    }

    #[test]
    fn every_skip_is_refused() {
        let evidence = ready(5);
        let states = [
            Analysed,
            Asked,
            Answered,
            Planned,
            Approved,
            Executing { step: 1 },
            Reviewed,
            Done,
        ];
        // Only the next state (or staying planned, or a failure) is legal from each state.
        for (i, from) in states.iter().enumerate() {
            for (j, to) in states.iter().enumerate() {
                let legal = check(from, to, &evidence).is_ok();
                // Review waits for the last of the 5 steps, not the first.
                let early_review = from == &(Executing { step: 1 }) && to == &Reviewed;
                let expected =
                    (j == i + 1 && !early_review) || (from == &Planned && to == &Planned);
                assert_eq!(legal, expected, "{from:?} → {to:?}");
            }
        }
    }

    #[test]
    fn preconditions_are_checked() {
        let mut evidence = ready(5);
        evidence.questions = 1;
        assert!(check(&Analysed, &Asked, &evidence).is_err());
        evidence.questions = 5;
        assert!(check(&Analysed, &Asked, &evidence).is_err());
        let mut evidence = ready(5);
        evidence.answers = 2;
        assert!(check(&Asked, &Answered, &evidence).is_err());
        for steps in [0, 4, 13, 16] {
            assert!(
                check(&Answered, &Planned, &ready(steps)).is_err(),
                "{steps}"
            );
        }
        // Executing without approval, or after the plan was edited, is refused.
        assert!(check(&Planned, &Executing { step: 1 }, &ready(5)).is_err());
        let mut edited = ready(5);
        edited.plan_unchanged_since_approval = false;
        let error = check(&Approved, &Executing { step: 1 }, &edited).expect_err("edited");
        assert!(error.to_string().contains("approve it again"), "{error}");
        // Steps go one at a time and review waits for the last one.
        assert!(check(&Executing { step: 1 }, &Executing { step: 3 }, &ready(5)).is_err());
        assert!(check(&Executing { step: 4 }, &Reviewed, &ready(5)).is_err());
        assert!(check(&Executing { step: 5 }, &Reviewed, &ready(5)).is_ok());
        // Failure is always possible before the end; rollback only once something ran.
        let failed = Failed {
            reason: "tests".into(),
        };
        assert!(check(&Executing { step: 2 }, &failed, &ready(5)).is_ok());
        assert!(check(&failed, &RolledBack, &ready(5)).is_ok());
        assert!(check(&Planned, &RolledBack, &ready(5)).is_err());
        assert!(check(&Done, &failed, &ready(5)).is_err());
    }

    #[test]
    fn a_run_survives_a_restart() {
        let runs = tempfile::tempdir().expect("tempdir");
        let mut run = Run::new("r2", "fix the bug");
        run.advance(Asked, &ready(5)).expect("legal");
        run.save(&IndexDir::new(runs.path())).expect("save");
        let back = Run::load(&IndexDir::new(runs.path()), "r2").expect("load");
        assert_eq!(back, run);
        assert!(Run::load(&IndexDir::new(runs.path()), "nope").is_err());
    }

    #[test]
    fn a_failed_run_goes_back_to_the_stage_that_failed() {
        let evidence = ready(5);
        let mut run = Run::new("r1", "add caching");
        run.advance(Asked, &evidence).expect("legal");
        run.advance(
            Failed {
                reason: "cannot connect".into(),
            },
            &evidence,
        )
        .expect("legal");
        assert_eq!(run.failed_from(), Some(&Asked));
        assert_eq!(run.recover().expect("recovers"), &Asked);
        run.advance(Answered, &evidence)
            .expect("the workflow goes on");

        let mut executing = Run::new("r2", "add caching");
        for next in [Asked, Answered, Planned, Approved, Executing { step: 1 }] {
            executing.advance(next, &evidence).expect("legal");
        }
        executing
            .advance(
                Failed {
                    reason: "step 1 failed".into(),
                },
                &evidence,
            )
            .expect("legal");
        assert_eq!(
            executing.recover().expect("recovers"),
            &Executing { step: 1 }
        );

        let mut reviewed = Run::new("r3", "t");
        for next in [Asked, Answered, Planned, Approved, Executing { step: 1 }] {
            reviewed.advance(next, &evidence).expect("legal");
        }
        let steps = Evidence {
            plan_steps: 1,
            ..evidence.clone()
        };
        reviewed.advance(Reviewed, &steps).expect("legal");
        reviewed
            .advance(Failed { reason: "x".into() }, &evidence)
            .expect("legal");
        assert!(reviewed.recover().is_err());
        assert!(Run::new("r4", "t").recover().is_err(), "not failed");
    }

    #[test]
    fn execution_never_starts_from_step_zero() {
        let evidence = ready(5);
        assert!(check(&Executing { step: 0 }, &Executing { step: 1 }, &evidence).is_err());
    }

    #[test]
    fn a_run_is_worked_on_by_one_command_at_a_time() {
        let runs = tempfile::tempdir().expect("tempdir");
        let held = Run::lock(&IndexDir::new(runs.path()), "r1").expect("first");
        let second = Run::lock(&IndexDir::new(runs.path()), "r1")
            .err()
            .expect("refused");
        assert!(
            second
                .to_string()
                .contains("in use by another sextant command")
        );
        drop(held);
        Run::lock(&IndexDir::new(runs.path()), "r1").expect("free again");
    }
}
