//! A Go text/template engine with Helm's functions, written for Helm parity: shared mutable
//! maps (`set`), Go number types, Go formatting, and Helm's error positions.
pub mod certs;
pub mod encode;
pub mod exec;
pub mod funcs;
pub mod gofmt;
pub mod lex;
pub mod parse;
pub mod semver;
pub mod value;

pub use exec::{Exec, FuncContext, TemplateError, TemplateSet};
pub use value::{TemplateObject, Value};
