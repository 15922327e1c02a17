//! The grammar a value read from a project file must match before it may reach a generated
//! Dockerfile (a `RUN` line, `CMD`, `COPY`): package.json's `packageManager`, `main` and the
//! scripts justpush runs, Python application modules and console scripts, Procfile commands,
//! Go package directories, Cargo binary names, build output directories.
//!
//! A value that does not match is refused with [`DetectError::UnsafeValue`], which names the
//! file, the field and the rule; nothing is escaped into shape, because a newline or a `;`
//! in such a value is never what a real project means (it is how `RUN curl x|sh` gets in).

use std::sync::LazyLock;

use regex::Regex;

use super::DetectError;

/// The rule a value broke, as the error states it.
pub type Rule = &'static str;

fn refuse(file: &str, field: &str, value: &str, rule: Rule) -> DetectError {
    DetectError::UnsafeValue {
        file: file.to_string(),
        field: field.to_string(),
        value: value.to_string(),
        rule,
    }
}

fn check(re: &Regex, file: &str, field: &str, value: &str, rule: Rule) -> Result<(), DetectError> {
    if value.len() <= 256 && re.is_match(value) {
        Ok(())
    } else {
        Err(refuse(file, field, value, rule))
    }
}

/// `packageManager`: `name@version`, optionally `+hash` (corepack's form).
pub fn package_manager(file: &str, value: &str) -> Result<(), DetectError> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9-]*@[0-9A-Za-z][0-9A-Za-z.+-]*$").unwrap());
    check(
        &RE,
        file,
        "packageManager",
        value,
        "a package manager and its version, such as pnpm@9.15.9 (letters, digits, `.`, `-`, `+`; no spaces, newlines or shell characters)",
    )
}

/// A command the project's own tooling runs (an npm script, a Procfile line): its text is
/// the project's code, shell syntax included, but one line without control characters.
pub fn one_line_command(file: &str, field: &str, value: &str) -> Result<(), DetectError> {
    if value.chars().any(char::is_control) || value.len() > 4096 {
        Err(refuse(
            file,
            field,
            value,
            "one line of at most 4096 characters without newlines or other control characters",
        ))
    } else {
        Ok(())
    }
}

/// A path inside the project (`main`, an output directory, a package directory): relative,
/// without `..`, of letters, digits and `/._@+-`.
pub fn relative_path(file: &str, field: &str, value: &str) -> Result<(), DetectError> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_.@+][A-Za-z0-9_./@+-]*$").unwrap());
    let rule = "a relative path inside the project of letters, digits and `/._@+-`, without `..`";
    check(&RE, file, field, value, rule)?;
    if value.split('/').any(|s| s == "..") {
        return Err(refuse(file, field, value, rule));
    }
    Ok(())
}

/// A dotted Python module (`app.main`).
pub fn python_module(file: &str, field: &str, value: &str) -> Result<(), DetectError> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$").unwrap()
    });
    check(
        &RE,
        file,
        field,
        value,
        "a dotted Python module name such as app.main (identifiers of letters, digits and `_`)",
    )
}

/// An ASGI/WSGI application as servers take it: `module:attribute` or `module:factory()`.
pub fn python_app(file: &str, field: &str, value: &str) -> Result<(), DetectError> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\(\))?$",
        )
        .unwrap()
    });
    check(
        &RE,
        file,
        field,
        value,
        "module:attribute such as app.main:app (Python identifiers; the module comes from the file's path, so directory and file names must be identifiers too)",
    )
}

/// A console script or binary name (`[project.scripts]`, Cargo `[[bin]]`).
pub fn program_name(file: &str, field: &str, value: &str) -> Result<(), DetectError> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$").unwrap());
    check(
        &RE,
        file,
        field,
        value,
        "a program name of letters, digits and `_.-`, not starting with `-` or `.`",
    )
}

