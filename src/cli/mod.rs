//! Command-line flags and dispatch; the only place that turns flags into settings.
/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    0
}
