//! Execution of an approved plan, one step at a time, on a branch (or, for a dry run, in a
//! temporary worktree that is thrown away): the model proposes search/replace edits, sextant
//! applies them, runs the step's approved validation command, commits on success and ticks
//! TODO.md; a failure goes back to the model a bounded number of times, then the run stops
//! with that step uncommitted and the earlier steps intact. Also the review of what was done
//! and its rollback. Nothing here reads the terminal: the caller answers [`StepHost`].

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use super::context::{SHRINKS, StepSources, code_budget, smaller_budget, step_context};
use super::plan::Plan;
use super::record::{FailedValidation, OpenRun, commit_todo, plan_text};
use super::state::{Run, RunState};
use super::validate;
use crate::edit;
use crate::git::{git, git_as_sextant};
use crate::llm::config::LlmSettings;
use crate::llm::{ChatRequest, Llm, Message};
use crate::rank::pack::TokenCounter;
use crate::retrieval::Retrieval;

const EDIT_FORMAT: &str = "Reply with edits only, as search/replace blocks: the file path on its own line, then\n\
<<<<<<< SEARCH\n(exact lines from the current file; empty to create a new file)\n=======\n(the new lines)\n>>>>>>> REPLACE\n\
The search text must occur exactly once in the file. Change only what the step needs.";

fn commit_all(dir: &Path, message: &str) -> anyhow::Result<()> {
    git(dir, &["add", "-A"])?;
    git_as_sextant(dir, &["commit", "--quiet", "--allow-empty", "-m", message])?;
    Ok(())
}

/// Throws away uncommitted changes of a failed attempt (tracked and new files; ignored files
/// are left alone).
fn reset_tree(dir: &Path) -> anyhow::Result<()> {
    git(dir, &["reset", "--quiet", "--hard", "HEAD"])?;
    // `-ff`: a nested repository a failed step created goes too.
    git(dir, &["clean", "--quiet", "-ffd"])?;
    Ok(())
}

/// The step's heading: the task, the step, its files, tests and validation.
fn step_heading(plan: &Plan, index: usize) -> String {
    let step = &plan.steps[index];
    format!(
        "Task: {}\n\nStep {}/{}: {}\nFiles: {}\nTests: {}\nValidation: `{}`\n\n",
        plan.task,
        index + 1,
        plan.steps.len(),
        step.title,
        step.files.join(", "),
        step.tests.join(", "),
        step.validate
    )
}

/// The user declined a step: the run pauses there (it is not a failure).
#[derive(Debug, thiserror::Error)]
#[error("paused before step {0}")]
struct Paused(usize);

/// Ticks step `index` in TODO.md (`todo` relative to `work`).
fn tick(work: &Path, todo: &str, plan: &mut Plan, index: usize) -> anyhow::Result<()> {
    plan.steps[index].done = true;
    edit::write_file(work, todo, plan.render().as_bytes())
        .with_context(|| format!("ticking {todo}"))
}

/// Why a change may not be written even inside the repository: the plan (whatever the path
/// says: `./TODO.md`, a link to it) and sextant's configuration, which decides where prompts
/// go and with which key.
fn protected_change(work: &Path, todo: &str, changes: &[edit::Change]) -> Option<String> {
    let plan = edit::resolved_target(work, todo).ok();
    let config = edit::resolved_target(work, crate::settings::CONFIG_FILE).ok();
    changes.iter().find_map(|change| {
        let target = edit::resolved_target(work, &change.path).ok()?;
        if Some(&target) == plan.as_ref() {
            Some(format!(
                "{} is the plan: a step never edits it",
                change.path
            ))
        } else if Some(&target) == config.as_ref() {
            Some(format!(
                "{} is sextant's configuration: a step never edits it",
                change.path
            ))
        } else {
            None
        }
    })
}