/// A declared Node version or range (`engines.node`, `.nvmrc`): it is quoted inside the
/// builder's version check, so version characters and range operators only (no quotes,
/// backslashes, `$` or newlines).
pub fn node_version(file: &str, field: &str, value: &str) -> Result<(), DetectError> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[0-9A-Za-z .<>=^~|*+-]{1,64}$").unwrap());
    check(
        &RE,
        file,
        field,
        value,
        "a Node version or range such as 20, 18.19.0 or >=18 <23 (digits, letters, spaces and `.<>=^~|*+-`)",
    )
}

/// A declared Python version or PEP 440 / Poetry specifier (`requires-python`,
/// `.python-version`, `runtime.txt`): it is quoted inside the builder's version check, so
/// version characters and specifier operators only (no quotes, backslashes, `$` or newlines).
pub fn python_version(file: &str, field: &str, value: &str) -> Result<(), DetectError> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[0-9A-Za-z .,<>=!^~|*+-]{1,64}$").unwrap());
    check(
        &RE,
        file,
        field,
        value,
        "a Python version or specifier such as 3.11, 3.11.4 or >=3.10,<4 (digits, letters, spaces and `.,<>=!^~|*+-`)",
    )
}

/// A toolchain version as it reaches a base-image tag and a version check: digits and dots.
pub fn version_number(file: &str, field: &str, value: &str) -> Result<(), DetectError> {
    static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[0-9]+(\.[0-9]+){0,3}$").unwrap());
    check(
        &RE,
        file,
        field,
        value,
        "a version of digits separated by dots, such as 1.22 or 1.75.0",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_values_pass() {
        package_manager("package.json", "pnpm@8.15.1").unwrap();
        package_manager(
            "package.json",
            "yarn@4.1.0+sha256.81a00df816059803e6b5148acf03ce313cad36b7f6e5af6efa040a15981a6ffb",
        )
        .unwrap();
        one_line_command("package.json", "scripts.build", "tsc && vite build").unwrap();
        relative_path("package.json", "main", "dist/index.js").unwrap();
        relative_path("vite.config.ts", "build.outDir", "build/client").unwrap();
        python_module("app/__main__.py", "module", "app").unwrap();
        python_app("src/app/main.py", "application", "app.main:app").unwrap();
        python_app("app.py", "application", "app:create_app()").unwrap();
        program_name("pyproject.toml", "project.scripts", "serve-api").unwrap();
        node_version("package.json", "engines.node", ">=18.17 <23 || ^24").unwrap();
        node_version(".nvmrc", ".nvmrc", "v20.11.1").unwrap();
        python_version("pyproject.toml", "requires-python", ">=3.10,!=3.11.*,<4").unwrap();
        python_version("pyproject.toml", "python", "^3.11 || ~3.9").unwrap();
    }

    #[test]
    fn injections_are_refused_naming_file_field_and_rule() {
        let err = package_manager("package.json", "pnpm@8\nRUN curl x|sh").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("package.json: packageManager \"pnpm@8\\nRUN curl x|sh\" is refused: a package manager and its version"),
            "{text}"
        );
        assert!(
            one_line_command("package.json", "scripts.start", "node a.js\nCOPY / /host").is_err()
        );
        assert!(relative_path("package.json", "main", "../../etc/passwd").is_err());
        assert!(relative_path("package.json", "main", "-e require('x')").is_err());
        assert!(python_module("x/__main__.py", "module", "app;rm -rf /").is_err());
        assert!(python_app("a.py", "application", "app;rm -rf /:app").is_err());
        assert!(python_version(
            ".python-version",
            ".python-version",
            "3.11'); import os; ('"
        )
        .is_err());
        assert!(python_version("runtime.txt", "runtime.txt", "3.11\nRUN id").is_err());
        assert!(program_name("Cargo.toml", "[[bin]] name", "app --bin x;sh").is_err());
        assert!(node_version(
            "package.json",
            "engines.node",
            ">=18\");process.exit(0);(\""
        )
        .is_err());
        assert!(node_version(".nvmrc", ".nvmrc", "20\nRUN id").is_err());
    }
}
