//! Parsing the times operators type (`--at`, `--modified-after`): RFC 3339
//! (`2026-11-03T14:02:11Z`, `2026-11-03T15:02:11+01:00`) or `YYYY-MM-DD[ HH:MM[:SS]]` in the
//! local time zone (a date alone means 00:00 that day; `T` may replace the space).

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// A time that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid time {value:?}: {problem} (expected RFC 3339 such as 2026-11-03T14:02:11Z, or YYYY-MM-DD[ HH:MM] in the local time zone)"
)]
pub struct TimeParseError {
    pub value: String,
    pub problem: String,
}

/// Parses `s` as RFC 3339, or as a local `YYYY-MM-DD[ HH:MM[:SS]]`.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, TimeParseError> {
    parse_time_in(s, &Local)
}

/// Like [`parse_time`], with local times read in `tz` (tests use a fixed zone).
pub fn parse_time_in<Tz: TimeZone>(s: &str, tz: &Tz) -> Result<DateTime<Utc>, TimeParseError> {
    let t = s.trim();
    let err = |problem: &str| TimeParseError {
        value: s.to_string(),
        problem: problem.to_string(),
    };
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    let naive = if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        d.and_time(NaiveTime::MIN)
    } else {
        let formats = [
            "%Y-%m-%d %H:%M",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%dT%H:%M:%S",
        ];
        formats
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
            .ok_or_else(|| err("not a date or time in a known form"))?
    };
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| err("that local time does not exist (daylight saving change)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    #[test]
    fn reads_rfc3339_and_local_forms() {
        let plus2 = FixedOffset::east_opt(2 * 3600).unwrap();
        let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            parse_time_in("2026-11-03T14:02:11Z", &plus2).unwrap(),
            utc("2026-11-03T14:02:11Z")
        );
        assert_eq!(
            parse_time_in("2026-11-03T15:02:11+01:00", &plus2).unwrap(),
            utc("2026-11-03T14:02:11Z")
        );
        assert_eq!(
            parse_time_in("2026-11-03", &plus2).unwrap(),
            utc("2026-11-02T22:00:00Z")
        );
        assert_eq!(
            parse_time_in("2026-11-03 14:30", &plus2).unwrap(),
            utc("2026-11-03T12:30:00Z")
        );
        assert_eq!(
            parse_time_in("2026-11-03T14:30:05", &plus2).unwrap(),
            utc("2026-11-03T12:30:05Z")
        );
        for bad in ["yesterday", "2026-13-01", "2026-11-03 25:00", ""] {
            let e = parse_time_in(bad, &plus2).unwrap_err();
            assert!(e.to_string().contains("invalid time"), "{e}");
        }
    }
}
