//! Retention: which snapshots a keep policy keeps. A pure function of the snapshots, the
//! policy and the clock, so every rule is tested with a fixed clock.
//!
//! Rules (restic's, per library, evaluated over the library's snapshots newest first):
//! - `keep_last N`: the N newest snapshots.
//! - `keep_daily N` / `keep_weekly N` / `keep_monthly N` / `keep_yearly N`: the newest snapshot
//!   of each of the N newest days / ISO weeks / months / years that have snapshots (UTC).
//! - `keep_within D`: every snapshot whose time is within D before *now*.
//! - The newest snapshot of a library is always kept, whatever the policy.
//!
//! A snapshot is kept when any rule keeps it; the report lists every rule that did.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, Months, Utc};
use serde::{Deserialize, Serialize};

use crate::repo::id::SnapshotId;

/// A calendar duration: `1y6m`, `30d`, `2w`, `12h` (years, months, weeks, days, hours; any
/// combination, each unit at most once, in that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeepWithin {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub hours: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("`{input}` is not a duration like 30d, 2w, 1y6m or 12h (units y, m, w, d, h)")]
pub struct ParseDurationError {
    pub input: String,
}

impl FromStr for KeepWithin {
    type Err = ParseDurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseDurationError {
            input: s.to_string(),
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(err());
        }
        let mut out = KeepWithin::default();
        let mut num = String::new();
        let mut last_rank = 0;
        for c in t.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: u32 = num.parse().map_err(|_| err())?;
            num.clear();
            let rank = match c {
                'y' => 1,
                'm' => 2,
                'w' => 3,
                'd' => 4,
                'h' => 5,
                _ => return Err(err()),
            };
            if rank <= last_rank {
                return Err(err());
            }
            last_rank = rank;
            match c {
                'y' => out.years = n,
                'm' => out.months = n,
                'w' => out.days += n.checked_mul(7).ok_or_else(err)?,
                'd' => out.days = out.days.checked_add(n).ok_or_else(err)?,
                _ => out.hours = n,
            }
        }
        if !num.is_empty() {
            return Err(err());
        }
        Ok(out)
    }
}

impl fmt::Display for KeepWithin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for (n, u) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n > 0 {
                write!(f, "{n}{u}")?;
                any = true;
            }
        }
        if !any {
            f.write_str("0h")?;
        }
        Ok(())
    }
}

impl Serialize for KeepWithin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for KeepWithin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl KeepWithin {
    /// The earliest time still within this duration before `now`.
    pub fn cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let months = self.years.saturating_mul(12).saturating_add(self.months);
        let t = now
            .checked_sub_months(Months::new(months))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        t.checked_sub_signed(Duration::days(self.days as i64) + Duration::hours(self.hours as i64))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// A retention policy (the `forget` flags, or the `[retention]` table of the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeepPolicy {
    pub keep_last: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    pub keep_yearly: u32,
    pub keep_within: Option<KeepWithin>,
}

impl KeepPolicy {
    /// True when no rule is set (such a policy would keep only the newest snapshot).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl fmt::Display for KeepPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (n, name) in [
            (self.keep_last, "last"),
            (self.keep_daily, "daily"),
            (self.keep_weekly, "weekly"),
            (self.keep_monthly, "monthly"),
            (self.keep_yearly, "yearly"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {name}"));
            }
        }
        if let Some(w) = self.keep_within {
            parts.push(format!("within {w}"));
        }
        if parts.is_empty() {
            parts.push("newest only".into());
        }
        f.write_str(&parts.join(", "))
    }
}

/// Retention policies: a default and per-library overrides (the `[retention]` table).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RetentionPolicies {
    pub default: KeepPolicy,
    /// Library id (compared without case) → its policy, replacing the default.
    pub libraries: std::collections::BTreeMap<String, KeepPolicy>,
}

impl RetentionPolicies {
    pub fn policy_for(&self, library: &str) -> KeepPolicy {
        self.libraries
            .iter()
            .find(|(l, _)| l.eq_ignore_ascii_case(library))
            .map(|(_, p)| *p)
            .unwrap_or(self.default)
    }
}

/// Why a snapshot is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepReason {
    Newest,
    Last,
    Daily,
    Weekly,
    Monthly,
    Yearly,
    Within,
}

/// One snapshot the policy is applied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub id: SnapshotId,
    pub library: String,
    pub time: DateTime<Utc>,
}

/// The policy's verdict on one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub id: SnapshotId,
    pub library: String,
    pub time: DateTime<Utc>,
    pub keep: bool,
    /// Every rule that keeps it (empty when forgotten).
    pub reasons: Vec<KeepReason>,
}

/// A bucket rule: the newest snapshot of each of the `left` newest buckets.
struct Bucket {
    reason: KeepReason,
    left: u32,
    last: Option<i64>,
    key: fn(&DateTime<Utc>) -> i64,
}

