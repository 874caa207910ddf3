//! Diagnosis of a failed green: an engine upgrade that fails its prechecks leaves a log on the
//! green instance, and [`parse`] turns that log into the failing checks, each with a fix an
//! operator can apply on the blue (source) instance.
//!
//! Pure: no IO. The engine fetches the log (`RdsBackend::describe_log_files`, then
//! `download_log_file` for the file [`pick_precheck_log`] chooses) before anything deletes the
//! green instance, keeps the result in the state file and shows it in `status` and the report.
//!
//! Formats (RDS User Guide; the simulator writes the same, `sim::logs`):
//! - MySQL `PrePatchCompatibility.log`: the MySQL Shell upgrade checker's report. Numbered
//!   checks (`3) Usage of old temporal type`), each `No issues found` or an `Error:` /
//!   `Warning:` / `Notice:` description, a "More information:" link and the affected objects;
//!   then `Errors: N`, and `END OF LOG`.
//! - PostgreSQL `pg_upgrade_precheck.log.<timestamp>`: "The instance could not be upgraded from
//!   X to Y for the following reasons." then `* reason` bullets, and
//!   `* The following issues in the database 'db' need to be corrected before upgrading:`
//!   with `** reason` bullets under it.

use crate::domain::LogFile;
use serde::{Deserialize, Serialize};

/// How serious a check's finding is (the MySQL checker's levels; PostgreSQL reasons are all
/// errors: each one stops the upgrade).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Error,
    Warning,
    Notice,
}

/// One check the upgrade failed (or warned about), with what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedCheck {
    /// The check's title (MySQL) or the reason as RDS words it (PostgreSQL).
    pub check: String,
    pub level: Level,
    /// PostgreSQL: the database the reason is about, when it is per database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// MySQL: the affected objects as the log lists them (`db.table.column - detail`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
    /// The log's own description of the problem.
    #[serde(default)]
    pub detail: String,
    /// What to do, on the blue instance, before creating the deployment again.
    pub fix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// Is `name` an upgrade precheck log (`PrePatchCompatibility.log`,
/// `pg_upgrade_precheck.log.<timestamp>`; Aurora's `upgrade-prechecks.log` is named for
/// completeness)?
pub fn is_precheck_log(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.starts_with("PrePatchCompatibility.log")
        || base.starts_with("pg_upgrade_precheck.log")
        || base.starts_with("upgrade-prechecks.log")
}

/// The newest precheck log among an instance's log files, if any.
pub fn pick_precheck_log(files: &[LogFile]) -> Option<&LogFile> {
    files
        .iter()
        .filter(|f| is_precheck_log(&f.name))
        .max_by(|a, b| (a.last_written, &a.name).cmp(&(b.last_written, &b.name)))
}

/// The checks a precheck log reports as failing or worth attention (MySQL: every check with
/// an `Error:`/`Warning:`/`Notice:`; PostgreSQL: every reason). The format is chosen from the
/// file name, else from the text.
pub fn parse(name: &str, text: &str) -> Vec<FailedCheck> {
    let base = name.rsplit('/').next().unwrap_or(name);
    if base.starts_with("pg_upgrade_precheck")
        || (!base.starts_with("PrePatchCompatibility")
            && text.contains("could not be upgraded from"))
    {
        parse_postgres(text)
    } else {
        parse_mysql(text)
    }
}

/// The failing checks only (level `Error`): what stopped the upgrade.
pub fn errors(checks: &[FailedCheck]) -> Vec<&FailedCheck> {
    checks.iter().filter(|c| c.level == Level::Error).collect()
}

// ------------------------------------------------------------------ MySQL

/// `12) Usage of old temporal type` -> `Usage of old temporal type`.
fn section_title(line: &str) -> Option<&str> {
    let (num, rest) = line.split_once(") ")?;
    (!num.is_empty() && num.chars().all(|c| c.is_ascii_digit())).then_some(rest.trim())
}

