//! Shell-style globs over names (image tags, manifest file names), in the dialect of the host's
//! repository grants (`globset` with `*` crossing `/`), written out here because `globset` and the
//! regex engine under it add about 580 KB to every component (select-images: 149 KB without,
//! 732 KB with; measured with `cargo build --release --target wasm32-wasip2`).
//!
//! `*` matches any run of characters, `?` one character, `[abc]`, `[a-z]` and `[!a-z]` (or
//! `[^a-z]`) one character of (or not of) a set, `{a,b}` either alternative (groups may nest),
//! `\` makes the next character literal. `/` is an ordinary character: tag names have no
//! hierarchy. On these forms the matcher agrees with `globset` (`tests/glob_dialect.rs`
//! compares both on a table of patterns); `**` next to a `/` is `globset`'s recursive form and is
//! not part of the dialect.

use std::fmt;

/// A glob that is not well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid glob `{}`: {}", self.pattern, self.reason)
    }
}

impl std::error::Error for GlobError {}

/// A checked glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    /// One token sequence per way through the `{…}` groups; the glob matches when one does.
    alternatives: Vec<Vec<Token>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    Any,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// The most token sequences the `{…}` groups of one pattern may expand to.
const MAX_ALTERNATIVES: usize = 1024;

/// Reads a pattern into its token sequences.
struct Parser<'a> {
    chars: &'a [char],
    at: usize,
}

impl Parser<'_> {
    /// Parses until the end, or (inside a `{…}` group) until the `,` or `}` that ends a branch.
    fn sequence(&mut self, depth: usize) -> Result<Vec<Vec<Token>>, &'static str> {
        let mut sequences: Vec<Vec<Token>> = vec![Vec::new()];
        while let Some(&c) = self.chars.get(self.at) {
            let token = match c {
                ',' | '}' if depth > 0 => break,
                '}' => return Err("a `}` must close a `{`"),
                '{' => {
                    self.at += 1;
                    let mut branches = Vec::new();
                    loop {
                        branches.extend(self.sequence(depth + 1)?);
                        match self.chars.get(self.at) {
                            Some(',') => self.at += 1,
                            Some('}') => {
                                self.at += 1;
                                break;
                            }
                            _ => return Err("a `{` must be closed by `}`"),
                        }
                    }
                    // As globset does: an empty alternative is dropped (`x{,-rhel}` matches
                    // `x-rhel` only), and a group of empty ones matches the empty string.
                    branches.retain(|branch| !branch.is_empty());
                    if branches.is_empty() {
                        branches.push(Vec::new());
                    }
                    if sequences.len() * branches.len() > MAX_ALTERNATIVES {
                        return Err("too many `{…}` alternatives");
                    }
                    sequences = sequences
                        .iter()
                        .flat_map(|head| {
                            branches.iter().map(move |tail| {
                                let mut joined = head.clone();
                                for token in tail {
                                    push(&mut joined, token.clone());
                                }
                                joined
                            })
                        })
                        .collect();
                    continue;
                }
                '\\' => {
                    let Some(&escaped) = self.chars.get(self.at + 1) else {
                        return Err("a `\\` must be followed by the character it escapes");
                    };
                    self.at += 2;
                    Token::Literal(escaped)
                }
                '*' => {
                    self.at += 1;
                    Token::AnyRun
                }
                '?' => {
                    self.at += 1;
                    Token::Any
                }
                '[' => self.class()?,
                c => {
                    self.at += 1;
                    Token::Literal(c)
                }
            };
            for sequence in &mut sequences {
                push(sequence, token.clone());
            }
        }
        Ok(sequences)
    }

    /// Parses `[…]` starting at the `[`.
    fn class(&mut self) -> Result<Token, &'static str> {
        let chars = self.chars;
        let mut j = self.at + 1;
        let negated = matches!(chars.get(j), Some('!') | Some('^'));
        if negated {
            j += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let Some(&c) = chars.get(j) else {
                return Err("a `[` must be closed by `]`");
            };
            // A `]` right after `[` or `[!` is a literal, as in shells.
            if c == ']' && !first {
                break;
            }
            first = false;
            if chars.get(j + 1) == Some(&'-') && chars.get(j + 2).is_some_and(|&e| e != ']') {
                let end = chars[j + 2];
                if end < c {
                    return Err("a range in `[…]` must not run backwards");
                }
                ranges.push((c, end));
                j += 3;
            } else {
                ranges.push((c, c));
                j += 1;
            }
        }
        self.at = j + 1;
        Ok(Token::Class { negated, ranges })
    }
}

/// Appends `token`, folding runs of `*` into one.
fn push(sequence: &mut Vec<Token>, token: Token) {
    if token == Token::AnyRun && sequence.last() == Some(&Token::AnyRun) {
        return;
    }
    sequence.push(token);
}

