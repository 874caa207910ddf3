//! The rollout policy (`plan --policy FILE`, TOML): waves, canary, concurrency limits, failure
//! budget, switchover windows, switchover timeout, readiness guard and retention.
//! An annotated example lives in `plans/policy.example.toml`.
//!
//! The policy is embedded in the plan, so the reviewed plan carries the rules the rollout
//! follows and `apply` cannot be run with different ones by accident. This module is pure:
//! parsing, validation and wave assignment; the CLI reads the file.

use crate::clock::{minute_of_day, weekday, Millis};
use crate::domain::Tags;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("policy: {0}")]
    Invalid(String),
}

/// Switchover window: days of the week and a UTC time range (`02:00`-`05:00`). An end before
/// the start wraps past midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// `mon`..`sun`; empty means every day.
    #[serde(default)]
    pub days: Vec<String>,
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveRule {
    pub name: String,
    /// Selectors, any of which puts a database in this wave: `tag:KEY=VALUE`, `id=GLOB`,
    /// `engine=NAME`, `region=NAME`. A database goes to the first wave that selects it.
    pub select: Vec<String>,
    /// Databases in flight at once in this wave (default: the policy's `per_account`).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Split off the first N databases as a canary wave that must finish before the rest.
    #[serde(default)]
    pub canary: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    #[serde(default = "d_account")]
    pub per_account: usize,
    #[serde(default = "d_region")]
    pub per_region: usize,
}

