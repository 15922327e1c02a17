//! Errors shared across modules and their exit codes.