/// How `plan` differs from the approved TODO.md text (ticks aside), if it does. An empty
/// approved text (a run approved before it was recorded) compares with nothing.
fn differs_from_approved(plan: &Plan, approved: &str) -> Option<String> {
    if approved.is_empty() {
        return None;
    }
    let Ok(approved) = Plan::parse(approved) else {
        return Some("the approved text no longer parses".into());
    };
    if approved.steps.len() != plan.steps.len() {
        return Some(format!(
            "{} steps, {} approved",
            plan.steps.len(),
            approved.steps.len()
        ));
    }
    plan.steps
        .iter()
        .zip(&approved.steps)
        .position(|(now, then)| {
            (
                &now.title,
                &now.files,
                &now.created,
                &now.tests,
                &now.validate,
                &now.rollback,
            ) != (
                &then.title,
                &then.files,
                &then.created,
                &then.tests,
                &then.validate,
                &then.rollback,
            )
        })
        .map(|index| format!("step {} changed", index + 1))
        .or_else(|| (plan.task != approved.task).then(|| "the task changed".into()))
}

/// Lines of a failed validation's output shown on the terminal.
const SHOWN_OUTPUT_LINES: usize = 20;

/// `git status --porcelain` without the run's own plan file, which is not committed before
/// execution starts (it becomes the first commit of the run's branch).
fn changes_besides(root: &Path, todo: &str) -> anyhow::Result<String> {
    let status = git(root, &["status", "--porcelain", "--untracked-files=normal"])?;
    Ok(status
        .lines()
        .filter(|line| line.get(3..).map(|p| p.trim_matches('"')) != Some(todo))
        .map(|line| format!("{line}\n"))
        .collect())
}

/// How a plan is executed.
pub struct ExecuteOptions {
    /// Steps run in a throwaway worktree; nothing is written to the repository.
    pub dry_run: bool,
    /// Every step waits for [`StepHost::confirm`].
    pub confirm_steps: bool,
    /// Attempts per step before the run stops.
    pub attempts: usize,
    /// How long one validation may run.
    pub timeout: Duration,
    /// The model's settings.
    pub llm: LlmSettings,
}

/// What execution needs from whoever drives it (the terminal, a test).
pub trait StepHost {
    /// Whether to run step `number` of `total` now (asked only with `confirm_steps`); `false`
    /// pauses the run there.
    fn confirm(&mut self, number: usize, total: usize, title: &str) -> anyhow::Result<bool>;
    /// Something to tell the user as it happens (a failed attempt, a resumed run).
    fn note(&mut self, text: &str);
}

/// How an execution ended: the report to show, and the error that stopped it, if any (a
/// [`Paused`] error is a pause at the user's request).
pub struct Executed {
    /// What happened, step by step.
    pub report: String,
    /// `Ok` when every step is done (or the dry run finished).
    pub result: anyhow::Result<()>,
}

