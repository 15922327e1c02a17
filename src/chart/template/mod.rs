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

/// Renders one template source with `data` (a convenience for tests and `tpl`-like uses);
/// missing values print as nothing, as in Helm.
pub fn render_str(name: &str, src: &str, data: &Value) -> Result<String, TemplateError> {
    let mut set = TemplateSet::default();
    set.add_file(name, src)?;
    let funcs = funcs::all();
    set.check_functions(&funcs)?;
    let mut exec = Exec::new(&set, &funcs, std::rc::Rc::new(FuncContext::default()));
    Ok(exec.execute_named(name, data)?.replace("<no value>", ""))
}

#[cfg(test)]
mod tests;
