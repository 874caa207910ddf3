//! rdsfleet's integration tests: one binary, one module per layer.
//! Each test makes its own temp directory; nothing sleeps on the wall clock
//! (the engine and the simulator share a `ManualClock`).

mod architecture;
mod bench;
mod cli;
mod common;
mod engine;
mod faults;
mod guards;
mod hostile;
mod htmlshot;
mod leftovers;
mod rollout;
mod security;
mod storm;
mod virtual_time;