/// Executes the open run's approved plan from its first unticked step. An error is a refusal
/// before anything ran (not approved, TODO.md changed, a dirty tree, another execution);
/// once steps run, how they ended is in [`Executed`].
pub fn execute(
    open: OpenRun,
    options: &ExecuteOptions,
    host: &mut dyn StepHost,
) -> anyhow::Result<Executed> {
    let OpenRun {
        settings,
        id,
        mut run,
        mut record,
        lock: _held,
    } = open;
    let index_dir = settings.index_dir.clone();
    // A run that failed during execution (a step that failed its validation, a model server
    // that went down) goes on where it stopped.
    if let Some(RunState::Approved | RunState::Executing { .. }) = run.failed_from() {
        let state = run.recover()?.name();
        host.note(&format!(
            "run {id}: failed earlier; continuing from `{state}`\n"
        ));
    }
    match run.state {
        RunState::Approved | RunState::Executing { .. } => {}
        ref other => bail!(
            "run {id} is {}: only an approved plan can be executed (`sextant approve` first)",
            other.name()
        ),
    }
    // Whatever run.json says, a run whose plan was never approved is not executed.
    if record.approved_hash.is_none() {
        bail!("run {id} was never approved: `sextant approve` first");
    }
    // One execution per repository at a time: runs share the working tree and its branch.
    let _repository = Run::lock(&index_dir, ".execute")
        .context("another run is executing in this repository; wait for it to finish")?;
    let root = settings.root.clone();
    let todo_relative = record.todo_relative(&root);
    let text = plan_text(&settings, &id, &record)?;
    let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
    let plan = Plan::parse(&text)?;
    let evidence_now = record.evidence(plan.steps.len(), Some(&hash));
    if run.state == RunState::Approved && !evidence_now.plan_unchanged_since_approval {
        bail!("TODO.md changed since it was approved; run `sextant approve` again");
    }
    // Before the first step the approved plan waits uncommitted; after it, the plan is
    // committed on the run's branch and any change to it counts.
    let dirty = if run.state == RunState::Approved {
        changes_besides(&root, &todo_relative)?
    } else {
        changes_besides(&root, "")?
    };
    if !dirty.trim().is_empty() {
        bail!("the working tree has uncommitted changes; commit or stash them first:\n{dirty}");
    }
    // Where the steps happen: a throwaway worktree for a dry run, else a branch of the repo.
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let work = if options.dry_run {
        let path = scratch.path().join("worktree");
        git(
            &root,
            &[
                "worktree",
                "add",
                "--quiet",
                "--detach",
                &path.to_string_lossy(),
                "HEAD",
            ],
        )?;
        path
    } else {
        if record.base_commit.is_none() {
            record.base_commit = Some(git(&root, &["rev-parse", "HEAD"])?.trim().to_string());
            let branch = git(&root, &["branch", "--show-current"])?
                .trim()
                .to_string();
            record.base_branch = (!branch.is_empty()).then_some(branch);
            record.save(&index_dir, &id)?;
        }
        let branch = format!("sextant/{id}");
        let exists = git(&root, &["branch", "--list", &branch])?;
        if exists.trim().is_empty() {
            git(&root, &["checkout", "--quiet", "-b", &branch])?;
        } else {
            git(&root, &["checkout", "--quiet", &branch])?;
        }
        root.clone()
    };
    // The approved plan is the run branch's first commit (in a dry run, the scratch
    // worktree's), so the user's branch never holds a plan they did not approve.
    if run.state == RunState::Approved {
        edit::write_file(&work, &todo_relative, text.as_bytes())
            .with_context(|| format!("writing {todo_relative}"))?;
        commit_todo(
            &work,
            &work.join(&todo_relative),
            &format!("sextant: plan for {}", plan.task),
        )?;
    }
    let todo_in_work = work.join(&todo_relative);
    let start_commit = git(&work, &["rev-parse", "HEAD"])?.trim().to_string();
    // Resuming: the ticks on the branch say which steps are committed (a step interrupted
    // before its commit is done again from the start).
    let mut plan = Plan::parse(
        &std::fs::read_to_string(&todo_in_work)
            .with_context(|| format!("reading {}", todo_in_work.display()))?,
    )?;
    if let Some(difference) = differs_from_approved(&plan, &record.approved_todo) {
        bail!(
            "{todo_relative} on the run's branch no longer matches the approved plan ({difference}); restore it (`git checkout -- {todo_relative}`) or start a new run"
        );
    }
    let first = plan
        .steps
        .iter()
        .position(|s| !s.done)
        .unwrap_or(plan.steps.len());

    let llm = Llm::new(options.llm.clone(), Some(settings.llm_metrics_path()))?.for_run(&id);
    let timeout = options.timeout;
    let counter = TokenCounter::named(&settings.rank.tokenizer)?;
    // The index as of its last generation, read against the tree the steps work in; without
    // one, steps get their own files only.
    let mut retrieval =
        match Retrieval::for_tree(&settings, &work, settings.rank.weights.vector > 0.0) {
            Ok(retrieval) => Some(retrieval),
            Err(error) => {
                host.note(&format!(
                    "steps get their own files only: the index cannot be opened ({error:#})\n"
                ));
                None
            }
        };
    let secrets = settings.secret_rules()?;
    let mut out = String::new();
    let result = (|| -> anyhow::Result<()> {
        for index in first..plan.steps.len() {
            let number = index + 1;
            if options.confirm_steps
                && !host.confirm(number, plan.steps.len(), &plan.steps[index].title)?
            {
                return Err(Paused(number).into());
            }
            let here = RunState::Executing { step: number };
            if !options.dry_run && run.state != here {
                run.advance(here, &record.evidence(plan.steps.len(), Some(&hash)))?;
                run.save(&index_dir)?;
            }
            let system = format!(
                "You are a careful engineer carrying out one step of an approved plan. {EDIT_FORMAT}"
            );
            let heading = step_heading(&plan, index);
            let budget = code_budget(&options.llm, &counter, &format!("{system}\n{heading}"));
            let mut context_for = |budget: usize, shrunk: usize| {
                let (code, mut usage) = step_context(
                    &mut StepSources {
                        work: &work,
                        retrieval: retrieval.as_mut(),
                        counter: &counter,
                        secrets: &secrets,
                        weights: &settings.rank.weights,
                    },
                    &plan,
                    index,
                    budget,
                );
                if shrunk > 0 {
                    usage.stage = format!("{} (shrunk {shrunk})", usage.stage);
                }
                (code, usage)
            };
            let (code, usage) = context_for(budget, 0);
            let mut sent = usage.tokens();
            if !options.dry_run {
                record.context_use.push(usage);
                record.save(&index_dir, &id)?;
            }
            let mut messages = vec![
                Message::system(system.clone()),
                Message::user(heading.clone() + &code),
            ];
            let mut passed = false;
            let mut shrunk = 0;
            for attempt in 1..=options.attempts {
                let reply = loop {
                    let request = ChatRequest {
                        messages: messages.clone(),
                        stage: Some(format!("execute-{number}")),
                        ..ChatRequest::default()
                    };
                    let result = llm.chat(&request, &|_| {});
                    let calls = llm.take_calls();
                    if !options.dry_run {
                        record.add_calls(calls);
                        record.save(&index_dir, &id)?;
                    }
                    let over = match result {
                        Ok(reply) => break reply,
                        Err(error @ crate::llm::LlmError::PromptTooLong { .. })
                            if shrunk < SHRINKS && sent > 0 =>
                        {
                            error
                        }
                        Err(error) => return Err(error.into()),
                    };
                    // The model's tokenizer found the prompt longer than its context: the
                    // step's code is packed again into less room, and only the newest
                    // exchange of the conversation is kept.
                    shrunk += 1;
                    let code_bytes = messages[1].content.len() - heading.len();
                    let prompt_bytes = messages.iter().map(|m| m.content.len()).sum();
                    let (code, usage) = context_for(
                        smaller_budget(sent, &over, code_bytes, prompt_bytes),
                        shrunk,
                    );
                    host.note(&format!(
                        "step {number}: {over}; its code is packed again into {} tokens\n",
                        usage.budget_tokens
                    ));
                    sent = usage.tokens();
                    if !options.dry_run {
                        record.context_use.push(usage);
                        record.save(&index_dir, &id)?;
                    }
                    let newest = messages.split_off(messages.len().max(4) - 2);
                    messages = vec![
                        Message::system(system.clone()),
                        Message::user(heading.clone() + &code),
                    ];
                    if attempt > 1 {
                        messages.extend(newest);
                    }
                };
                let feedback = match edit::parse(&reply.content)
                    .and_then(|edits| edit::plan_changes(&work, &edits))
                {
                    Err(error) => {
                        format!("Your edits could not be applied: {error}. Send corrected blocks.")
                    }
                    Ok(changes) if changes.is_empty() => {
                        "No edit blocks found. Send search/replace blocks.".to_string()
                    }
                    Ok(changes)
                        if let Some(refused) =
                            protected_change(&work, &todo_relative, &changes) =>
                    {
                        format!("{refused}. Send blocks for the step's files only.")
                    }
                    Ok(changes) if let Err(error) = edit::write_changes(&work, &changes) => {
                        reset_tree(&work)?;
                        format!("Your edits could not be written: {error}. Send corrected blocks.")
                    }
                    Ok(_) => {
                        let command = &plan.steps[index].validate;
                        let outcome = match validate::run(command, &work, timeout) {
                            Ok(outcome) => outcome,
                            Err(error) => {
                                // Ctrl-C: the step starts again from its beginning next time.
                                reset_tree(&work)?;
                                return Err(error.into());
                            }
                        };
                        if outcome.passed {
                            passed = true;
                            break;
                        }
                        reset_tree(&work)?;
                        let _ = writeln!(
                            out,
                            "step {number}: attempt {attempt}: `{command}` failed ({}); last lines of its output:\n{}",
                            outcome.ending(),
                            indent(&outcome.tail(SHOWN_OUTPUT_LINES))
                        );
                        host.note(&format!(
                            "step {number}: attempt {attempt}: `{command}` failed ({})\n{}\n",
                            outcome.ending(),
                            indent(&outcome.tail(SHOWN_OUTPUT_LINES))
                        ));
                        if !options.dry_run {
                            record.failed_validations.push(FailedValidation {
                                step: number,
                                attempt,
                                command: command.clone(),
                                ending: outcome.ending(),
                                output: outcome.output.clone(),
                            });
                            record.save(&index_dir, &id)?;
                        }
                        // The command's output can print what the step's files may not
                        // show (a test printing the environment, a script reading `.env`).
                        let output = match secrets.check_content(&outcome.output) {
                            None => outcome.output.clone(),
                            Some((rule, line)) => format!(
                                "(withheld: line {line} of the output holds a secret ({rule}); do not print secrets)"
                            ),
                        };
                        format!(
                            "The validation `{command}` failed ({}). Output:\n{output}\nFix the step; send new blocks against the original files.",
                            outcome.ending(),
                        )
                    }
                };
                if !feedback.starts_with("The validation") {
                    let _ = writeln!(
                        out,
                        "step {number}: attempt {attempt} failed: {}",
                        feedback.lines().next().unwrap_or_default()
                    );
                }
                messages.push(Message::assistant(reply.content));
                messages.push(Message::user(feedback));
            }
            if !passed {
                bail!(
                    "step {number} ({}) failed {} times; earlier steps are committed; every attempt's output is in the run record; `sextant execute` tries the step again",
                    plan.steps[index].title,
                    options.attempts
                );
            }
            let message = format!(
                "step {number}/{}: {}",
                plan.steps.len(),
                plan.steps[index].title
            );
            if let Err(error) = tick(&work, &todo_relative, &mut plan, index)
                .and_then(|()| commit_all(&work, &message))
            {
                // Ticked but not committed would make the next run skip the step: undo both.
                reset_tree(&work)?;
                return Err(error.context(format!(
                    "step {number} passed its validation but could not be committed; it was undone and runs again with `sextant execute`"
                )));
            }
            let _ = writeln!(
                out,
                "step {number}/{}: {} — validated and committed",
                plan.steps.len(),
                plan.steps[index].title
            );
        }
        Ok(())
    })();
    if options.dry_run {
        let diff = git(&work, &["diff", &start_commit, "HEAD"]).unwrap_or_default();
        let _ = writeln!(
            out,
            "dry run: nothing was written to {}; the whole diff:\n{diff}",
            root.display()
        );
        let _ = git(
            &root,
            &["worktree", "remove", "--force", &work.to_string_lossy()],
        );
        return Ok(Executed {
            report: out,
            result,
        });
    }
    if let Some(Paused(step)) = result
        .as_ref()
        .err()
        .and_then(|e| e.downcast_ref::<Paused>())
    {
        let _ = writeln!(
            out,
            "paused before step {step} at your request; `sextant execute` resumes there"
        );
        return Ok(Executed {
            report: out,
            result: Ok(()),
        });
    }
    if let Err(error) = &result {
        run.advance(
            RunState::Failed {
                reason: format!("{error:#}"),
            },
            &Default::default(),
        )?;
        run.save(&index_dir)?;
        return Ok(Executed {
            report: out,
            result,
        });
    }
    record.save(&index_dir, &id)?;
    let _ = writeln!(
        out,
        "run {id}: all {} steps done on branch sextant/{id}; `sextant review` next",
        plan.steps.len()
    );
    Ok(Executed {
        report: out,
        result: Ok(()),
    })
}

