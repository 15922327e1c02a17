//! Error injection: rules that answer chosen requests with an error instead of serving them,
//! and rules that cut watch streams.

use serde_json::Value;

use super::errors::{self, ApiError, Cause};
use super::resources::ResourceType;

/// The verb of a request, as Kubernetes audit logs name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    /// Merge, strategic-merge or JSON patch.
    Patch,
    /// Server-side apply (a PATCH with `application/apply-patch+yaml`).
    Apply,
    Delete,
    DeleteCollection,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Apply => "apply",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }

    /// Writes (create, update, patch, apply).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Apply
        )
    }
}

/// What a matching rule answers.
#[derive(Clone, Debug)]
pub enum FaultAnswer {
    /// 409 Conflict (optimistic concurrency).
    Conflict,
    /// 409 AlreadyExists.
    AlreadyExists,
    /// 422 Invalid with these causes (field, message).
    Invalid(Vec<(String, String)>),
    /// 403 Forbidden (RBAC-style message, or this reason).
    Forbidden(Option<String>),
    /// 500 InternalError with this message.
    Internal(String),
    /// 429 TooManyRequests with Retry-After seconds.
    TooManyRequests(u64),
    /// An admission webhook denial: code and the webhook's message (the answer says
    /// `admission webhook "<webhook>" denied the request: <message>`).
    AdmissionDenied {
        webhook: String,
        code: u16,
        message: String,
    },
    /// Any Status you build.
    Custom(ApiError),
    /// Serve the request normally, but only after this delay (a slow API server).
    Delay(std::time::Duration),
    /// Start a 200 answer and cut the connection mid-body (a network failure; the client sees
    /// a transport error, not a Status).
    ConnectionReset,
}

/// One error-injection rule. Build with [`Fault::on`] and the chained setters.
#[derive(Clone, Debug)]
pub struct Fault {
    pub verbs: Vec<Verb>,
    /// Plural (`deployments`) or kind (`Deployment`); None = any.
    pub resource: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// Only when the subresource is this (`status`, `scale`, `log`); None = any.
    pub subresource: Option<String>,
    pub answer: FaultAnswer,
    /// How many more times it fires; None = always.
    pub remaining: Option<u32>,
    /// Matching requests to let through before firing.
    pub skip: u32,
    /// How many times it fired.
    pub fired: u32,
}

impl Fault {
    /// A rule for these verbs (empty = every verb) answering `answer`, firing always until
    /// limited with [`Fault::times`].
    pub fn on(verbs: &[Verb], answer: FaultAnswer) -> Self {
        Fault {
            verbs: verbs.to_vec(),
            resource: None,
            name: None,
            namespace: None,
            subresource: None,
            answer,
            remaining: None,
            skip: 0,
            fired: 0,
        }
    }

    pub fn resource(mut self, plural_or_kind: &str) -> Self {
        self.resource = Some(plural_or_kind.into());
        self
    }
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }
    pub fn namespace(mut self, ns: &str) -> Self {
        self.namespace = Some(ns.into());
        self
    }
    pub fn subresource(mut self, s: &str) -> Self {
        self.subresource = Some(s.into());
        self
    }
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }
    /// Lets the first `n` matching requests through.
    pub fn after(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }

    pub fn matches(
        &self,
        verb: Verb,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        sub: Option<&str>,
    ) -> bool {
        (self.verbs.is_empty() || self.verbs.contains(&verb))
            && self
                .resource
                .as_ref()
                .is_none_or(|r| *r == rt.plural || *r == rt.kind || *r == rt.qualified_plural())
            && self.name.as_ref().is_none_or(|n| n == name)
            && self.namespace.as_ref().is_none_or(|n| n == ns)
            && self.subresource.as_deref().is_none_or(|s| Some(s) == sub)
            && self.remaining != Some(0)
    }

    /// The error for a matching request.
    pub fn error(&self, verb: Verb, rt: &ResourceType, ns: &str, name: &str) -> ApiError {
        match &self.answer {
            FaultAnswer::Conflict => errors::conflict(rt, name),
            FaultAnswer::AlreadyExists => errors::already_exists(rt, name),
            FaultAnswer::Invalid(causes) => {
                let cs: Vec<Cause> = causes
                    .iter()
                    .map(|(f, m)| Cause::new("FieldValueInvalid", f, m))
                    .collect();
                errors::invalid(rt, name, &cs)
            }
            FaultAnswer::Forbidden(why) => {
                errors::forbidden(rt, name, verb.as_str(), ns, why.as_deref())
            }
            FaultAnswer::Internal(m) => errors::internal(m),
            FaultAnswer::TooManyRequests(s) => errors::too_many_requests(*s),
            FaultAnswer::AdmissionDenied {
                webhook,
                code,
                message,
            } => {
                let reason = match code {
                    400 => "BadRequest",
                    403 => "Forbidden",
                    422 => "Invalid",
                    _ => "",
                };
                ApiError::new(
                    *code,
                    reason,
                    format!("admission webhook \"{webhook}\" denied the request: {message}"),
                    Value::Null,
                )
            }
            FaultAnswer::Custom(e) => e.clone(),
            FaultAnswer::Delay(_) | FaultAnswer::ConnectionReset => {
                unreachable!("handled by the HTTP layer")
            }
        }
    }
}

/// A rule that ends watch streams of a resource after they delivered `after_events` events.
#[derive(Clone, Debug)]
pub struct WatchDrop {
    /// Plural or kind; None = any.
    pub resource: Option<String>,
    pub after_events: usize,
    /// How many more watches it cuts; None = every one.
    pub remaining: Option<u32>,
    /// How many watches it actually cut (a watch the client closed first is not counted).
    pub cut: u32,
}