fn level_of(line: &str) -> Option<(Level, &str)> {
    let t = line.trim_start();
    for (p, l) in [
        ("Error:", Level::Error),
        ("Warning:", Level::Warning),
        ("Notice:", Level::Notice),
    ] {
        if let Some(rest) = t.strip_prefix(p) {
            return Some((l, rest.trim()));
        }
    }
    None
}

#[derive(PartialEq)]
enum Part {
    Description,
    Link,
    Objects,
}

fn parse_mysql(text: &str) -> Vec<FailedCheck> {
    let mut out: Vec<FailedCheck> = Vec::new();
    let mut current: Option<FailedCheck> = None;
    let mut part = Part::Description;
    let flush = |c: &mut Option<FailedCheck>, out: &mut Vec<FailedCheck>| {
        if let Some(mut c) = c.take() {
            c.fix = mysql_fix(&c.check, c.link.as_deref());
            out.push(c);
        }
    };
    let mut title: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(s) = section_title(line) {
            flush(&mut current, &mut out);
            title = Some(s.to_string());
            continue;
        }
        if t.starts_with("Errors:") || t.starts_with("----") {
            flush(&mut current, &mut out);
            title = None;
            continue;
        }
        if let Some((level, rest)) = level_of(line) {
            if let Some(check) = &title {
                flush(&mut current, &mut out);
                current = Some(FailedCheck {
                    check: check.clone(),
                    level,
                    database: None,
                    objects: Vec::new(),
                    detail: rest.to_string(),
                    fix: String::new(),
                    link: None,
                });
                part = Part::Description;
            }
            continue;
        }
        let Some(c) = current.as_mut() else { continue };
        if t == "More information:" {
            part = Part::Link;
        } else if t.is_empty() {
            if part != Part::Description {
                part = Part::Objects;
            }
        } else {
            match part {
                Part::Description => {
                    c.detail.push(' ');
                    c.detail.push_str(t);
                }
                Part::Link if t.starts_with("http") => c.link = Some(t.to_string()),
                Part::Link => {
                    part = Part::Objects;
                    c.objects.push(t.to_string());
                }
                Part::Objects => c.objects.push(t.to_string()),
            }
        }
    }
    flush(&mut current, &mut out);
    out
}

/// What to do about a MySQL check, by its title (the checker's titles are stable). Every fix
/// is done on blue: green is a copy, so the deployment is deleted and created again after.
fn mysql_fix(check: &str, link: Option<&str>) -> String {
    const AGAIN: &str = "on the blue instance, then abort (delete the deployment) and apply again";
    let specific = match check {
        "Usage of old temporal type" => {
            "rebuild each listed table with `ALTER TABLE <table> FORCE;` (it converts the old temporal columns)"
        }
        "Partitioned tables using engines with non native partitioning" => {
            "convert each listed table to InnoDB (`ALTER TABLE <table> ENGINE=InnoDB;`) or remove its partitioning (`ALTER TABLE <table> REMOVE PARTITIONING;`)"
        }
        "Table names in the mysql schema conflicting with new tables in 8.0" => {
            "move the listed tables out of the mysql schema (`RENAME TABLE mysql.<table> TO <otherdb>.<table>;`) or drop them"
        }
        "Foreign key constraint names longer than 64 characters" => {
            "re-create the listed foreign keys with names of at most 64 characters (`ALTER TABLE <table> DROP FOREIGN KEY <long_name>, ADD CONSTRAINT <short_name> FOREIGN KEY ...;`)"
        }
        "Usage of db objects with names conflicting with new reserved keywords" => {
            "rename the listed objects, or quote them with backticks in every statement that uses them"
        }
        "Usage of utf8mb3 charset" => {
            "optional: convert the listed objects to utf8mb4 (`ALTER TABLE <table> CONVERT TO CHARACTER SET utf8mb4;`)"
        }
        "Usage of removed functions" => {
            "replace the removed functions in the listed views and routines (see the link for their replacements)"
        }
        "Zero Date, Datetime, and Timestamp values" => {
            "replace the zero dates in the listed columns (`UPDATE ... SET col = NULL WHERE col = '0000-00-00';`) and remove NO_ZERO_DATE issues"
        }
        "Removed system variables" | "System variables with new default values" => {
            "remove the listed variables from the source's custom parameter group (rdsfleet's parameter mapping drops them from green's)"
        }
        _ => "",
    };
    let more = link.map(|l| format!(" (details: {l})")).unwrap_or_default();
    if specific.is_empty() {
        format!("do what the check's description says {AGAIN}{more}")
    } else {
        format!("{specific} {AGAIN}{more}")
    }
}

