//! What the figures were measured on, and writing them into `BENCHMARKS.md`.

use std::path::Path;
use std::process::Command;

fn first_line(cmd: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(cmd).args(args).output().ok()?;
    let s = String::from_utf8_lossy(&o.stdout);
    s.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

fn proc_field(file: &str, key: &str) -> Option<String> {
    let s = std::fs::read_to_string(file).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':').or_else(|| l.split_once('=')))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
}

/// One paragraph: CPU, cores, memory, OS, toolchain, commit, load, build profile.
pub fn describe() -> String {
    let cpu = proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = proc_field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kib| format!("{:.0} GiB RAM", kib / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown RAM".into());
    let os = proc_field("/etc/os-release", "PRETTY_NAME").unwrap_or_else(|| "unknown OS".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let rustc = first_line("rustc", &["--version"]).unwrap_or_else(|| "rustc ?".into());
    let commit = first_line("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "?".into());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into());
    let profile = if cfg!(debug_assertions) {
        "DEBUG build (figures not comparable: use --release)"
    } else {
        "release build"
    };
    format!(
        "{cpu}, {cores} logical CPUs, {mem}; {os}, Linux {kernel}; {rustc}; commit {commit}{}; \
         load average {load} at start; {profile}",
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        }
    )
}

pub const BEGIN: &str =
    "<!-- bench:begin (written by `cargo run --release --bin bench`; edit outside the markers) -->";
pub const END: &str = "<!-- bench:end -->";

/// The generated block of `path` (empty if none).
pub fn read_block(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match (text.find("<!-- bench:begin"), text.find(END)) {
        (Some(b), Some(e)) if b < e => text[b..e].to_string(),
        _ => String::new(),
    }
}

/// Replace the generated block of `path` (or append one) with `block`.
pub fn write_block(path: &Path, block: &str) -> std::io::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (old.find("<!-- bench:begin"), old.find(END)) {
        (Some(b), Some(e)) if b < e => format!(
            "{}{BEGIN}\n{block}\n{END}{}",
            &old[..b],
            &old[e + END.len()..]
        ),
        _ => format!("{old}\n{BEGIN}\n{block}\n{END}\n"),
    };
    std::fs::write(path, new)
}
