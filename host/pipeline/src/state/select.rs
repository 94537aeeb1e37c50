//! Which stages one process runs: written once, for the plan (`--from`, `--until` and `--only`
//! against the stages a state records) and for the run (which checks the selection).

use std::ops::Range;

use crate::error::{Error, Result};
use crate::state::{Selection, StateOptions};

/// The stages one process runs: `run` are run now; `already_ran` were selected but the state
/// records them (with the same plugin and config), so they are not run again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selected {
    /// Indices of the stages to run.
    pub run: Range<usize>,
    /// Indices of the selected stages the state already records.
    pub already_ran: Range<usize>,
}

impl Selected {
    /// Every one of `total` stages (a run without a state).
    pub(crate) fn all(total: usize) -> Self {
        Selected {
            run: 0..total,
            already_ran: 0..0,
        }
    }
}

/// The stages `selection` names against a state that records `done` stages: from `--from`
/// (default: the first not recorded) to `--until` (default: the last). An unknown name is
/// returned as the error.
fn bounds<'n>(
    stages: &[&str],
    selection: &'n Selection,
    done: usize,
) -> std::result::Result<Range<usize>, &'n str> {
    let index = |name: &'n str| stages.iter().position(|s| *s == name).ok_or(name);
    let first = selection.from.as_deref().map(index).transpose()?;
    let last = selection.until.as_deref().map(index).transpose()?;
    let end = last.map_or(stages.len(), |l| l + 1);
    Ok(first.unwrap_or(done.min(end))..end)
}

/// The stages (indices into `stages`) a process with `selection` may run against a state that
/// records `done` stages: from `--from` (default: the first not recorded) through `--until`
/// (default: the last). Unknown names select every stage (the run then names the error).
pub fn may_run(stages: &[&str], selection: &Selection, done: usize) -> Range<usize> {
    bounds(stages, selection, done).unwrap_or(0..stages.len())
}

/// Which of the stream `stream`'s `stages` this process runs, given the state's selection and
/// how many stages the state records (`done`); an error for an unknown stage, `--from` after
/// `--until`, or a first stage whose predecessors have not run.
pub(crate) fn select(
    stream: &str,
    stages: &[&str],
    state: &StateOptions,
    done: usize,
) -> Result<Selected> {
    let Range { start: first, end } = bounds(stages, &state.selection, done).map_err(|name| {
        Error::State(format!(
            "the stream `{stream}` has no stage `{name}` (its stages: {})",
            stages.join(", ")
        ))
    })?;
    if first >= end && state.selection.from.is_some() {
        return Err(Error::State(format!(
            "`--from {}` comes after `--until {}`",
            stages[first],
            state.selection.until.as_deref().unwrap_or_default()
        )));
    }
    if first > done {
        return Err(Error::State(format!(
            "stage `{}` cannot run yet: stage `{}` has not run in the state `{}` (run it first, or start with `--from {}`)",
            stages[first],
            stages[done],
            state.dir.display(),
            stages[done]
        )));
    }
    let start = done.max(first).min(end);
    Ok(Selected {
        run: start..end,
        already_ran: first..start,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const STAGES: [&str; 5] = ["select", "swap-os", "patch", "sign", "test"];

    fn sel(from: Option<&str>, until: Option<&str>) -> Selection {
        Selection {
            from: from.map(str::to_string),
            until: until.map(str::to_string),
        }
    }

    fn state(selection: Selection) -> StateOptions {
        StateOptions {
            dir: PathBuf::from("/tmp/state"),
            selection,
        }
    }

    fn selected(selection: Selection, done: usize) -> Result<Selected> {
        select("okd-scos", &STAGES, &state(selection), done)
    }

    #[test]
    fn may_run_is_the_selected_range_from_the_next_stage() {
        assert_eq!(may_run(&STAGES, &Selection::only("patch"), 0), 2..3);
        assert_eq!(may_run(&STAGES, &sel(None, None), 0), 0..5);
        assert_eq!(may_run(&STAGES, &sel(None, None), 3), 3..5);
        assert_eq!(may_run(&STAGES, &sel(None, Some("swap-os")), 1), 1..2);
        assert_eq!(may_run(&STAGES, &sel(Some("sign"), None), 1), 3..5);
        // Everything up to `--until` already ran: nothing to load.
        assert!(may_run(&STAGES, &sel(None, Some("select")), 2).is_empty());
        // An unknown stage: the run names the error; every plugin may be needed.
        assert_eq!(may_run(&STAGES, &Selection::only("nope"), 2), 0..5);
    }

    #[test]
    fn without_a_selection_the_stages_not_recorded_run() {
        assert_eq!(
            selected(sel(None, None), 0).unwrap(),
            Selected::all(STAGES.len())
        );
        assert_eq!(
            selected(sel(None, None), 2).unwrap(),
            Selected {
                run: 2..5,
                already_ran: 2..2
            }
        );
        assert_eq!(
            selected(sel(None, Some("sign")), 1).unwrap(),
            Selected {
                run: 1..4,
                already_ran: 1..1
            }
        );
    }

    #[test]
    fn a_selected_stage_the_state_records_is_not_run_again() {
        let only = selected(Selection::only("swap-os"), 3).unwrap();
        assert!(only.run.is_empty(), "{only:?}");
        assert_eq!(only.already_ran, 1..2);
        assert_eq!(
            selected(sel(Some("swap-os"), None), 3).unwrap(),
            Selected {
                run: 3..5,
                already_ran: 1..3
            }
        );
    }

    #[test]
    fn a_stage_whose_predecessors_have_not_run_is_refused() {
        let err = selected(Selection::only("sign"), 1)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "stage `sign` cannot run yet: stage `swap-os` has not run in the state `/tmp/state` (run it first, or start with `--from swap-os`)"
        );
    }

    #[test]
    fn unknown_stages_and_reversed_bounds_are_refused() {
        let err = selected(sel(None, Some("nope")), 0)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "the stream `okd-scos` has no stage `nope` (its stages: select, swap-os, patch, sign, test)"
        );
        let err = selected(sel(Some("sign"), Some("swap-os")), 4)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "`--from sign` comes after `--until swap-os`");
    }
}