// ------------------------------------------------------------------ PostgreSQL

/// Split the reasons part of a PostgreSQL precheck log into (depth, text) bullets. RDS's own
/// example runs bullets together on one line (`...transactions.* One or more ...`,
/// `...upgrading:** The ...`), so markers are found anywhere after whitespace or punctuation.
fn pg_bullets(text: &str) -> Vec<(usize, String)> {
    let b = text.as_bytes();
    let mut marks: Vec<(usize, usize, usize)> = Vec::new(); // (start, depth, text start)
    let mut i = 0;
    while i < b.len() {
        let prev_ok = i == 0 || matches!(b[i - 1], b' ' | b'\n' | b'\t' | b'.' | b':' | b'\r');
        if b[i] == b'*' && prev_ok {
            let depth = if b.get(i + 1) == Some(&b'*') { 2 } else { 1 };
            if b.get(i + depth) == Some(&b' ') {
                marks.push((i, depth, i + depth + 1));
                i += depth + 1;
                continue;
            }
        }
        i += 1;
    }
    marks
        .iter()
        .enumerate()
        .map(|(k, &(_, depth, from))| {
            let to = marks.get(k + 1).map(|m| m.0).unwrap_or(b.len());
            (depth, text[from..to].trim().to_string())
        })
        .filter(|(_, t)| !t.is_empty())
        .collect()
}

/// `The following issues in the database 'my"db' need to ...` -> `my"db`.
fn pg_database_header(t: &str) -> Option<String> {
    let rest = t.strip_prefix("The following issues in the database '")?;
    let end = rest.rfind("' need")?;
    Some(rest[..end].to_string())
}

fn parse_postgres(text: &str) -> Vec<FailedCheck> {
    let body = match text.find("following reasons.") {
        Some(i) => &text[i..],
        None => text,
    };
    let mut out = Vec::new();
    let mut database: Option<String> = None;
    for (depth, t) in pg_bullets(body) {
        if depth == 1 {
            if let Some(db) = pg_database_header(&t) {
                database = Some(db);
                continue;
            }
            database = None;
        }
        out.push(FailedCheck {
            fix: pg_fix(&t, database.as_deref()),
            check: t.clone(),
            level: Level::Error,
            database: if depth == 2 { database.clone() } else { None },
            objects: Vec::new(),
            detail: t,
            link: None,
        });
    }
    out
}