/// Text indented by four spaces, for output shown under a heading.
fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn step_commits(
    dir: &Path,
    base: &str,
    steps: usize,
) -> anyhow::Result<Vec<(usize, String, String)>> {
    let log = git(dir, &["log", "--format=%H%x1f%s", &format!("{base}..HEAD")])?;
    let mut commits = Vec::new();
    for line in log.lines() {
        let Some((sha, subject)) = line.split_once('\u{1f}') else {
            continue;
        };
        let Some(rest) = subject.strip_prefix("step ") else {
            continue;
        };
        if let Some((number, _)) = rest.split_once('/')
            && let Ok(number) = number.parse::<usize>()
            && (1..=steps).contains(&number)
        {
            commits.push((number, sha.to_string(), subject.to_string()));
        }
    }
    Ok(commits)
}

/// The plan of an executed run and its step commits since execution began (newest first).
type StepCommit = (usize, String, String);

fn executed(open: &OpenRun) -> anyhow::Result<(Plan, Vec<StepCommit>)> {
    let base = open
        .record
        .base_commit
        .as_deref()
        .context("this run has not executed anything yet")?;
    let plan = Plan::parse(&plan_text(&open.settings, &open.id, &open.record)?)?;
    let commits = step_commits(&open.settings.root, base, plan.steps.len())?;
    Ok((plan, commits))
}

