//! The upgrade precheck logs the simulator writes on a green instance whose engine upgrade
//! fails its prechecks, in the formats and under the names RDS uses:
//!
//! - MySQL: `PrePatchCompatibility.log`, the MySQL Shell upgrade checker's text report
//!   (numbered checks, `Error:`/`Warning:`/`Notice:` with a "More information" link and the
//!   affected objects, then the counts and `END OF LOG`), as the RDS User Guide ("Prechecks for
//!   upgrades from MySQL 5.7 to 8.0") and the AWS Knowledge Center article on pre-upgrade check
//!   failures show it.
//! - PostgreSQL: `pg_upgrade_precheck.log` with a timestamp appended to the name, "The instance
//!   could not be upgraded from X to Y for the following reasons." and `*` / `**` bullets, as
//!   the RDS User Guide ("Upgrading the PostgreSQL DB engine", precheck log example) shows it.
//!
//! Which checks fail is drawn from the seed and the deployment, so a run is reproducible.
//! `crate::diagnosis` parses both formats back into failing checks.

use super::rng;
use super::store::SimLog;
use crate::clock::{rfc3339, Millis};

/// One MySQL upgrade-checker check as the report prints it.
struct MysqlCheck {
    title: &'static str,
    level: &'static str,
    description: &'static str,
    link: &'static str,
    object: &'static str,
}

/// Checks that can fail (a subset of the MySQL Shell checker's and RDS's own).
const MYSQL_FAILING: &[MysqlCheck] = &[
    MysqlCheck {
        title: "Usage of old temporal type",
        level: "Error",
        description: "Following table columns use a deprecated and no longer supported temporal disk storage format. They must be converted to the new format before upgrading. It can by done by rebuilding the table using 'ALTER TABLE <table_name> FORCE' command",
        link: "https://dev.mysql.com/blog-archive/mysql-8-0-removing-support-for-old-temporal-datatypes/",
        object: "app.events.created_at - timestamp /* 5.5 binary format */",
    },
    MysqlCheck {
        title: "Partitioned tables using engines with non native partitioning",
        level: "Error",
        description: "In MySQL 8.0 storage engine is responsible for providing its own partitioning handler, and the MySQL server no longer provides generic partitioning support. InnoDB and NDB are the only storage engines that provide a native partitioning handler that is supported in MySQL 8.0. A partitioned table using any other storage engine must be altered—either to convert it to InnoDB or NDB, or to remove its partitioning—before upgrading the server, else it cannot be used afterwards.",
        link: "https://dev.mysql.com/doc/refman/8.0/en/upgrading-from-previous-series.html#upgrade-configuration-changes",
        object: "app.audit_log - MyISAM engine does not support native partitioning",
    },
    MysqlCheck {
        title: "Table names in the mysql schema conflicting with new tables in 8.0",
        level: "Error",
        description: "The following tables in mysql schema have names that will conflict with the ones introduced in 8.0 version. They must be renamed or removed before upgrading (use RENAME TABLE command). This may also entail changes to applications that use the affected tables.",
        link: "https://dev.mysql.com/doc/refman/8.0/en/upgrade-before-you-begin.html",
        object: "mysql.catalogs - Table name used in mysql schema in 8.0",
    },
    MysqlCheck {
        title: "Foreign key constraint names longer than 64 characters",
        level: "Error",
        description: "The following tables must be altered to have constraint names shorter than 64 characters (use ALTER TABLE).",
        link: "https://dev.mysql.com/doc/refman/8.0/en/upgrade-before-you-begin.html",
        object: "app.order_items - Foreign key longer than 64 characters",
    },
];

/// Checks that pass or only warn, printed around the failing ones as the real report does.
const MYSQL_PASSING: &[&str] = &[
    "Usage of db objects with names conflicting with new reserved keywords",
    "Usage of utf8mb3 charset",
    "Usage of removed functions",
    "Zero Date, Datetime, and Timestamp values",
];

const MYSQL_WARNING: MysqlCheck = MysqlCheck {
    title: "Usage of utf8mb3 charset",
    level: "Warning",
    description: "The following objects use the utf8mb3 character set. It is recommended to convert them to use utf8mb4 instead, for improved Unicode support.",
    link: "https://dev.mysql.com/doc/refman/8.0/en/charset-unicode-utf8mb3.html",
    object: "app.customers.name - column's default character set: utf8",
};

/// PostgreSQL precheck reasons: (instance-wide, text).
const PG_REASONS: &[(bool, &str)] = &[
    (true, "There are uncommitted prepared transactions. Please commit or rollback all prepared transactions."),
    (true, "One or more role names start with 'pg_'. Rename all role names that start with 'pg_'."),
    (false, "The [\"line\",\"reg*\"] data types are used in user tables. Remove all usage of these data types."),
    (false, "The database has extensions installed that are not supported on the target database version. Drop the following extensions from your database: [\"chkpass\"]."),
    (false, "The database has views or materialized views that depend on 'pg_stat_activity'. Drop the views."),
];