/// What to do about a PostgreSQL reason. RDS words each reason as an instruction; the known
/// ones get the SQL to find and fix what they name.
fn pg_fix(reason: &str, database: Option<&str>) -> String {
    const AGAIN: &str = "on the blue instance, then abort (delete the deployment) and apply again";
    let r = reason.to_ascii_lowercase();
    let within = database
        .map(|d| format!(" in database '{d}'"))
        .unwrap_or_default();
    let specific = if r.contains("prepared transactions") {
        "list them with `SELECT gid, database, owner, prepared FROM pg_prepared_xacts;` and end each with `COMMIT PREPARED '<gid>';` or `ROLLBACK PREPARED '<gid>';`".to_string()
    } else if r.contains("role names start with 'pg_'") {
        "find them with `SELECT rolname FROM pg_roles WHERE rolname LIKE 'pg\\_%' AND oid >= 16384;` and rename each with `ALTER ROLE \"<role>\" RENAME TO <new_name>;`".to_string()
    } else if r.contains("data types are used in user tables") {
        format!("find the columns{within} with `SELECT c.oid::regclass, a.attname, t.typname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid WHERE c.relkind = 'r' AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) AND (t.typname = 'line' OR t.typname LIKE 'reg%') AND a.attnum > 0;` and change their types (`ALTER TABLE ... ALTER COLUMN ... TYPE text;`)")
    } else if r.contains("extensions installed that are not supported") {
        format!("drop the named extensions{within} (`DROP EXTENSION <name>;`; list them with `SELECT extname, extversion FROM pg_extension;`)")
    } else if r.contains("depend on 'pg_stat_activity'") {
        format!("drop the views{within} (find them with `SELECT DISTINCT r.ev_class::regclass FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid WHERE d.refobjid = 'pg_stat_activity'::regclass;`) and re-create them after the upgrade")
    } else if r.contains("database name contains characters") {
        "rename the database (`ALTER DATABASE \"<name>\" RENAME TO <new_name>;`)".to_string()
    } else {
        format!("{}{within}", reason.trim_end_matches('.'))
    };
    format!("{specific} {AGAIN}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The precheck log example of the RDS User Guide ("Upgrading the PostgreSQL DB engine for
    /// Amazon RDS"), verbatim, bullets run together as the guide prints them.
    const PG_DOC_EXAMPLE: &str = r#"------------------------------------------------------------------------
Upgrade could not be run on Wed Apr 4 18:30:52 2018
-------------------------------------------------------------------------
The instance could not be upgraded from 9.6.11 to 10.6 for the following reasons.
Please take appropriate action on databases that have usage incompatible with the requested major engine version upgrade and try the upgrade again.

* There are uncommitted prepared transactions. Please commit or rollback all prepared transactions.* One or more role names start with 'pg_'. Rename all role names that start with 'pg_'.

* The following issues in the database 'my"million$"db' need to be corrected before upgrading:** The ["line","reg*"] data types are used in user tables. Remove all usage of these data types.
** The database name contains characters that are not supported by RDS for PostgreSQL. Rename the database.
** The database has extensions installed that are not supported on the target database version. Drop the following extensions from your database: ["tsearch2"].

* The following issues in the database 'mydb' need to be corrected before upgrading:** The database has views or materialized views that depend on 'pg_stat_activity'. Drop the views.
"#;

    /// A MySQL 5.7 -> 8.0 report in the upgrade checker's format, as RDS writes it to
    /// PrePatchCompatibility.log (header and footer as in the AWS Knowledge Center article on
    /// pre-upgrade check failures; check texts from the MySQL Shell upgrade checker).
    const MYSQL_EXAMPLE: &str = "Executing Compatibility Checks for the MySQL server at localhost:3306.
Source Version: 5.7.40-log - Source distribution, Target Version: 8.0.32.

1) Usage of old temporal type
  Error: Following table columns use a deprecated and no longer supported
    timestamp disk storage format. They must be converted to the new format
    before upgrading. It can by done by rebuilding the table using 'ALTER TABLE
    <table_name> FORCE' command
  More information:
    https://dev.mysql.com/blog-archive/mysql-8-0-removing-support-for-old-temporal-datatypes/

  shop.orders.created - timestamp /* 5.5 binary format */
  shop.orders.updated - datetime /* 5.5 binary format */

2) Usage of db objects with names conflicting with new reserved keywords
  No issues found

3) Usage of utf8mb3 charset
  Warning: The following objects use the utf8mb3 character set. It is
    recommended to convert them to use utf8mb4 instead, for improved Unicode
    support.
  More information:
    https://dev.mysql.com/doc/refman/8.0/en/charset-unicode-utf8mb3.html

  shop.customers.name - column's default character set: utf8

4) Partitioned tables using engines with non native partitioning
  Error: In MySQL 8.0 storage engine is responsible for providing its own
    partitioning handler, and the MySQL server no longer provides generic
    partitioning support.
  More information:
    https://dev.mysql.com/doc/refman/8.0/en/upgrading-from-previous-series.html#upgrade-configuration-changes

  shop.audit - MyISAM engine does not support native partitioning