/// The review of an executed run: the plan against what was done, then the diff (`stat`:
/// its summary only); records the review, and the run's end once its branch is merged.
pub fn review(open: OpenRun, stat: bool) -> anyhow::Result<String> {
    let (plan, commits) = executed(&open)?;
    let OpenRun {
        settings,
        id,
        mut run,
        record,
        ..
    } = open;
    let base = record.base_commit.clone().unwrap_or_default();
    let root = &settings.root;
    let mut out = format!("run {id}: {}\n\nplan vs done:\n", plan.task);
    for (index, step) in plan.steps.iter().enumerate() {
        let commit = commits
            .iter()
            .find(|(n, _, _)| *n == index + 1)
            .map_or("not committed".to_string(), |(_, sha, _)| {
                sha[..10].to_string()
            });
        let _ = writeln!(
            out,
            "  [{}] {}. {}  ({commit})",
            if step.done { "x" } else { " " },
            index + 1,
            step.title
        );
    }
    if !record.context_use.is_empty() {
        let _ = writeln!(out, "\ncode sent to the model, per stage:");
        for (index, usage) in record.context_use.iter().enumerate() {
            let _ = writeln!(out, "  {}", usage.summary());
            for call in record.calls.iter().filter(|c| c.packing == Some(index)) {
                let _ = writeln!(out, "    call {}", call.summary());
            }
        }
    }
    let _ = write!(out, "\n{}", git(root, &["diff", "--stat", &base, "HEAD"])?);
    if !stat {
        let _ = write!(out, "\n{}", git(root, &["diff", &base, "HEAD"])?);
    }
    let all_done = plan.steps.iter().all(|s| s.done);
    // Merged into the branch it started from: the run is done.
    let merged = record.base_branch.as_deref().is_some_and(|base| {
        crate::git::succeeds(
            root,
            &[
                "merge-base",
                "--is-ancestor",
                &format!("sextant/{id}"),
                base,
            ],
        )
    });
    if run.state == RunState::Reviewed && merged {
        run.advance(RunState::Done, &record.evidence(plan.steps.len(), None))?;
        run.save(&settings.index_dir)?;
        let _ = writeln!(out, "\ndone: sextant/{id} is merged");
    }
    if all_done && matches!(run.state, RunState::Executing { .. }) {
        run.advance(RunState::Reviewed, &record.evidence(plan.steps.len(), None))?;
        run.save(&settings.index_dir)?;
        let _ = writeln!(
            out,
            "\nreviewed: merge the branch when satisfied (`sextant rollback` undoes steps)"
        );
    }
    Ok(out)
}

/// Reverts the commits of step `from` and every later step, newest first, as new commits;
/// the run ends rolled back. Returns what to tell the user.
pub fn rollback(open: OpenRun, from: usize) -> anyhow::Result<String> {
    let (plan, commits) = executed(&open)?;
    let OpenRun {
        settings,
        id,
        mut run,
        record,
        ..
    } = open;
    let root = &settings.root;
    let mut reverted = 0;
    // Newest first: git log lists them that way.
    for (number, sha, _) in commits.iter().filter(|(n, _, _)| *n >= from) {
        git_as_sextant(root, &["revert", "--no-edit", sha])
            .with_context(|| format!("reverting step {number}"))?;
        reverted += 1;
    }
    run.advance(
        RunState::RolledBack,
        &record.evidence(plan.steps.len(), None),
    )?;
    run.save(&settings.index_dir)?;
    Ok(format!(
        "run {id}: reverted {reverted} step commits (steps {from} and later)\n"
    ))
}
