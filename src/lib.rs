//! rdsfleet: upgrade a whole fleet of AWS RDS databases safely, through reviewed, resumable,
//! fingerprinted plans. See ARCHITECTURE.md for the map.

pub mod backend;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod diagnosis;
pub mod domain;
pub mod effects;
pub mod engine;
pub mod files;
pub mod htmlpage;
pub mod iam;
pub mod inventory;
pub mod lifecycle;
pub mod machine;
pub mod naming;
pub mod plan;
pub mod planner;
pub mod policy;
pub mod report;
pub mod runreport;
pub mod sim;
pub mod state;
pub mod store;
