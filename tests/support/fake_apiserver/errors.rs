//! API errors as real `Status` objects (kind Status, status Failure, reason, code, message,
//! details), with the messages the real API server writes.

use serde_json::{json, Value};

use super::resources::ResourceType;

/// An error answer: HTTP code and the Status body.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub code: u16,
    pub body: Value,
    /// `Retry-After` seconds (429 only).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>, details: Value) -> Self {
        let mut body = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message.into(), "reason": reason, "code": code,
        });
        if !details.is_null() {
            body["details"] = details;
        }
        ApiError {
            code,
            body,
            retry_after: None,
        }
    }

    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }

    pub fn reason(&self) -> &str {
        self.body["reason"].as_str().unwrap_or_default()
    }
}

fn details(rt: &ResourceType, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": rt.plural});
    if !rt.group.is_empty() {
        d["group"] = json!(rt.group);
    }
    d
}

/// `deployments.apps "x" not found` (404 NotFound).
pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("{} \"{name}\" not found", rt.qualified_plural()),
        details(rt, name),
    )
}

/// `namespaces "x" not found`, the answer to a write into a missing namespace.
pub fn namespace_not_found(ns: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("namespaces \"{ns}\" not found"),
        json!({"name": ns, "kind": "namespaces"}),
    )
}

/// Writes into a namespace being deleted (403 Forbidden, as the NamespaceLifecycle admission).
pub fn namespace_terminating(rt: &ResourceType, name: &str, ns: &str) -> ApiError {
    ApiError::new(
        403,
        "Forbidden",
        format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            rt.qualified_plural()
        ),
        details(rt, name),
    )
}

/// `deployments.apps "x" already exists` (409 AlreadyExists).
pub fn already_exists(rt: &ResourceType, name: &str) -> ApiError {
    ApiError::new(
        409,
        "AlreadyExists",
        format!("{} \"{name}\" already exists", rt.qualified_plural()),
        details(rt, name),
    )
}

/// Optimistic-concurrency failure (409 Conflict).
pub fn conflict(rt: &ResourceType, name: &str) -> ApiError {
    ApiError::new(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            rt.qualified_plural()
        ),
        details(rt, name),
    )
}

/// One cause of a 422.
#[derive(Clone, Debug)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

impl Cause {
    pub fn new(reason: &str, field: &str, message: &str) -> Self {
        Cause {
            reason: reason.into(),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// `Deployment.apps "x" is invalid: field: message` (422 Invalid with causes).
pub fn invalid(rt: &ResourceType, name: &str, causes: &[Cause]) -> ApiError {
    let parts: Vec<String> = causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    let msg = if parts.len() == 1 {
        format!(
            "{} \"{name}\" is invalid: {}",
            rt.qualified_kind(),
            parts[0]
        )
    } else {
        format!(
            "{} \"{name}\" is invalid: [{}]",
            rt.qualified_kind(),
            parts.join(", ")
        )
    };
    let mut d = json!({"name": name, "kind": rt.kind});
    if !rt.group.is_empty() {
        d["group"] = json!(rt.group);
    }
    d["causes"] = causes
        .iter()
        .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
        .collect();
    ApiError::new(422, "Invalid", msg, d)
}

/// 403 Forbidden as RBAC says it.
pub fn forbidden(
    rt: &ResourceType,
    name: &str,
    verb: &str,
    ns: &str,
    why: Option<&str>,
) -> ApiError {
    let scope = if ns.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{ns}\"")
    };
    let msg = match why {
        Some(w) => format!("{} \"{name}\" is forbidden: {w}", rt.qualified_plural()),
        None => format!(
            "{} \"{name}\" is forbidden: User \"system:serviceaccount:default:fake\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
            rt.qualified_plural(),
            rt.plural,
            rt.group
        ),
    };
    ApiError::new(403, "Forbidden", msg, details(rt, name))
}

pub fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "BadRequest", message, Value::Null)
}

pub fn internal(message: &str) -> ApiError {
    ApiError::new(
        500,
        "InternalError",
        format!("Internal error occurred: {message}"),
        json!({"causes": [{"message": message}]}),
    )
}

pub fn too_many_requests(retry_after: u64) -> ApiError {
    let mut e = ApiError::new(
        429,
        "TooManyRequests",
        "the server has received too many requests and has asked us to try again later",
        json!({"retryAfterSeconds": retry_after}),
    );
    e.retry_after = Some(retry_after);
    e
}

pub fn method_not_allowed() -> ApiError {
    ApiError::new(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        Value::Null,
    )
}

pub fn unsupported_media(ct: &str) -> ApiError {
    ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, got {ct:?}"), Value::Null)
}

/// The answer for a URL that names no served resource.
pub fn path_not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
        json!({}),
    )
}

/// `410 Gone` for a watch or list from a compacted resourceVersion.
pub fn gone(requested: u64, oldest: u64) -> ApiError {
    ApiError::new(
        410,
        "Expired",
        format!("too old resource version: {requested} ({oldest})"),
        Value::Null,
    )
}

/// Server-side apply conflicts (409 Conflict with FieldManagerConflict causes).
pub fn apply_conflicts(conflicts: &[(String, String)], api_version: &str) -> ApiError {
    let n = conflicts.len();
    let msg = if n == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with \"{}\" using {api_version}: {}",
            conflicts[0].1, conflicts[0].0
        )
    } else {
        let mut m = format!("Apply failed with {n} conflicts: ");
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(f, o)| format!("conflict with \"{o}\" using {api_version}: {f}"))
            .collect();
        m.push_str(&lines.join("\n"));
        m
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(f, o)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{o}\" using {api_version}"), "field": f}))
        .collect();
    ApiError::new(409, "Conflict", msg, json!({"causes": causes}))
}
