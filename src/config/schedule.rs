//! The `[schedule]` table resolved: cron expressions (with seconds) read in the configured time
//! zone, one per library or the default. The daemon's scheduler decides from these when
//! backups are due.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::ScheduleFile;

/// The value of a schedule that turns scheduled backups off (for every library in
/// `[schedule] backup`, for one in `[schedule.libraries]`): only on-demand backups then.
pub const OFF: &str = "off";

/// A cron expression, or `off` (`None`).
fn parse_or_off(expr: &str, tz: Tz) -> Result<Option<CronSchedule>, String> {
    if expr.trim().eq_ignore_ascii_case(OFF) {
        Ok(None)
    } else {
        CronSchedule::parse(expr, tz).map(Some)
    }
}

/// One cron expression (with seconds) in one time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: cron::Schedule,
    tz: Tz,
}

impl CronSchedule {
    /// Parses `sec min hour day-of-month month day-of-week [year]` read in `tz`.
    pub fn parse(expr: &str, tz: Tz) -> Result<Self, String> {
        let fields = expr.split_whitespace().count();
        if !(6..=7).contains(&fields) {
            return Err(format!(
                "expected 6 fields (sec min hour day month weekday), got {fields} in {expr:?}"
            ));
        }
        let cron = cron::Schedule::from_str(expr).map_err(|e| format!("{expr:?}: {e}"))?;
        Ok(Self { cron, tz })
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .after(&t.with_timezone(&self.tz))
            .next()
            .map(|d| d.with_timezone(&Utc))
    }

    pub fn expression(&self) -> &str {
        self.cron.source()
    }
}

/// Every library's schedule: its own entry in `[schedule.libraries]` (or `off`), else `backup`
/// (or `off`).
#[derive(Debug, Clone)]
pub struct Schedules {
    default: Option<CronSchedule>,
    per_library: BTreeMap<String, Option<CronSchedule>>,
    maintenance: Option<CronSchedule>,
}

impl Schedules {
    pub fn from_config(s: &ScheduleFile) -> Result<Self, (String, String)> {
        let tz: Tz = s.timezone.parse().map_err(|_| {
            (
                "schedule.timezone".to_string(),
                format!(
                    "unknown time zone {:?} (an IANA name such as \"Europe/London\" or \"UTC\")",
                    s.timezone
                ),
            )
        })?;
        let default = parse_or_off(&s.backup, tz).map_err(|m| ("schedule.backup".into(), m))?;
        let mut per_library = BTreeMap::new();
        for (lib, expr) in &s.libraries {
            let key = format!("schedule.libraries.{lib}");
            let sched = parse_or_off(expr, tz).map_err(|m| (key, m))?;
            per_library.insert(lib.to_ascii_lowercase(), sched);
        }
        let maintenance = match &s.maintenance {
            Some(expr) => parse_or_off(expr, tz).map_err(|m| ("schedule.maintenance".into(), m))?,
            None => None,
        };
        Ok(Self {
            default,
            per_library,
            maintenance,
        })
    }

    /// When repository maintenance runs, or `None` (never: absent or `off`).
    pub fn maintenance(&self) -> Option<&CronSchedule> {
        self.maintenance.as_ref()
    }

    /// The schedule of `library`, or `None` when its scheduled backups are off.
    pub fn for_library(&self, library: &str) -> Option<&CronSchedule> {
        match self.per_library.get(&library.to_ascii_lowercase()) {
            Some(s) => s.as_ref(),
            None => self.default.as_ref(),
        }
    }
}

/// Checks a `[schedule]` table; the error names the key.
pub fn validate(s: &ScheduleFile) -> Result<(), (String, String)> {
    Schedules::from_config(s).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn time_zone_moves_the_slot() {
        let london = CronSchedule::parse("0 0 1 * * *", "Europe/London".parse().unwrap()).unwrap();
        // British Summer Time: 01:00 local is 00:00 UTC.
        assert_eq!(
            london.next_after(t("2026-07-01T12:00:00Z")),
            Some(t("2026-07-02T00:00:00Z"))
        );
        assert_eq!(
            london.next_after(t("2026-12-01T12:00:00Z")),
            Some(t("2026-12-02T01:00:00Z"))
        );
    }

    #[test]
    fn per_library_schedules_override_and_turn_off() {
        let mut file = ScheduleFile::default();
        file.libraries.insert("ARCHIVE".into(), "off".into());
        file.libraries
            .insert("Active".into(), "0 30 2 * * *".into());
        let s = Schedules::from_config(&file).unwrap();
        assert!(s.for_library("archive").is_none());
        assert_eq!(
            s.for_library("ACTIVE").unwrap().expression(),
            "0 30 2 * * *"
        );
        assert_eq!(s.for_library("OTHER").unwrap().expression(), "0 0 1 * * *");
        assert!(s.maintenance().is_none(), "absent: never");
    }

    #[test]
    fn the_maintenance_schedule_is_checked_like_the_backup_one() {
        let mut file = ScheduleFile {
            maintenance: Some("0 0 3 * * Sun".into()),
            ..ScheduleFile::default()
        };
        let s = Schedules::from_config(&file).unwrap();
        assert_eq!(s.maintenance().unwrap().expression(), "0 0 3 * * Sun");
        file.maintenance = Some("off".into());
        assert!(
            Schedules::from_config(&file)
                .unwrap()
                .maintenance()
                .is_none()
        );
        file.maintenance = Some("0 3 * * *".into());
        let (key, message) = validate(&file).unwrap_err();
        assert_eq!(key, "schedule.maintenance");
        assert!(message.contains("expected 6 fields"), "{message}");
    }

    /// Issue 18: `backup = "off"` turns scheduled backups off for every library without its
    /// own schedule (only on-demand backups); a library's own schedule still applies.
    #[test]
    fn the_default_schedule_can_be_off() {
        let mut file = ScheduleFile {
            backup: "off".into(),
            ..ScheduleFile::default()
        };
        file.libraries
            .insert("ACTIVE".into(), "0 30 2 * * *".into());
        validate(&file).unwrap();
        let s = Schedules::from_config(&file).unwrap();
        assert!(s.for_library("OTHER").is_none());
        assert_eq!(
            s.for_library("active").unwrap().expression(),
            "0 30 2 * * *"
        );
        let text = "[repository]\nurl = \"memory://\"\n[schedule]\nbackup = \"OFF\"\n";
        let settings = crate::config::Settings::from_toml(
            text,
            std::path::Path::new("t.toml"),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(settings.schedule.backup, "OFF");
    }

    #[test]
    fn bad_expressions_and_zones_name_their_key() {
        let file = ScheduleFile {
            timezone: "Mars/Olympus".into(),
            ..ScheduleFile::default()
        };
        assert_eq!(validate(&file).unwrap_err().0, "schedule.timezone");
        let mut file = ScheduleFile::default();
        file.libraries.insert("X".into(), "0 0 25 * * *".into());
        assert_eq!(validate(&file).unwrap_err().0, "schedule.libraries.X");
        let file = ScheduleFile {
            backup: "0 0 1 * *".into(),
            ..ScheduleFile::default()
        };
        assert_eq!(validate(&file).unwrap_err().0, "schedule.backup");
    }
}