fn d_account() -> usize {
    8
}
fn d_region() -> usize {
    4
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency {
            per_account: d_account(),
            per_region: d_region(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FailureBudget {
    /// Halt the rollout after this many failed databases (since the run started).
    #[serde(default)]
    pub max_failed: Option<usize>,
    /// Halt when this percentage of a wave has failed.
    #[serde(default)]
    pub max_failed_percent: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switchover {
    #[serde(default = "d_timeout")]
    pub timeout_secs: u32,
    /// Green must be AVAILABLE and stay so this long before switchover may start.
    #[serde(default = "d_stable")]
    pub readiness_stable_secs: u64,
    /// Allowed windows; empty means any time.
    #[serde(default)]
    pub windows: Vec<Window>,
}

fn d_timeout() -> u32 {
    300
}
fn d_stable() -> u64 {
    300
}

impl Default for Switchover {
    fn default() -> Self {
        Switchover {
            timeout_secs: d_timeout(),
            readiness_stable_secs: d_stable(),
            windows: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(default = "d_retention")]
    pub old_instance_hours: u32,
}

fn d_retention() -> u32 {
    72
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            old_instance_hours: d_retention(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub concurrency: Concurrency,
    #[serde(default)]
    pub failure_budget: FailureBudget,
    #[serde(default)]
    pub switchover: Switchover,
    #[serde(default)]
    pub retention: Retention,
    /// Waves in order. Without waves every database is wave 1.
    #[serde(default, rename = "wave")]
    pub waves: Vec<WaveRule>,
}

/// One assigned wave as recorded in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveInfo {
    pub number: u32,
    pub name: String,
    pub concurrency: Option<usize>,
}

impl Policy {
    pub fn parse(path: &str, text: &str) -> Result<Policy, PolicyError> {
        let p: Policy = toml::from_str(text).map_err(|e| PolicyError::Parse {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        p.validate()?;
        Ok(p)
    }

    pub fn validate(&self) -> Result<(), PolicyError> {
        let s = &self.switchover;
        if !(30..=3600).contains(&s.timeout_secs) {
            return Err(PolicyError::Invalid(format!(
                "switchover.timeout_secs must be 30..3600, got {}",
                s.timeout_secs
            )));
        }
        if self.concurrency.per_account == 0 || self.concurrency.per_region == 0 {
            return Err(PolicyError::Invalid(
                "concurrency limits must be at least 1".into(),
            ));
        }
        if let Some(p) = self.failure_budget.max_failed_percent {
            if p == 0 || p > 100 {
                return Err(PolicyError::Invalid(format!(
                    "failure_budget.max_failed_percent must be 1..100, got {p}"
                )));
            }
        }
        for w in &s.windows {
            parse_hhmm(&w.start)?;
            parse_hhmm(&w.end)?;
            for d in &w.days {
                parse_day(d)?;
            }
        }
        for w in &self.waves {
            if w.select.is_empty() {
                return Err(PolicyError::Invalid(format!(
                    "wave {} selects nothing",
                    w.name
                )));
            }
            for sel in &w.select {
                Selector::parse(sel)?;
            }
            if w.concurrency == Some(0) {
                return Err(PolicyError::Invalid(format!(
                    "wave {} has concurrency 0",
                    w.name
                )));
            }
        }
        Ok(())
    }

    /// Is `now` inside a switchover window? (Always, when no window is set.)
    pub fn in_window(&self, now: Millis) -> bool {
        in_windows(&self.switchover.windows, now)
    }
}

/// A wave selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Tag(String, String),
    Id(String),
    Engine(String),
    Region(String),
}

impl Selector {
    pub fn parse(s: &str) -> Result<Selector, PolicyError> {
        let bad = || {
            PolicyError::Invalid(format!(
                "bad selector {s:?}: use tag:KEY=VALUE, id=GLOB, engine=NAME or region=NAME"
            ))
        };
        let (k, v) = s.split_once('=').ok_or_else(bad)?;
        if let Some(tag) = k.strip_prefix("tag:") {
            if tag.is_empty() {
                return Err(bad());
            }
            return Ok(Selector::Tag(tag.to_string(), v.to_string()));
        }
        match k {
            "id" => Ok(Selector::Id(v.to_string())),
            "engine" => Ok(Selector::Engine(v.to_string())),
            "region" => Ok(Selector::Region(v.to_string())),
            _ => Err(bad()),
        }
    }
    pub fn matches(&self, region: &str, id: &str, engine: &str, tags: &Tags) -> bool {
        match self {
            Selector::Tag(k, v) => tags.get(k) == Some(v),
            Selector::Id(g) => glob_match(g, id),
            Selector::Engine(e) => e == engine,
            Selector::Region(r) => r == region,
        }
    }
}

/// `*` (any run) and `?` (one character) glob match.
pub fn glob_match(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn parse_hhmm(s: &str) -> Result<u32, PolicyError> {
    let bad = || PolicyError::Invalid(format!("bad time {s:?}: use HH:MM (UTC)"));
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if h > 24 || m > 59 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn parse_day(s: &str) -> Result<u32, PolicyError> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    DAYS.iter()
        .position(|d| s.eq_ignore_ascii_case(d))
        .map(|p| p as u32)
        .ok_or_else(|| PolicyError::Invalid(format!("bad day {s:?}: use mon..sun")))
}

/// Is `now` inside any of `windows` (always true for no windows)?
pub fn in_windows(windows: &[Window], now: Millis) -> bool {
    if windows.is_empty() {
        return true;
    }
    let day = weekday(now);
    let minute = minute_of_day(now);
    windows.iter().any(|w| {
        let (Ok(start), Ok(end)) = (parse_hhmm(&w.start), parse_hhmm(&w.end)) else {
            return false;
        };
        let day_ok = |d: u32| {
            w.days.is_empty()
                || w.days
                    .iter()
                    .any(|x| parse_day(x).map(|p| p == d).unwrap_or(false))
        };
        if start <= end {
            day_ok(day) && minute >= start && minute < end
        } else {
            // Wraps midnight: the part after midnight belongs to the previous day's window.
            (day_ok(day) && minute >= start) || (day_ok((day + 6) % 7) && minute < end)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    fn check_window(windows: &str, at: &str, expected: bool) {
        let p = Policy::parse("t", &format!("[switchover]\nwindows = {windows}\n")).unwrap();
        assert_eq!(
            p.in_window(parse_rfc3339(at).unwrap()),
            expected,
            "{windows} at {at}"
        );
    }

    #[test]
    fn windows_by_weekday_and_utc_time() {
        let w = r#"[{ days = ["tue", "wed"], start = "02:00", end = "05:00" }]"#;
        check_window(w, "2026-11-24T03:00:00Z", true); // Tuesday
        check_window(w, "2026-11-24T05:00:00Z", false);
        check_window(w, "2026-11-23T03:00:00Z", false); // Monday
        let wrap = r#"[{ days = ["fri"], start = "22:00", end = "02:00" }]"#;
        check_window(wrap, "2026-11-27T23:00:00Z", true); // Friday night
        check_window(wrap, "2026-11-28T01:00:00Z", true); // after midnight, Saturday
        check_window(wrap, "2026-11-28T23:00:00Z", false);
        check_window("[]", "2026-11-28T23:00:00Z", true);
    }

    #[test]
    fn bad_policies_are_refused_with_a_reason() {
        for (text, needle) in [
            ("[switchover]\ntimeout_secs = 5\n", "timeout_secs"),
            (
                "[[wave]]\nname = \"x\"\nselect = [\"color=red\"]\n",
                "bad selector",
            ),
            (
                "[switchover]\nwindows = [{ start = \"25:00\", end = \"01:00\" }]\n",
                "bad time",
            ),
            (
                "[failure_budget]\nmax_failed_percent = 0\n",
                "max_failed_percent",
            ),
            ("[concurency]\nper_account = 1\n", "unknown field"),
        ] {
            let e = Policy::parse("p.toml", text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("orders-*", "orders-db-1"));
        assert!(glob_match("*-prod-?", "x-prod-1"));
        assert!(!glob_match("orders-*", "billing"));
    }

    #[test]
    fn example_policy_parses() {
        let text = include_str!("../plans/policy.example.toml");
        let p = Policy::parse("example", text).unwrap();
        assert!(p.waves.len() >= 3);
        assert!(p.waves.iter().any(|w| w.canary > 0));
    }
}
