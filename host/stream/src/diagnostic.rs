//! Errors that point into the stream file: `file:line:column`, the line, a caret.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found in a stream file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Byte range in the file; `None` when the problem has no single place.
    pub span: Option<Range<usize>>,
    /// What is wrong, as a lowercase phrase.
    pub message: String,
    /// What to do about it, when we know.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem at `span`.
    pub fn at(span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            span: Some(span),
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The most characters of a user's value that a message repeats.
pub const SHOWN_CHARS: usize = 80;
/// The most characters of a message, or of a source line, that a diagnostic prints.
const MAX_PRINTED_CHARS: usize = 400;

/// `text` as a message repeats it: whole when short, else its first [`SHOWN_CHARS`] characters
/// and how long it is, so a 20 MB value is not echoed back whole.
pub fn shown(text: &str) -> String {
    clip(text, SHOWN_CHARS)
}

/// The first `max` characters of `text`, then `…` and its length when it was longer.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!(
            "{}… ({} bytes in all)",
            text.get(..end).unwrap_or_default(),
            text.len()
        ),
    }
}

/// A line and column (both 1-based, the column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// The line and column of byte `offset` in `source`.
pub fn locate(source: &str, offset: usize) -> Location {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    Location { line, column }
}

/// Every problem of one stream file, ready to print.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    /// The file, as the user named it.
    pub path: PathBuf,
    /// Its text.
    pub source: String,
    /// The problems, in file order.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// The location of the first problem, for machine output.
    pub fn first_location(&self) -> Option<Location> {
        self.items
            .iter()
            .find_map(|d| d.span.as_ref())
            .map(|s| locate(&self.source, s.start))
    }

    fn render(&self, f: &mut fmt::Formatter<'_>, path: &Path, d: &Diagnostic) -> fmt::Result {
        let Some(span) = &d.span else {
            writeln!(
                f,
                "{}: {}",
                path.display(),
                clip(&d.message, MAX_PRINTED_CHARS)
            )?;
            return hint(f, d);
        };
        let loc = locate(&self.source, span.start);
        writeln!(
            f,
            "{}:{}:{}: {}",
            path.display(),
            loc.line,
            loc.column,
            clip(&d.message, MAX_PRINTED_CHARS)
        )?;
        let line = self.source.lines().nth(loc.line - 1).unwrap_or("");
        let width = self
            .source
            .get(span.clone())
            .map(|s| s.lines().next().unwrap_or("").chars().count())
            .unwrap_or(1)
            .max(1);
        // A long line is shown from a little before the column, and only so far.
        let skip = (loc.column - 1).saturating_sub(MAX_PRINTED_CHARS / 4);
        let shown_line: String = line.chars().skip(skip).take(MAX_PRINTED_CHARS).collect();
        let (lead, tail) = (
            if skip > 0 { "…" } else { "" },
            if line.chars().count() > skip + MAX_PRINTED_CHARS {
                "…"
            } else {
                ""
            },
        );
        let caret_at = loc.column - 1 - skip + lead.chars().count();
        let width = width.min(MAX_PRINTED_CHARS.saturating_sub(caret_at).max(1));
        let gutter = loc.line.to_string().len();
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{} | {lead}{shown_line}{tail}", loc.line)?;
        writeln!(
            f,
            "{:gutter$} | {}{}",
            "",
            " ".repeat(caret_at),
            "^".repeat(width)
        )?;
        hint(f, d)
    }
}

fn hint(f: &mut fmt::Formatter<'_>, d: &Diagnostic) -> fmt::Result {
    match &d.hint {
        Some(h) => writeln!(f, "  hint: {}", clip(h, MAX_PRINTED_CHARS)),
        None => Ok(()),
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.items.len();
        writeln!(
            f,
            "stream `{}` has {n} problem{}",
            self.path.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for d in &self.items {
            self.render(f, &self.path, d)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_lines_and_columns() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(locate(src, 0), Location { line: 1, column: 1 });
        assert_eq!(locate(src, 6), Location { line: 2, column: 1 });
        assert_eq!(locate(src, 9), Location { line: 2, column: 4 });
    }

    #[test]
    fn renders_a_caret_under_the_span() {
        let d = Diagnostics {
            path: "s.toml".into(),
            source: "x = 1\nbad = 2\n".into(),
            items: vec![Diagnostic::at(6..9, "unknown field `bad`").with_hint("remove it")],
        };
        let text = d.to_string();
        assert!(text.contains("s.toml:2:1: unknown field `bad`"), "{text}");
        assert!(text.contains("2 | bad = 2\n  | ^^^\n"), "{text}");
        assert!(text.contains("hint: remove it"), "{text}");
    }

    #[test]
    fn long_values_lines_and_messages_are_clipped() {
        assert_eq!(shown("short"), "short");
        let long = "é".repeat(10_000);
        let s = shown(&long);
        assert!(s.starts_with(&"é".repeat(SHOWN_CHARS)), "{s}");
        assert!(s.ends_with("… (20000 bytes in all)"), "{s}");

        let value = "x".repeat(20 << 20);
        let source = format!("a = 1\nname = \"{value}\"\n");
        let d = Diagnostics {
            path: "s.toml".into(),
            source,
            items: vec![Diagnostic::at(13..14, format!("bad name `{value}`"))],
        };
        let text = d.to_string();
        assert!(text.len() < 2_000, "{} bytes printed", text.len());
        assert!(text.contains("s.toml:2:8: bad name `xxx"), "{text}");
        assert!(text.contains("2 | name = \"xxx"), "{text}");
        assert!(text.contains("  | ") && text.contains("       ^"), "{text}");
    }
}
