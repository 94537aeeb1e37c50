//! The one timestamp form a release uses: RFC 3339 in UTC with whole seconds,
//! `YYYY-MM-DDTHH:MM:SSZ`, as Go's `metav1.Time` writes `creationTimestamp`.
//!
//! A dozen lines of civil-calendar arithmetic replace a date crate: the form is fixed, and a
//! strict parser refuses offsets and fractions that would make two equal releases differ.

use crate::error::{Error, Result};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Parses `YYYY-MM-DDTHH:MM:SSZ` into seconds since the Unix epoch.
///
/// Years before 1970 are refused: a tar mtime cannot hold them.
pub fn parse_rfc3339_utc(value: &str) -> Result<u64> {
    let bad = |reason: &str| Error::InvalidTimestamp {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let b = value.as_bytes();
    let shape_ok = b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(bad("must be `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds)"));
    }
    let num = |from: usize, to: usize| {
        b[from..to]
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'))
    };
    let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
    let (hour, minute, second) = (num(11, 13), num(14, 16), num(17, 19));
    if year < 1970 {
        return Err(bad("must not be before 1970"));
    }
    if !(1..=12).contains(&month) {
        return Err(bad("month must be 01 to 12"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(bad("day does not exist in that month"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(bad("time must be 00:00:00 to 23:59:59"));
    }
    let secs = days_from_civil(year, month, day) * DAY + hour * 3600 + minute * 60 + second;
    u64::try_from(secs).map_err(|_| bad("must not be before 1970"))
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339_utc(secs: u64) -> String {
    // u64 seconds reach far beyond year 9999; clamp rather than overflow i64.
    let secs = i64::try_from(secs).unwrap_or(i64::MAX / 2);
    let (days, rem) = (secs.div_euclid(DAY), secs.rem_euclid(DAY));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z").unwrap(), 0);
        // `date -u -d 2024-03-10T01:01:16Z +%s`
        assert_eq!(
            parse_rfc3339_utc("2024-03-10T01:01:16Z").unwrap(),
            1_710_032_476
        );
        assert_eq!(
            parse_rfc3339_utc("2000-02-29T23:59:59Z").unwrap(),
            951_868_799
        );
        assert_eq!(format_rfc3339_utc(1_710_032_476), "2024-03-10T01:01:16Z");
        assert_eq!(format_rfc3339_utc(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn round_trips_across_years() {
        let mut t = 0u64;
        while t < 4_102_444_800 {
            let text = format_rfc3339_utc(t);
            assert_eq!(parse_rfc3339_utc(&text).unwrap(), t, "{text}");
            t += 7_777_777;
        }
    }

    #[test]
    fn refuses_loose_forms() {
        for bad in [
            "2024-03-10T01:01:16.5Z",
            "2024-03-10T01:01:16+00:00",
            "2024-03-10 01:01:16Z",
            "2024-3-10T01:01:16Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "1969-12-31T23:59:59Z",
            "",
        ] {
            assert!(parse_rfc3339_utc(bad).is_err(), "{bad}");
        }
    }
}
