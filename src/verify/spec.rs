//! The parts of an OpenAPI (3.x) or Swagger (2.0) document the regression suite needs: each
//! operation's method and path, whether it requires credentials, and its path parameters.

use serde_json::Value;

/// One HTTP operation of the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// Upper-case method.
    pub method: String,
    /// The templated path (`/api/tasks/{task_id}`).
    pub path: String,
    /// True when the operation requires credentials (`security` non-empty, own or inherited).
    pub secured: bool,
    /// Path parameters and whether each is an integer.
    pub path_params: Vec<(String, bool)>,
}

impl Operation {
    /// `GET /api/tasks`.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path with each parameter replaced by a value that names nothing real, so a keyed
    /// request cannot change existing data (integers: a large id; strings: a marker).
    pub fn probe_path(&self) -> String {
        let mut p = self.path.clone();
        for (name, integer) in &self.path_params {
            let v = if *integer {
                "2147480000"
            } else {
                "justpush-verify-none"
            };
            p = p.replace(&format!("{{{name}}}"), v);
        }
        // Parameters the spec forgot to declare.
        let re = regex::Regex::new(r"\{[^}/]+\}").expect("static regex");
        re.replace_all(&p, "2147480000").into_owned()
    }
}

/// Reads a spec from JSON or YAML text.
pub fn parse_spec(text: &str) -> Result<Vec<Operation>, String> {
    crate::yaml_limits::check_yaml(text).map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(text)
        .or_else(|_| serde_yaml::from_str::<Value>(text))
        .map_err(|e| format!("the spec is neither JSON nor YAML: {e}"))?;
    if v.get("openapi").is_none() && v.get("swagger").is_none() {
        return Err("not an OpenAPI or Swagger document (no `openapi` or `swagger` field)".into());
    }
    let global = v.get("security");
    let paths = v
        .get("paths")
        .and_then(Value::as_object)
        .ok_or("the spec has no `paths`")?;
    let mut ops = Vec::new();
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        let shared_params = item.get("parameters");
        for method in ["get", "put", "post", "delete", "options", "head", "patch"] {
            let Some(op) = item.get(method) else { continue };
            let security = op.get("security").or(global);
            let secured = security
                .and_then(Value::as_array)
                .is_some_and(|reqs| !reqs.is_empty() && !reqs.iter().any(is_empty_requirement));
            let mut path_params = Vec::new();
            for params in [shared_params, op.get("parameters")].into_iter().flatten() {
                for p in params.as_array().into_iter().flatten() {
                    if p.get("in").and_then(Value::as_str) == Some("path") {
                        let name = p
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        let ty = p
                            .pointer("/schema/type")
                            .or_else(|| p.get("type"))
                            .and_then(Value::as_str);
                        path_params.push((name, ty == Some("integer")));
                    }
                }
            }
            ops.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                secured,
                path_params,
            });
        }
    }
    Ok(ops)
}

/// `{}` in a security list means "no credentials needed" (an optional-auth alternative).
fn is_empty_requirement(r: &Value) -> bool {
    r.as_object().is_some_and(|o| o.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_is_inherited_and_overridden() {
        let spec = r#"{"openapi":"3.1.0","security":[{"apiKey":[]}],
          "paths":{
            "/api/health":{"get":{"security":[]}},
            "/api/tasks":{"get":{},"post":{}},
            "/api/tasks/{task_id}":{"parameters":[{"name":"task_id","in":"path","schema":{"type":"integer"}}],
               "delete":{"security":[{"apiKey":[]}]}},
            "/maybe":{"get":{"security":[{},{"apiKey":[]}]}}
          }}"#;
        let ops = parse_spec(spec).unwrap();
        let find = |l: &str| ops.iter().find(|o| o.label() == l).unwrap().clone();
        assert!(!find("GET /api/health").secured);
        assert!(find("GET /api/tasks").secured && find("POST /api/tasks").secured);
        let del = find("DELETE /api/tasks/{task_id}");
        assert!(del.secured);
        assert_eq!(del.probe_path(), "/api/tasks/2147480000");
        assert!(!find("GET /maybe").secured);
    }

    #[test]
    fn yaml_and_swagger_read_too() {
        let ops = parse_spec(
            "swagger: '2.0'\nsecurityDefinitions: {k: {type: apiKey, in: header, name: apikey}}\nsecurity: [{k: []}]\npaths:\n  /v/{name}:\n    get:\n      parameters: [{name: name, in: path, type: string}]\n",
        )
        .unwrap();
        assert_eq!(ops.len(), 1);
        assert!(ops[0].secured);
        assert_eq!(ops[0].probe_path(), "/v/justpush-verify-none");
        assert!(parse_spec("{}").unwrap_err().contains("not an OpenAPI"));
    }
}
