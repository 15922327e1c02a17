//! justpush: from source to a running, authenticated API on Kubernetes.
//!
//! The binary (`kubectl-justpush`) is a thin shell over this library: `cli` turns flags into
//! settings, the modules below do the work, and `output` is the only place that writes to the
//! terminal.
pub mod audit;
pub mod chart;
pub mod cli;
pub mod cluster;
pub mod codescan;
pub mod dashboard;
pub mod detect;
pub mod dockerfile;
pub mod error;
pub mod image;
pub mod input;
pub mod kong;
pub mod kube;
pub mod output;
pub mod pipeline;
pub mod verify;
pub mod yaml_limits;
