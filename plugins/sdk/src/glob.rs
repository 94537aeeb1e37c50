//! Shell-style globs over names (image tags, manifest file names).
//!
//! `*` matches any run of characters, `?` one character, `[abc]`, `[a-z]` and `[!a-z]` one
//! character of (or not of) a set. Nothing else is special, and `/` is an ordinary character:
//! tag names have no hierarchy.

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
    tokens: Vec<Token>,
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

impl Glob {
    /// Checks a pattern: an empty pattern or an unclosed `[` is refused.
    pub fn new(pattern: &str) -> Result<Self, GlobError> {
        let fail = |reason| GlobError {
            pattern: pattern.to_string(),
            reason,
        };
        if pattern.is_empty() {
            return Err(fail("a pattern must not be empty"));
        }
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    if tokens.last() != Some(&Token::AnyRun) {
                        tokens.push(Token::AnyRun);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::Any);
                    i += 1;
                }
                '[' => {
                    let mut j = i + 1;
                    let negated = matches!(chars.get(j), Some('!') | Some('^'));
                    if negated {
                        j += 1;
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(&c) = chars.get(j) else {
                            return Err(fail("a `[` must be closed by `]`"));
                        };
                        // A `]` right after `[` or `[!` is a literal, as in shells.
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        if chars.get(j + 1) == Some(&'-')
                            && chars.get(j + 2).is_some_and(|&e| e != ']')
                        {
                            let end = chars[j + 2];
                            if end < c {
                                return Err(fail("a range in `[…]` must not run backwards"));
                            }
                            ranges.push((c, end));
                            j += 3;
                        } else {
                            ranges.push((c, c));
                            j += 1;
                        }
                    }
                    tokens.push(Token::Class { negated, ranges });
                    i = j + 1;
                }
                c => {
                    tokens.push(Token::Literal(c));
                    i += 1;
                }
            }
        }
        Ok(Self {
            pattern: pattern.to_string(),
            tokens,
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        // Classic two-pointer wildcard matching with one backtrack point: linear in practice,
        // never exponential.
        let (mut t, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.tokens.get(t) {
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
        self.tokens[t.min(self.tokens.len())..]
            .iter()
            .all(|token| *token == Token::AnyRun)
    }
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
