//! Sizes (`256MiB`) and durations (`30s`) as stream files write them.

use std::time::Duration;

use crate::diagnostic::shown;

/// Parses a size such as `512KiB`, `256MiB`, `1GiB`, `100MB` or `4096` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{}` must start with a whole number", shown(text)))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit `{}`: use `B`, `KiB`, `MiB`, `GiB`, `KB`, `MB` or `GB`",
                shown(other)
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{}` is too large", shown(text)))
}

/// Parses a duration such as `250ms`, `30s`, `2m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{}` must start with a whole number", shown(text)))?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(number)),
        "s" => Ok(Duration::from_secs(number)),
        "m" | "min" => Ok(Duration::from_secs(number.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(number.saturating_mul(3600))),
        "" => Err(format!(
            "`{}` needs a unit: `ms`, `s`, `m` or `h`",
            shown(text)
        )),
        other => Err(format!(
            "unknown duration unit `{}`: use `ms`, `s`, `m` or `h`",
            shown(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("100MB").unwrap(), 100_000_000);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999999GiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("3 fortnights").is_err());
    }

    #[test]
    fn long_inputs_are_not_echoed_whole() {
        let huge = format!("1{}", "q".repeat(1 << 20));
        let size = parse_size(&huge).unwrap_err();
        let duration = parse_duration(&huge).unwrap_err();
        assert!(size.len() < 300, "{} bytes", size.len());
        assert!(duration.len() < 300, "{} bytes", duration.len());
        assert!(size.contains("bytes in all"), "{size}");
    }
}
