//! Checks in parts (`okd:compose/check-parts`, WIT 0.3.0): the parts a check lists, and how
//! a caller decides which of them run (the stage cache reuses the others).

use crate::finding::Finding;

/// One part of a check in parts (`okd:compose/check-parts`), as its plugin listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Its id, unique among the parts; the `check` of its findings.
    pub id: String,
    /// What in the config its findings depend on, as the plugin wrote it.
    pub settings: String,
}

/// How the parts of a check in parts are run: the caller's cache reuses some of them.
///
/// For each part, in the order the plugin lists them, the runtime asks [`Parts::reuse`]; when
/// that gives findings the part does not run, else [`Parts::starting`] is called, the part
/// runs, and [`Parts::ran`] gets its findings.
pub trait Parts: Send {
    /// The findings kept for `part`, if they may be used instead of running it.
    fn reuse(&mut self, part: &Part) -> Option<Vec<Finding>>;
    /// `part` is about to run.
    fn starting(&mut self, part: &Part);
    /// `part` ran and reported `findings`.
    fn ran(&mut self, part: &Part, findings: &[Finding]);
}

/// Runs every part (no cache).
pub struct EveryPart;

impl Parts for EveryPart {
    fn reuse(&mut self, _: &Part) -> Option<Vec<Finding>> {
        None
    }
    fn starting(&mut self, _: &Part) {}
    fn ran(&mut self, _: &Part, _: &[Finding]) {}
}

/// What happened to one part of a check in parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRun {
    /// The part's id.
    pub id: String,
    /// Whether its findings were reused instead of running it.
    pub reused: bool,
}

/// The most parts a check in parts may list: each runs in a store of its own and is kept in
/// the stage cache on its own.
pub const MAX_PARTS: usize = 1024;

/// The longest part id.
pub const MAX_PART_ID: usize = 128;

/// What is wrong with a list of parts: too many, an empty, odd or repeated id.
pub(crate) fn invalid_parts(list: &[Part]) -> Option<String> {
    if list.len() > MAX_PARTS {
        return Some(format!(
            "`parts` listed {} parts; a check may have at most {MAX_PARTS}",
            list.len()
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for part in list {
        if part.id.is_empty() {
            return Some("`parts` listed a part with an empty id".into());
        }
        // Ids are shown in the run's output and reports: no control characters, no markup.
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if part.id.len() > MAX_PART_ID || !part.id.chars().all(plain) {
            let shown: String = part
                .id
                .chars()
                .take(64)
                .flat_map(char::escape_debug)
                .collect();
            return Some(format!(
                "`parts` listed the part id `{shown}`: an id is 1 to {MAX_PART_ID} ASCII letters, digits, `-`, `_` or `.`"
            ));
        }
        if !seen.insert(part.id.as_str()) {
            return Some(format!("`parts` listed the part `{}` twice", part.id));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(id: &str) -> Part {
        Part {
            id: id.into(),
            settings: String::new(),
        }
    }

    #[test]
    fn parts_need_distinct_ids_and_a_bounded_count() {
        assert_eq!(invalid_parts(&[part("a"), part("b")]), None);
        assert_eq!(invalid_parts(&[]), None);
        assert_eq!(
            invalid_parts(&[part("a"), part("")]).as_deref(),
            Some("`parts` listed a part with an empty id")
        );
        assert_eq!(
            invalid_parts(&[part("a"), part("b"), part("a")]).as_deref(),
            Some("`parts` listed the part `a` twice")
        );
        let many: Vec<Part> = (0..=MAX_PARTS).map(|i| part(&i.to_string())).collect();
        assert_eq!(
            invalid_parts(&many).as_deref(),
            Some("`parts` listed 1025 parts; a check may have at most 1024")
        );
        assert_eq!(invalid_parts(&many[..MAX_PARTS]), None);
        assert_eq!(
            invalid_parts(&[part("manifests-valid"), part("a.b_c-1")]),
            None
        );
        assert_eq!(
            invalid_parts(&[part("a\u{1b}[31mred")]).as_deref(),
            Some(
                "`parts` listed the part id `a\\u{1b}[31mred`: an id is 1 to 128 ASCII letters, digits, `-`, `_` or `.`"
            )
        );
        assert!(invalid_parts(&[part(&"x".repeat(MAX_PART_ID + 1))]).is_some());
        assert!(invalid_parts(&[part("two words")]).is_some());
    }
}