/// The precheck log a failed engine upgrade leaves on `green` (`engine` of the green
/// instance, upgrading `from` -> `to`). `key` varies the failing checks per deployment.
pub fn precheck_log(
    seed: u64,
    key: &str,
    engine: &str,
    from: &str,
    to: &str,
    at: Millis,
) -> SimLog {
    if engine == "postgres" {
        pg_log(seed, key, from, to, at)
    } else {
        mysql_log(seed, key, from, to, at)
    }
}

fn mysql_log(seed: u64, key: &str, from: &str, to: &str, at: Millis) -> SimLog {
    let first = (rng::unit(seed, &["precheck", key]) * MYSQL_FAILING.len() as f64) as usize;
    let first = first.min(MYSQL_FAILING.len() - 1);
    let two = rng::unit(seed, &["precheck-two", key]) < 0.4;
    let mut failing: Vec<&MysqlCheck> = vec![&MYSQL_FAILING[first]];
    if two {
        failing.push(&MYSQL_FAILING[(first + 1) % MYSQL_FAILING.len()]);
    }
    let mut out = format!(
        "Executing Compatibility Checks for the MySQL server at localhost:3306.\nSource Version: {from}-log - Source distribution, Target Version: {to}.\n\n"
    );
    let mut n = 0;
    let mut section = |c: Option<&MysqlCheck>, title: &str| {
        n += 1;
        out.push_str(&format!("{n}) {title}\n"));
        match c {
            None => out.push_str("  No issues found\n\n"),
            Some(c) => out.push_str(&format!(
                "  {}: {}\n  More information:\n    {}\n\n  {}\n\n",
                c.level, c.description, c.link, c.object
            )),
        }
    };
    for (i, title) in MYSQL_PASSING.iter().enumerate() {
        if *title == MYSQL_WARNING.title {
            section(Some(&MYSQL_WARNING), title);
        } else {
            section(None, title);
        }
        if let Some(c) = failing.get(i) {
            section(Some(c), c.title);
        }
    }
    let errors = failing.len();
    out.push_str(&format!(
        "Errors:   {errors}\nWarnings: 1\nNotices:  0\n\n{errors} errors were found. Please correct these issues before upgrading to avoid compatibility issues.\n----------------------- END OF LOG ----------------------\n"
    ));
    SimLog {
        name: "PrePatchCompatibility.log".into(),
        written_at: at,
        text: out,
    }
}

fn pg_log(seed: u64, key: &str, from: &str, to: &str, at: Millis) -> SimLog {
    let pick = |salt: &str, pool: &[&'static str]| -> &'static str {
        let i = (rng::unit(seed, &["pg-precheck", salt, key]) * pool.len() as f64) as usize;
        pool[i.min(pool.len() - 1)]
    };
    let instance: Vec<&str> = PG_REASONS.iter().filter(|r| r.0).map(|r| r.1).collect();
    let database: Vec<&str> = PG_REASONS.iter().filter(|r| !r.0).map(|r| r.1).collect();
    let line = "-".repeat(72);
    let when = rfc3339(at);
    let mut out = format!(
        "{line}\nUpgrade could not be run on {when}\n{line}\nThe instance could not be upgraded from {from} to {to} for the following reasons.\nPlease take appropriate action on databases that have usage incompatible with the requested major engine version upgrade and try the upgrade again.\n\n"
    );
    out.push_str(&format!("* {}\n\n", pick("instance", &instance)));
    out.push_str(&format!(
        "* The following issues in the database 'app' need to be corrected before upgrading:\n** {}\n",
        pick("database", &database)
    ));
    let stamp = rfc3339(at);
    SimLog {
        name: format!(
            "pg_upgrade_precheck.log.{}-{}-{}",
            &stamp[..10],
            &stamp[11..13],
            &stamp[14..16]
        ),
        written_at: at,
        text: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::{self, Level};

    #[test]
    fn generated_logs_parse_back_into_their_failing_checks() {
        for key in ["a", "b", "c", "d", "e", "f"] {
            let log = precheck_log(1, key, "mysql", "5.7.44", "8.0.40", 0);
            assert_eq!(log.name, "PrePatchCompatibility.log");
            let d = diagnosis::parse(&log.name, &log.text);
            let errors = d.iter().filter(|c| c.level == Level::Error).count();
            assert!(errors >= 1, "{}", log.text);
            assert!(log.text.contains(&format!("Errors:   {errors}")));
            assert!(d.iter().all(|c| !c.fix.is_empty()));
        }
        let log = precheck_log(1, "a", "postgres", "13.15", "16.4", 0);
        assert!(
            log.name.starts_with("pg_upgrade_precheck.log."),
            "{}",
            log.name
        );
        let d = diagnosis::parse(&log.name, &log.text);
        assert_eq!(d.len(), 2, "{}", log.text);
        assert_eq!(d[1].database.as_deref(), Some("app"));
    }
}