impl Glob {
    /// Checks a pattern: an empty pattern, an unclosed `[` or `{`, a `}` that closes nothing and
    /// a trailing `\` are refused.
    pub fn new(pattern: &str) -> Result<Self, GlobError> {
        let fail = |reason| GlobError {
            pattern: pattern.to_string(),
            reason,
        };
        if pattern.is_empty() {
            return Err(fail("a pattern must not be empty"));
        }
        let chars: Vec<char> = pattern.chars().collect();
        let alternatives = Parser {
            chars: &chars,
            at: 0,
        }
        .sequence(0)
        .map_err(fail)?;
        Ok(Self {
            pattern: pattern.to_string(),
            alternatives,
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        self.alternatives
            .iter()
            .any(|tokens| matches_tokens(tokens, &name))
    }
}

/// Classic two-pointer wildcard matching with one backtrack point: linear in practice, never
/// exponential.
fn matches_tokens(tokens: &[Token], name: &[char]) -> bool {
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::AnyRun) => {
                star = Some((t, n));
                t += 1;
            }
            Some(token) if token.matches_one(name[n]) => {
                t += 1;
                n += 1;
            }
            _ => match star {
                Some((star_t, star_n)) => {
                    t = star_t + 1;
                    n = star_n + 1;
                    star = Some((star_t, star_n + 1));
                }
                None => return false,
            },
        }
    }
    tokens[t.min(tokens.len())..]
        .iter()
        .all(|token| *token == Token::AnyRun)
}

impl Token {
    fn matches_one(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::Any => true,
            Token::AnyRun => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// Checks every pattern of a list, failing on the first bad one.
pub fn compile_all(patterns: &[String]) -> Result<Vec<Glob>, GlobError> {
    patterns.iter().map(|p| Glob::new(p)).collect()
}

/// The first glob of `globs` that matches `name`.
pub fn first_match<'a>(globs: &'a [Glob], name: &str) -> Option<&'a Glob> {
    globs.iter().find(|glob| glob.matches(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        Glob::new(pattern).unwrap().matches(name)
    }

    #[test]
    fn literals_and_stars() {
        assert!(m("cli", "cli"));
        assert!(!m("cli", "cli-artifacts"));
        assert!(m("cli*", "cli-artifacts"));
        assert!(m("*-rhel*", "ose-cli-rhel9"));
        assert!(m("*-rhel*", "x-rhel"));
        assert!(!m("*-rhel*", "rhel-coreos"));
        assert!(m("*", ""));
        assert!(m("**", "anything"));
        assert!(m("*coreos*", "stream-coreos-extensions"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaab"));
    }

    #[test]
    fn question_mark_and_classes() {
        assert!(m("rhel-coreos-?", "rhel-coreos-8"));
        assert!(!m("rhel-coreos-?", "rhel-coreos-10"));
        assert!(m("ovirt-[cd]*", "ovirt-csi-driver"));
        assert!(m("x[0-9]", "x7"));
        assert!(!m("x[!0-9]", "x7"));
        assert!(m("x[!0-9]", "xa"));
        assert!(m("[]]", "]"));
        assert!(m("a[-]b", "a-b"));
    }

    #[test]
    fn braces_and_escapes() {
        assert!(m("{cli,tools}", "cli"));
        assert!(m("{cli,tools}", "tools"));
        assert!(!m("{cli,tools}", "cli-artifacts"));
        assert!(m("ovirt-{csi,*-operator}", "ovirt-machine-operator"));
        assert!(m("a{b,{c,d}e}f", "adef"));
        assert!(!m("x{,-rhel}", "x"));
        assert!(m("x{,-rhel}", "x-rhel"));
        assert!(m("x{,}y", "xy"));
        assert!(m("a,b", "a,b"));
        assert!(m(r"a\*", "a*"));
        assert!(!m(r"a\*", "ab"));
        assert!(m(r"\{a\}", "{a}"));
        assert_eq!(
            Glob::new("{a").unwrap_err().reason,
            "a `{` must be closed by `}`"
        );
        assert_eq!(
            Glob::new("a}").unwrap_err().reason,
            "a `}` must close a `{`"
        );
        assert!(Glob::new("a\\").is_err());
        let many = "{a,b,c,d}".repeat(6);
        assert_eq!(
            Glob::new(&many).unwrap_err().reason,
            "too many `{…}` alternatives"
        );
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(
            Glob::new("").unwrap_err().reason,
            "a pattern must not be empty"
        );
        let error = Glob::new("abc[").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid glob `abc[`: a `[` must be closed by `]`"
        );
        assert!(Glob::new("[z-a]").is_err());
    }

    #[test]
    fn first_match_returns_the_matching_pattern() {
        let globs = compile_all(&["a*".to_string(), "*b".to_string()]).unwrap();
        assert_eq!(first_match(&globs, "xb").map(Glob::as_str), Some("*b"));
        assert_eq!(first_match(&globs, "zz"), None);
    }
}
