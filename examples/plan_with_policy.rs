//! Stand-in for `rdsfleet plan --policy FILE` (not in the CLI yet): embed a rollout policy in
//! a plan made by `rdsfleet plan`, against the simulated world it was made from, and write the
//! result (a new plan id) for `rdsfleet apply`. Used by the issue-6 figures
//! (`scripts/rollout_figures.py`).
//!
//! Usage: cargo run --release --example plan_with_policy -- WORLD PLAN_IN POLICY PLAN_OUT

use rdsfleet::plan::Plan;
use rdsfleet::policy::Policy;
use rdsfleet::sim::{SimBackend, SIM_REGIONS};
use std::path::Path;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [world, plan_in, policy, plan_out] = args.as_slice() else {
        eprintln!("usage: plan_with_policy WORLD PLAN_IN POLICY PLAN_OUT");
        std::process::exit(2);
    };
    let backend = SimBackend::open(Path::new(world))?;
    let regions: Vec<String> = SIM_REGIONS.iter().map(|s| s.to_string()).collect();
    // The waves select on tags and identifiers: take them from the same live inventory.
    let inv = rdsfleet::inventory::discover(&backend, &regions, &[]).await?;
    let mut plan = Plan::load(Path::new(plan_in))?;
    plan.apply_policy(&Policy::load(Path::new(policy))?, &inv);
    plan.save(Path::new(plan_out))?;
    println!(
        "plan {} with {} wave(s) written to {plan_out}",
        plan.plan_id,
        plan.waves.len()
    );
    Ok(())
}