Errors:   2
Warnings: 1
Database Objects Affected: 14
----------------------- END OF LOG ----------------------
";

    fn check(name: &str, text: &str, expected: &[(&str, Level, Option<&str>, usize)]) {
        let got = parse(name, text);
        let summary: Vec<(&str, Level, Option<&str>, usize)> = got
            .iter()
            .map(|c| {
                (
                    c.check.as_str(),
                    c.level,
                    c.database.as_deref(),
                    c.objects.len(),
                )
            })
            .collect();
        assert_eq!(summary, expected, "{got:#?}");
        assert!(got
            .iter()
            .all(|c| !c.fix.is_empty() && c.fix.contains("apply again")));
    }

    #[test]
    fn mysql_report_yields_its_errors_and_warnings_with_objects() {
        check(
            "PrePatchCompatibility.log",
            MYSQL_EXAMPLE,
            &[
                ("Usage of old temporal type", Level::Error, None, 2),
                ("Usage of utf8mb3 charset", Level::Warning, None, 1),
                (
                    "Partitioned tables using engines with non native partitioning",
                    Level::Error,
                    None,
                    1,
                ),
            ],
        );
        let got = parse("PrePatchCompatibility.log", MYSQL_EXAMPLE);
        assert!(got[0].detail.contains("ALTER TABLE <table_name> FORCE"));
        assert!(got[0].fix.contains("ALTER TABLE <table> FORCE"));
        assert_eq!(
            got[1].link.as_deref(),
            Some("https://dev.mysql.com/doc/refman/8.0/en/charset-unicode-utf8mb3.html")
        );
        assert_eq!(errors(&got).len(), 2);
    }

    #[test]
    fn postgres_doc_example_yields_every_reason_with_its_database() {
        let name = "error/pg_upgrade_precheck.log.2018-04-04-18-30";
        let got = parse(name, PG_DOC_EXAMPLE);
        let dbs: Vec<Option<&str>> = got.iter().map(|c| c.database.as_deref()).collect();
        assert_eq!(
            dbs,
            vec![
                None,
                None,
                Some("my\"million$\"db"),
                Some("my\"million$\"db"),
                Some("my\"million$\"db"),
                Some("mydb")
            ],
            "{got:#?}"
        );
        assert!(got[0]
            .check
            .starts_with("There are uncommitted prepared transactions"));
        assert!(got[0].fix.contains("pg_prepared_xacts"));
        assert!(
            got[2].check.contains(r#"["line","reg*"]"#),
            "{}",
            got[2].check
        );
        assert!(got[4].fix.contains("DROP EXTENSION"));
        assert!(got[5].fix.contains("pg_stat_activity"));
        assert!(got.iter().all(|c| c.level == Level::Error));
    }

    #[test]
    fn precheck_logs_are_recognised_and_the_newest_is_picked() {
        assert!(is_precheck_log("PrePatchCompatibility.log"));
        assert!(is_precheck_log(
            "error/pg_upgrade_precheck.log.2024-05-01-10-00"
        ));
        assert!(!is_precheck_log("error/mysql-error.log"));
        let f = |n: &str, t: i64| LogFile {
            name: n.into(),
            last_written: t,
            size: 1,
        };
        let files = [
            f("error/postgresql.log.2024-05-01-10", 9),
            f("pg_upgrade_precheck.log.2024-05-01-09-00", 1),
            f("pg_upgrade_precheck.log.2024-05-01-10-00", 2),
        ];
        assert_eq!(
            pick_precheck_log(&files).map(|f| f.name.as_str()),
            Some("pg_upgrade_precheck.log.2024-05-01-10-00")
        );
        assert_eq!(pick_precheck_log(&files[..1]), None);
    }

    #[test]
    fn unknown_text_yields_nothing_rather_than_noise() {
        assert!(parse("PrePatchCompatibility.log", "all good\n").is_empty());
        assert!(parse("pg_upgrade_precheck.log", "").is_empty());
    }
}
