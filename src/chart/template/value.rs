//! Template values with Go's dynamic semantics: maps are shared references (Helm's `set` mutates
//! a dict in place and every holder sees it), numbers keep their Go type (`int`, `int64`,
//! `float64`) because `typeOf`, `kindIs` and `eq` depend on it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// A Go map[string]interface{}: shared, mutable, iterated in key order as Go templates do.
pub type MapRef = Rc<RefCell<BTreeMap<String, Value>>>;

/// A value flowing through a template.
#[derive(Clone, Default)]
pub enum Value {
    /// An untyped nil, or a missing map key (Go's invalid reflect.Value).
    #[default]
    Nil,
    Bool(bool),
    /// Go `int`: literals, `len`, `int`.
    Int(i64),
    /// Go `int64`: Sprig arithmetic and `int64`.
    Int64(i64),
    /// Go `float64`: every number in YAML values.
    Float(f64),
    String(Rc<str>),
    /// Go `[]byte`, as `.Files.Get` returns inside `.Files.Glob`.
    Bytes(Rc<[u8]>),
    List(Rc<Vec<Value>>),
    Map(MapRef),
    /// A Go struct or pointer with fields and methods (Capabilities, semver versions, Files).
    Object(Rc<dyn TemplateObject>),
}

/// A native object exposing fields and methods to templates.
pub trait TemplateObject {
    /// Go type name, as `typeOf` prints it.
    fn type_name(&self) -> &str;
    /// Go kind, as `kindOf` prints it.
    fn kind(&self) -> &str {
        "ptr"
    }
    /// Field or zero-argument method lookup.
    fn field(&self, name: &str) -> Option<Value>;
    /// Method call with arguments; `None` when there is no such method.
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let _ = (name, args);
        None
    }
    /// What `fmt.Sprint` prints (Go's `String()` method where the type has one).
    fn display(&self) -> String;
    /// The object as plain data, for `toYaml`/`toJson`.
    fn to_data(&self) -> Value {
        Value::Nil
    }
    /// Key/value pairs when the object can be ranged over.
    fn entries(&self) -> Option<Vec<(Value, Value)>> {
        None
    }
}

impl Value {
    pub fn str(s: impl AsRef<str>) -> Value {
        Value::String(Rc::from(s.as_ref()))
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(items))
    }

    pub fn new_map() -> MapRef {
        Rc::new(RefCell::new(BTreeMap::new()))
    }

    pub fn map(m: BTreeMap<String, Value>) -> Value {
        Value::Map(Rc::new(RefCell::new(m)))
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Go's `text/template` truth: zero values, empty collections and nil are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
            Value::Object(_) => true,
        }
    }

    /// Go type name (`reflect.TypeOf(v).String()`), as `typeOf` returns.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Int64(_) => "int64".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::Bytes(_) => "[]uint8".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::Object(o) => o.type_name().into(),
        }
    }

    /// Go kind (`reflect.Kind`), as `kindOf` returns.
    pub fn kind_name(&self) -> String {
        match self {
            Value::Nil => "invalid".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Int64(_) => "int64".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::Bytes(_) | Value::List(_) => "slice".into(),
            Value::Map(_) => "map".into(),
            Value::Object(o) => o.kind().into(),
        }
    }

    /// A deep copy: new maps and lists all the way down (Sprig's `deepCopy`, and values handed
    /// to a subchart so its `set` calls cannot reach the parent).
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::List(l) => Value::list(l.iter().map(Value::deep_copy).collect()),
            Value::Map(m) => Value::map(
                m.borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.deep_copy()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Converts JSON data into template values the way Helm does for values files: every
    /// number becomes a float64.
    pub fn from_json_values(v: &serde_json::Value) -> Value {
        Self::from_json(v, true)
    }

    /// Converts JSON data into template values; `floats` mirrors Go's JSON decoding into
    /// interface{} (all numbers float64); without it integers stay `int64` (as `--set` does).
    pub fn from_json(v: &serde_json::Value, floats: bool) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if !floats {
                    if let Some(i) = n.as_i64() {
                        return Value::Int64(i);
                    }
                }
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(a) => {
                Value::list(a.iter().map(|x| Self::from_json(x, floats)).collect())
            }
            serde_json::Value::Object(o) => Value::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Self::from_json(v, floats)))
                    .collect(),
            ),
        }
    }

    /// Plain data, for serialisation (`toYaml`, `toJson`) and for handing results to Rust.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) | Value::Int64(i) => serde_json::Value::from(*i),
            Value::Float(f) => {
                // Go's JSON encoder writes integral floats without a fraction; keep them
                // integers so YAML and JSON output match Helm's.
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    serde_json::Value::from(*f as i64)
                } else {
                    serde_json::Number::from_f64(*f)
                        .map(serde_json::Value::Number)
                        .unwrap_or(serde_json::Value::Null)
                }
            }
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Bytes(b) => {
                use base64::Engine;
                serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => {
                let mut out = serde_json::Map::new();
                for (k, v) in m.borrow().iter() {
                    out.insert(k.clone(), v.to_json());
                }
                serde_json::Value::Object(out)
            }
            Value::Object(o) => o.to_data().to_json(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::str(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(Rc::from(s))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => write!(f, "{s:?}"),
            other => write!(f, "{}", super::gofmt::sprint_value(other)),
        }
    }
}
