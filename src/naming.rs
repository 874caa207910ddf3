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

/// Check a DB instance identifier against RDS's rules (CreateDBInstance,
/// `DBInstanceIdentifier`: "Must contain from 1 to 63 letters, numbers, or hyphens. First
/// character must be a letter. Can't end with a hyphen or contain two consecutive hyphens.
/// ... stored as a lowercase string"). RDS reports identifiers in lowercase, so an
/// upper-case one did not come from RDS. `Err` says what is wrong.
pub fn check_identifier(id: &str) -> Result<(), String> {
    check_rds_name(id, 63)?;
    if id.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(
            "has upper-case letters (RDS stores and reports identifiers in lower case)".into(),
        );
    }
    Ok(())
}

/// Check a name rdsfleet gives RDS (snapshot, deployment, parameter group) against the same
/// rules, with its own maximum length ([`SNAPSHOT_MAX`], [`BLUE_GREEN_MAX`],
/// [`PARAMETER_GROUP_MAX`]).
pub fn check_rds_name(name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() || name.len() > max {
        return Err(format!("must be 1 to {max} characters, has {}", name.len()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!(
            "has {c:?}: only letters, digits and hyphens are allowed"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("must start with a letter".into());
    }
    if name.ends_with('-') || name.contains("--") {
        return Err("must not end with a hyphen or contain two hyphens in a row".into());
    }
    Ok(())
}

/// Check the shape of an AWS region name (`us-east-1`, `us-gov-west-1`, `ap-southeast-2`).
pub fn check_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].len() <= 2
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if ok {
        Ok(())
    } else {
        Err("is not an AWS region name (like us-east-1)".into())
    }
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

    #[test]
    fn identifiers_are_checked_against_rds_rules() {
        for ok in [
            "a",
            "orders-db",
            "db-00001",
            &format!("a{}", "b".repeat(62)),
        ] {
            assert_eq!(check_identifier(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "1 to 63"),
            (&"a".repeat(64), "1 to 63"),
            ("1db", "start with a letter"),
            ("-db", "start with a letter"),
            ("db-", "end with a hyphen"),
            ("db--x", "two hyphens"),
            ("db_x", "only letters"),
            ("../../etc/passwd; rm -rf /", "only letters"),
            ("Orders", "lower case"),
            ("dé", "only letters"),
        ] {
            let e = check_identifier(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-2",
            "il-central-1",
        ] {
            assert_eq!(check_region(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us-east-1a",
            "u-east-1",
            "us--1",
            "../x-1",
        ] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
        // Every name rdsfleet makes passes its own check.
        let long = "x".repeat(300);
        assert_eq!(
            check_rds_name(&blue_green_name("rf01", &long), BLUE_GREEN_MAX),
            Ok(())
        );
        assert_eq!(
            check_rds_name(&snapshot_name("rf01", &long), SNAPSHOT_MAX),
            Ok(())
        );
    }
}