impl Bucket {
    fn new(reason: KeepReason, n: u32, key: fn(&DateTime<Utc>) -> i64) -> Self {
        Self {
            reason,
            left: n,
            last: None,
            key,
        }
    }
    fn take(&mut self, t: &DateTime<Utc>) -> bool {
        if self.left == 0 {
            return false;
        }
        let k = (self.key)(t);
        if self.last == Some(k) {
            return false;
        }
        self.last = Some(k);
        self.left -= 1;
        true
    }
}

fn day_key(t: &DateTime<Utc>) -> i64 {
    t.year() as i64 * 1000 + t.ordinal() as i64
}
fn week_key(t: &DateTime<Utc>) -> i64 {
    let w = t.iso_week();
    w.year() as i64 * 100 + w.week() as i64
}
fn month_key(t: &DateTime<Utc>) -> i64 {
    t.year() as i64 * 100 + t.month() as i64
}
fn year_key(t: &DateTime<Utc>) -> i64 {
    t.year() as i64
}
fn last_key(t: &DateTime<Utc>) -> i64 {
    // Every snapshot is its own bucket (distinct times assumed; ties count once each below).
    t.timestamp_nanos_opt().unwrap_or(t.timestamp())
}

/// Applies `policy` to every library's snapshots at time `now`. The result is in the input's
/// order.
pub fn apply(policy: &KeepPolicy, snaps: &[Candidate], now: DateTime<Utc>) -> Vec<Decision> {
    apply_per_library(|_| *policy, snaps, now)
}

