//! Deterministic names for everything rdsfleet creates, derived from the plan id and the
//! database identifier. Same plan, same names: that is what makes every side effect
//! idempotent (a retry or a resume finds and adopts the resource instead of making another).
//!
//! RDS rules respected here: names start with a letter, contain only ASCII letters, digits and
//! hyphens, never two hyphens in a row nor a trailing hyphen; blue/green deployment names are
//! at most 60 characters, snapshot and parameter group names at most 255.

use sha2::{Digest, Sha256};

pub const BLUE_GREEN_MAX: usize = 60;
pub const SNAPSHOT_MAX: usize = 255;
pub const PARAMETER_GROUP_MAX: usize = 255;

/// Pre-upgrade snapshot of a database.
pub fn snapshot_name(plan_id: &str, identifier: &str) -> String {
    fit(&format!("{plan_id}-{identifier}-pre"), SNAPSHOT_MAX)
}

/// Final snapshot taken before an old (`-oldN`) instance is deleted.
pub fn final_snapshot_name(plan_id: &str, identifier: &str) -> String {
    fit(&format!("{plan_id}-{identifier}-final"), SNAPSHOT_MAX)
}

/// Blue/green deployment of a database (at most 60 characters).
pub fn blue_green_name(plan_id: &str, identifier: &str) -> String {
    fit(&format!("{plan_id}-{identifier}"), BLUE_GREEN_MAX)
}

/// Target parameter group made from `source_group` in `family`.
pub fn parameter_group_name(plan_id: &str, family: &str, source_group: &str) -> String {
    fit(
        &format!("{plan_id}-{}-{}", sanitize(family), sanitize(source_group)),
        PARAMETER_GROUP_MAX,
    )
}

/// Make `s` a valid RDS name: map invalid characters to hyphens, collapse hyphen runs, and when
/// longer than `max`, truncate and append a short hash of the full name so distinct long names
/// stay distinct.
pub fn fit(s: &str, max: usize) -> String {
    let clean = sanitize(s);
    if clean.len() <= max {
        return clean;
    }
    let h = Sha256::digest(clean.as_bytes());
    let suffix: String = h[..3].iter().map(|b| format!("{b:02x}")).collect();
    let keep = max - suffix.len() - 1;
    let head = clean[..keep].trim_end_matches('-');
    format!("{head}-{suffix}")
}

/// Lower-case, letters/digits/hyphens only, no double or trailing hyphen, starts with a letter.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert(0, 'r');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str, max: usize) -> bool {
        name.len() <= max
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && !name.contains("--")
            && !name.ends_with('-')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    }

    #[test]
    fn names_are_valid_and_distinct_at_the_limits() {
        let long_a = format!("db-{}", "a".repeat(60));
        let long_b = format!("db-{}b", "a".repeat(59));
        let a = blue_green_name("rf0123456789", &long_a);
        let b = blue_green_name("rf0123456789", &long_b);
        assert!(valid(&a, 60) && valid(&b, 60), "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(a, blue_green_name("rf0123456789", &long_a));
        let pg = parameter_group_name("rf0123456789", "mysql8.0", "shared.params_v2");
        assert!(valid(&pg, 255), "{pg}");
        assert_eq!(pg, "rf0123456789-mysql8-0-shared-params-v2");
        assert!(valid(&snapshot_name("rf0123456789", "orders-db"), 255));
    }
}
