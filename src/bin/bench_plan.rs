//! Planning benchmark: generates an N-instance inventory (default 10,000) across three regions,
//! writes it as an inventory file, then times `inventory::load`, `planner::plan` (offline
//! context), the plan JSON and the Markdown report. Prints the timings and the plan summary.
//!
//! `cargo run --release --bin bench_plan -- [N] [--summary]`. No timing assertions live in
//! tests: this is the measurement tool. The whole benchmark (`bench`, see BENCHMARKS.md)
//! reports the same figures with peak memory, beside the goals.

#[path = "bench/planfleet.rs"]
mod planfleet;

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let t = planfleet::measure(n);
    println!("instances: {n}");
    println!("load inventory file: {:.1} ms", ms(t.load));
    println!("plan:                {:.1} ms", ms(t.plan));
    println!(
        "plan JSON:           {:.1} ms ({} bytes)",
        ms(t.json),
        t.json_bytes
    );
    println!(
        "Markdown report:     {:.1} ms ({} bytes)",
        ms(t.report),
        t.markdown.len()
    );
    println!("total:               {:.1} ms", ms(t.total()));
    println!("{}", t.summary);
    if std::env::args().any(|a| a == "--summary") {
        // The report's summary table, as a reviewer would paste it.
        let md = &t.markdown;
        let start = md.find("## Summary").unwrap_or(0);
        let end = md[start + 1..]
            .find("\n## ")
            .map(|e| start + 1 + e)
            .unwrap_or(md.len());
        println!("{}", &md[start..end]);
    }
}