/// Like [`apply`], with a policy chosen per library.
pub fn apply_per_library(
    policy_of: impl Fn(&str) -> KeepPolicy,
    snaps: &[Candidate],
    now: DateTime<Utc>,
) -> Vec<Decision> {
    let mut out: Vec<Decision> = snaps
        .iter()
        .map(|c| Decision {
            id: c.id,
            library: c.library.clone(),
            time: c.time,
            keep: false,
            reasons: Vec::new(),
        })
        .collect();
    let mut libraries: Vec<&str> = snaps.iter().map(|c| c.library.as_str()).collect();
    libraries.sort();
    libraries.dedup();
    for lib in libraries {
        let policy = policy_of(lib);
        // Newest first; equal times by id for a stable answer.
        let mut order: Vec<usize> = (0..snaps.len())
            .filter(|&i| snaps[i].library == lib)
            .collect();
        order.sort_by(|&a, &b| {
            snaps[b]
                .time
                .cmp(&snaps[a].time)
                .then(snaps[b].id.cmp(&snaps[a].id))
        });
        let mut rules = [
            Bucket::new(KeepReason::Last, policy.keep_last, last_key),
            Bucket::new(KeepReason::Daily, policy.keep_daily, day_key),
            Bucket::new(KeepReason::Weekly, policy.keep_weekly, week_key),
            Bucket::new(KeepReason::Monthly, policy.keep_monthly, month_key),
            Bucket::new(KeepReason::Yearly, policy.keep_yearly, year_key),
        ];
        let cutoff = policy.keep_within.map(|w| w.cutoff(now));
        for (rank, &i) in order.iter().enumerate() {
            let t = &snaps[i].time;
            let d = &mut out[i];
            if rank == 0 {
                d.reasons.push(KeepReason::Newest);
            }
            for r in rules.iter_mut() {
                // keep_last counts snapshots, not distinct times.
                if r.reason == KeepReason::Last {
                    if r.left > 0 {
                        r.left -= 1;
                        d.reasons.push(r.reason);
                    }
                    continue;
                }
                if r.take(t) {
                    d.reasons.push(r.reason);
                }
            }
            if cutoff.is_some_and(|c| *t >= c) {
                d.reasons.push(KeepReason::Within);
            }
            d.keep = !d.reasons.is_empty();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        format!("{s}Z").parse().unwrap()
    }

    #[test]
    fn durations_parse_and_cut() {
        let w: KeepWithin = "1y6m".parse().unwrap();
        assert_eq!(w.years, 1);
        assert_eq!(w.months, 6);
        assert_eq!("2w".parse::<KeepWithin>().unwrap().days, 14);
        assert_eq!(
            "30d"
                .parse::<KeepWithin>()
                .unwrap()
                .cutoff(t("2026-03-31T12:00:00")),
            t("2026-03-01T12:00:00")
        );
        assert_eq!(
            "1m".parse::<KeepWithin>()
                .unwrap()
                .cutoff(t("2026-03-31T00:00:00")),
            t("2026-02-28T00:00:00")
        );
        for bad in ["", "5", "d", "3x", "1d2y", "1d1d", "-1d"] {
            assert!(bad.parse::<KeepWithin>().is_err(), "{bad}");
        }
        assert_eq!(
            "1y2m3d4h".parse::<KeepWithin>().unwrap().to_string(),
            "1y2m3d4h"
        );
    }

    /// Table-driven: each rule, on one fixed set of snapshots and a fixed clock.
    #[test]
    fn each_rule_keeps_exactly_the_right_snapshots() {
        // ISO weeks: 2025-12-29 (Mon) starts 2026-W01; 2026-01-05 W02; 01-19 W04; 02-02 W06.
        let times = [
            ("s0", "2024-06-15T12:00:00"),
            ("s1", "2025-12-30T10:00:00"),
            ("s2", "2026-01-01T09:00:00"),
            ("s3", "2026-01-01T21:00:00"),
            ("s4", "2026-01-05T08:00:00"),
            ("s5", "2026-01-20T08:00:00"),
            ("s6", "2026-02-02T08:00:00"),
            ("s7", "2026-02-03T08:00:00"),
            ("s8", "2026-02-03T20:00:00"),
        ];
        let now = t("2026-02-04T12:00:00");
        let snaps: Vec<Candidate> = times
            .iter()
            .map(|(n, at)| Candidate {
                id: SnapshotId::of(n.as_bytes()),
                library: "ACTIVE".into(),
                time: t(at),
            })
            .collect();
        let p = |f: fn(&mut KeepPolicy)| {
            let mut k = KeepPolicy::default();
            f(&mut k);
            k
        };
        let table: Vec<(&str, KeepPolicy, &[&str])> = vec![
            ("last 3", p(|k| k.keep_last = 3), &["s6", "s7", "s8"]),
            ("daily 3", p(|k| k.keep_daily = 3), &["s5", "s6", "s8"]),
            ("weekly 2", p(|k| k.keep_weekly = 2), &["s5", "s8"]),
            (
                "weekly 4",
                p(|k| k.keep_weekly = 4),
                &["s3", "s4", "s5", "s8"],
            ),
            ("monthly 2", p(|k| k.keep_monthly = 2), &["s5", "s8"]),
            ("monthly 3", p(|k| k.keep_monthly = 3), &["s1", "s5", "s8"]),
            ("yearly 3", p(|k| k.keep_yearly = 3), &["s0", "s1", "s8"]),
            ("yearly 9", p(|k| k.keep_yearly = 9), &["s0", "s1", "s8"]),
            (
                "within 2d",
                p(|k| k.keep_within = Some("2d".parse().unwrap())),
                &["s7", "s8"],
            ),
            (
                "within 1m",
                p(|k| k.keep_within = Some("1m".parse().unwrap())),
                &["s4", "s5", "s6", "s7", "s8"],
            ),
            (
                "within 1h keeps only the newest",
                p(|k| k.keep_within = Some("1h".parse().unwrap())),
                &["s8"],
            ),
            (
                "daily 1 + yearly 2",
                p(|k| {
                    k.keep_daily = 1;
                    k.keep_yearly = 2
                }),
                &["s1", "s8"],
            ),
            (
                "daily 2 + weekly 3",
                p(|k| {
                    k.keep_daily = 2;
                    k.keep_weekly = 3
                }),
                &["s4", "s5", "s6", "s8"],
            ),
        ];
        for (name, policy, want) in table {
            let got: Vec<&str> = apply(&policy, &snaps, now)
                .iter()
                .zip(&times)
                .filter(|(d, _)| d.keep)
                .map(|(_, (n, _))| *n)
                .collect();
            assert_eq!(got, want, "policy {name} ({policy})");
        }
        // Reasons name every rule that keeps a snapshot.
        let d = apply(
            &p(|k| {
                k.keep_daily = 1;
                k.keep_last = 1
            }),
            &snaps,
            now,
        );
        assert_eq!(
            d[8].reasons,
            vec![KeepReason::Newest, KeepReason::Last, KeepReason::Daily]
        );
        assert!(d[..8].iter().all(|x| !x.keep && x.reasons.is_empty()));
    }

    #[test]
    fn libraries_are_independent_and_policies_per_library() {
        let mk = |n: &str, lib: &str, at: &str| Candidate {
            id: SnapshotId::of(n.as_bytes()),
            library: lib.into(),
            time: t(at),
        };
        let snaps = vec![
            mk("a1", "ACTIVE", "2026-01-01T01:00:00"),
            mk("b1", "ARCHIVE", "2026-01-02T01:00:00"),
            mk("a2", "ACTIVE", "2026-01-03T01:00:00"),
            mk("b2", "ARCHIVE", "2026-01-04T01:00:00"),
            mk("a3", "ACTIVE", "2026-01-05T01:00:00"),
        ];
        let now = t("2026-01-06T00:00:00");
        let keep = |d: Vec<Decision>| d.iter().map(|d| d.keep).collect::<Vec<_>>();
        let last1 = KeepPolicy {
            keep_last: 1,
            ..KeepPolicy::default()
        };
        assert_eq!(
            keep(apply(&last1, &snaps, now)),
            vec![false, false, false, true, true]
        );
        let mut pol = RetentionPolicies {
            default: last1,
            ..Default::default()
        };
        pol.libraries.insert(
            "archive".into(),
            KeepPolicy {
                keep_last: 2,
                ..KeepPolicy::default()
            },
        );
        assert_eq!(
            keep(apply_per_library(|l| pol.policy_for(l), &snaps, now)),
            vec![false, true, false, true, true]
        );
    }
}
