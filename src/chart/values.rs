//! Helm's value pipeline: user layers (`-f`, `--set`...), coalescing over chart and subchart
//! defaults, and `values.schema.json` validation.
//!
//! Everything here is pure data in, data out over `serde_json` maps; the only I/O is reading
//! `-f`/`--set-file` paths, and that goes through [`FileReader`] so tests use fakes. The
//! behaviour follows Helm v4 (`pkg/cli/values`, `pkg/chart/common/util/coalesce.go`,
//! `jsonschema.go`), checked against Helm v4.2.3 itself; where Helm has a quirk that a chart
//! can observe, the quirk is kept and commented.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value};

use super::strvals::describe;
pub use super::strvals::{
    apply_set, merge_maps, parse_set, typed_value, FileReader, LocalFiles, SetKind,
};

/// The key under which values are shared with every subchart.
pub const GLOBAL_KEY: &str = "global";

/// Everything that can go wrong while gathering, merging or validating values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValuesError {
    /// A `--set`-family expression does not follow Helm's syntax or conflicts with earlier values.
    #[error("invalid {kind} \"{expr}\": {reason}; {hint}", hint = .kind.syntax_hint())]
    InvalidSet {
        kind: SetKind,
        expr: String,
        reason: String,
    },
    /// A `--set-file` path could not be read.
    #[error(
        "--set-file \"{expr}\": cannot read {path:?}: {source}; check the path \
         (relative paths start from the current directory)"
    )]
    SetFileRead {
        expr: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A `--set-file` file was refused unread (a FIFO, a device, over the size limit).
    #[error("--set-file \"{expr}\": {source}")]
    SetFileRefused {
        expr: String,
        #[source]
        source: Box<crate::input::InputError>,
    },
    /// A `-f`/`--values` file was refused unread (a FIFO, a device, over the size limit).
    #[error("-f/--values: {source}")]
    ValuesFileRefused {
        #[source]
        source: Box<crate::input::InputError>,
    },
    /// A `-f`/`--values` file could not be read.
    #[error("cannot read values file {path:?}: {source}; check the path given to -f/--values")]
    ValuesFileRead {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A `-f`/`--values` file is not valid YAML, or holds something that is not a map of values.
    #[error("values file {path:?} is not usable: {reason}; a values file must be a YAML map such as `replicaCount: 2`")]
    ValuesFile { path: String, reason: String },
    /// The values meant for a subchart are not a map.
    #[error(
        "values for subchart {subchart:?} must be a map, but {found} was given; \
         set keys under it (e.g. `--set {subchart}.key=value`) or remove the value"
    )]
    SubchartValuesNotMap {
        subchart: String,
        found: &'static str,
    },
    /// A chart's `values.schema.json` cannot be compiled.
    #[error(
        "the values schema{} is not a usable JSON Schema: {reason}; \
         fix the chart's values.schema.json",
        if chart.is_empty() { String::new() } else { format!(" of chart {chart:?}") }
    )]
    InvalidSchema { chart: String, reason: String },
    /// The values break one or more charts' `values.schema.json`.
    #[error("{}", render_violations(.charts))]
    SchemaViolations { charts: Vec<ChartViolations> },
}

// ---------------------------------------------------------------------------------------------
// Chart defaults and coalescing
// ---------------------------------------------------------------------------------------------

/// A chart's default values, its schema and its (enabled) subcharts, as values processing sees
/// them. The loader builds this from `values.yaml`, `values.schema.json` and `charts/`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartValues {
    /// The chart's name; a subchart's values live under this key in its parent's values.
    pub name: String,
    /// The chart's `values.yaml`.
    pub defaults: Map<String, Value>,
    /// The chart's `values.schema.json`, if it ships one.
    pub schema: Option<Value>,
    /// Subcharts in load order (Helm coalesces them in that order).
    pub subcharts: Vec<ChartValues>,
}

impl ChartValues {
    /// A chart with defaults and nothing else.
    pub fn new(name: impl Into<String>, defaults: Map<String, Value>) -> Self {
        ChartValues {
            name: name.into(),
            defaults,
            schema: None,
            subcharts: Vec::new(),
        }
    }
}

/// Values after coalescing, with the warnings Helm would have logged (returned, not printed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coalesced {
    /// The merged values, as templates see them in `.Values`.
    pub values: Map<String, Value>,
    /// Type conflicts that were resolved in favour of the user's value.
    pub warnings: Vec<String>,
}

/// Coalesces user values over a chart's defaults (no subcharts): user values win, maps merge,
/// and a user `null` deletes the key where the chart had a value for it.
pub fn coalesce_values(
    chart_defaults: &Map<String, Value>,
    user_values: &Map<String, Value>,
) -> Coalesced {
    let chart = ChartValues::new("", chart_defaults.clone());
    let mut run = Coalescer::default();
    let mut values = user_values.clone();
    run.coalesce_own(&chart, &mut values, "", false);
    Coalesced {
        values,
        warnings: run.warnings,
    }
}

/// Coalesces user values over a whole chart tree, as Helm does before rendering: each
/// subchart's section is merged over its defaults and receives the parent's `global`.
pub fn coalesce_chart(
    chart: &ChartValues,
    user_values: &Map<String, Value>,
) -> Result<Coalesced, ValuesError> {
    let mut run = Coalescer::default();
    let mut values = user_values.clone();
    run.coalesce(chart, &mut values, "", false)?;
    share_globals_down(chart, &mut values);
    Ok(Coalesced {
        values,
        warnings: run.warnings,
    })
}

/// A subchart's view of its parent's (already coalesced) values: `values[chart_name]` merged
/// over the subchart's defaults, with the parent's `global` copied in (parent globals win).
/// For nested subcharts use [`coalesce_chart`], which walks the whole tree.
pub fn coalesce_for_chart(
    values: &Map<String, Value>,
    chart_name: &str,
    subchart_defaults: &Map<String, Value>,
) -> Result<Coalesced, ValuesError> {
    let mut parent = values.clone();
    let mut run = Coalescer::default();
    let mut section = take_section(&mut parent, chart_name)?;
    run.coalesce_globals(&mut section, &parent, "");
    let chart = ChartValues::new(chart_name, subchart_defaults.clone());
    run.coalesce_own(&chart, &mut section, "", false);
    Ok(Coalesced {
        values: section,
        warnings: run.warnings,
    })
}

fn take_section(
    parent: &mut Map<String, Value>,
    name: &str,
) -> Result<Map<String, Value>, ValuesError> {
    match parent.get_mut(name) {
        None => Ok(Map::new()),
        Some(Value::Object(section)) => Ok(std::mem::take(section)),
        Some(other) => Err(ValuesError::SubchartValuesNotMap {
            subchart: name.to_owned(),
            found: describe(other),
        }),
    }
}

fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// One coalescing run; collects warnings instead of logging them.
#[derive(Default)]
struct Coalescer {
    warnings: Vec<String>,
}

impl Coalescer {
    fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// Coalesces `chart`'s defaults into `dest`, then each subchart into its section.
    /// `merge` keeps nulls (Helm uses that inside a parent's copy of a subchart's section,
    /// so the null survives until the subchart's own defaults are applied).
    fn coalesce(
        &mut self,
        chart: &ChartValues,
        dest: &mut Map<String, Value>,
        prefix: &str,
        merge: bool,
    ) -> Result<(), ValuesError> {
        self.coalesce_own(chart, dest, prefix, merge);
        let chart_path = join_key(prefix, &chart.name);
        for sub in &chart.subcharts {
            let mut section = take_section(dest, &sub.name)?;
            self.coalesce_globals(&mut section, dest, &chart_path);
            let result = self.coalesce(sub, &mut section, &chart_path, merge);
            sync_shared_globals(&section, dest);
            dest.insert(sub.name.clone(), Value::Object(section));
            result?;
        }
        Ok(())
    }

    /// Merges one chart's defaults under the values in `dest`.
    fn coalesce_own(
        &mut self,
        chart: &ChartValues,
        dest: &mut Map<String, Value>,
        prefix: &str,
        merge: bool,
    ) {
        let chart_path = join_key(prefix, &chart.name);
        for (key, default) in &chart.defaults {
            let path = join_key(&chart_path, key);
            match dest.get_mut(key) {
                Some(Value::Null) if !merge => {
                    // At a chart's top level a user null removes the key even when the
                    // default is null too (deeper down, only non-null defaults are removed).
                    dest.shift_remove(key);
                }
                Some(Value::Object(user_map)) => match default {
                    Value::Object(default_map) => {
                        let is_subchart = chart.subcharts.iter().any(|s| &s.name == key);
                        let merge = merge || is_subchart;
                        let mut default_map = default_map.clone();
                        if !merge {
                            remove_nulls(&mut default_map);
                        }
                        self.coalesce_tables(user_map, default_map, &path, merge);
                    }
                    Value::Null => {}
                    other => self.warn(format!(
                        "{path}: the map given replaces the chart default {}",
                        short(other)
                    )),
                },
                Some(user) => {
                    // Helm is silent here; the warning costs nothing and explains the result.
                    if let (Value::Object(_), false) = (default, user.is_null()) {
                        self.warn(format!(
                            "{path}: the value {} replaces the chart's default map",
                            short(user)
                        ));
                    }
                }
                None => {
                    let mut default = default.clone();
                    if !merge {
                        match &mut default {
                            Value::Null => continue,
                            Value::Object(map) => remove_nulls(map),
                            _ => {}
                        }
                    }
                    dest.insert(key.clone(), default);
                }
            }
        }
    }

    /// Merges `src` (lower priority) under `dst` (higher priority), recursively.
    fn coalesce_tables(
        &mut self,
        dst: &mut Map<String, Value>,
        mut src: Map<String, Value>,
        prefix: &str,
        merge: bool,
    ) {
        let src_had_value: HashSet<String> = src
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k.clone())
            .collect();
        for (key, value) in dst.iter() {
            if value.is_null() {
                src.insert(key.clone(), Value::Null);
            }
        }
        for (key, value) in src {
            let path = join_key(prefix, &key);
            match dst.get_mut(&key) {
                // A user null deletes a default; a null with nothing under it is kept.
                Some(Value::Null) if !merge && src_had_value.contains(&key) => {
                    dst.shift_remove(&key);
                }
                None => {
                    dst.insert(key, value);
                }
                Some(Value::Object(dst_map)) => match value {
                    Value::Object(src_map) => self.coalesce_tables(dst_map, src_map, &path, merge),
                    Value::Null => {}
                    other => self.warn(format!(
                        "{path}: the map given replaces the default {}",
                        short(&other)
                    )),
                },
                Some(user) => {
                    if value.is_object() {
                        self.warn(format!(
                            "{path}: the value {} replaces the default map",
                            short(user)
                        ));
                    }
                }
            }
        }
    }

    /// Copies the parent's `global` into a subchart's section; parent globals win, maps merge.
    fn coalesce_globals(
        &mut self,
        section: &mut Map<String, Value>,
        parent: &Map<String, Value>,
        prefix: &str,
    ) {
        let mut section_globals = match section.get(GLOBAL_KEY) {
            None => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(other) => {
                self.warn(format!(
                    "{}: globals not passed down because the subchart's `global` is {}, not a map",
                    join_key(prefix, GLOBAL_KEY),
                    describe(other)
                ));
                return;
            }
        };
        let parent_globals = match parent.get(GLOBAL_KEY) {
            None => None,
            Some(Value::Object(map)) => Some(map),
            Some(other) => {
                self.warn(format!(
                    "{}: globals not passed down because `global` is {}, not a map",
                    join_key(prefix, GLOBAL_KEY),
                    describe(other)
                ));
                return;
            }
        };
        for (key, parent_value) in parent_globals.into_iter().flatten() {
            match (parent_value, section_globals.get(key.as_str())) {
                (Value::Object(parent_map), None) => {
                    section_globals.insert(key.clone(), Value::Object(parent_map.clone()));
                }
                (Value::Object(parent_map), Some(Value::Object(section_map))) => {
                    let mut merged = parent_map.clone();
                    let section_map = section_map.clone();
                    self.coalesce_tables(
                        &mut merged,
                        section_map,
                        &join_key(prefix, &format!("{GLOBAL_KEY}.{key}")),
                        true,
                    );
                    section_globals.insert(key.clone(), Value::Object(merged));
                }
                (Value::Object(_), Some(other)) => self.warn(format!(
                    "{}: the parent's global map is not passed down because the subchart's is {}",
                    join_key(prefix, &format!("{GLOBAL_KEY}.{key}")),
                    describe(other)
                )),
                (_, Some(Value::Object(_))) => self.warn(format!(
                    "{}: the parent's global value is not passed down because the subchart's is a map",
                    join_key(prefix, &format!("{GLOBAL_KEY}.{key}")),
                )),
                (value, _) => {
                    section_globals.insert(key.clone(), value.clone());
                }
            }
        }
        section.insert(GLOBAL_KEY.to_owned(), Value::Object(section_globals));
    }
}

/// Helm quirk, kept because templates can see it: Go maps are references and Helm copies a
/// parent's `global` maps only one level deep, so every chart in a tree shares the maps two
/// levels under `global` (`global.a.b`), and whatever one chart merges into them (its
/// defaults, its section in the parent's values) shows up in its parent, its siblings and its
/// own subcharts. Emulated by copying those maps up after each subchart and down at the end.
fn sync_shared_globals(from: &Map<String, Value>, to: &mut Map<String, Value>) {
    let (Some(Value::Object(from)), Some(Value::Object(to))) =
        (from.get(GLOBAL_KEY), to.get_mut(GLOBAL_KEY))
    else {
        return;
    };
    for (key, from_value) in from {
        let (Value::Object(from_inner), Some(Value::Object(to_inner))) =
            (from_value, to.get_mut(key))
        else {
            continue;
        };
        for (inner_key, shared) in from_inner {
            if let (Value::Object(_), Some(target @ Value::Object(_))) =
                (shared, to_inner.get_mut(inner_key))
            {
                *target = shared.clone();
            }
        }
    }
}

/// Second half of [`sync_shared_globals`]: hands the final shared maps back down the tree.
fn share_globals_down(chart: &ChartValues, values: &mut Map<String, Value>) {
    for sub in &chart.subcharts {
        let mut section = match values.get_mut(&sub.name) {
            Some(Value::Object(section)) => std::mem::take(section),
            _ => continue,
        };
        sync_shared_globals(values, &mut section);
        share_globals_down(sub, &mut section);
        values.insert(sub.name.clone(), Value::Object(section));
    }
}

/// Drops nulls from chart defaults so they neither shadow globals nor reach templates.
fn remove_nulls(map: &mut Map<String, Value>) {
    map.retain(|_, value| match value {
        Value::Null => false,
        Value::Object(inner) => {
            remove_nulls(inner);
            true
        }
        _ => true,
    });
}

/// A value shortened for a warning line.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}...", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

// ---------------------------------------------------------------------------------------------
// User value layers
// ---------------------------------------------------------------------------------------------

/// The user's value sources in command-line order: `-f` files and `--set`-family flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueLayers {
    files: Vec<String>,
    sets: Vec<(SetKind, String)>,
}

impl ValueLayers {
    /// No layers: the chart's defaults alone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a `-f`/`--values` file (later files win).
    pub fn values_file(mut self, path: impl Into<String>) -> Self {
        self.files.push(path.into());
        self
    }

    /// Adds one `--set`-family flag value.
    pub fn set(mut self, kind: SetKind, expr: impl Into<String>) -> Self {
        self.sets.push((kind, expr.into()));
        self
    }

    /// Merges the layers into the user-supplied values, in Helm's order: every `-f` file, then
    /// all `--set-json`, then `--set`, `--set-string`, `--set-file`, `--set-literal` (each kind
    /// in command-line order; Helm groups by kind, so `--set a=1 --set-json a=2` yields 1).
    pub fn user_values(&self, files: &dyn FileReader) -> Result<Map<String, Value>, ValuesError> {
        let mut base = Map::new();
        for path in &self.files {
            let bytes =
                files.read_file(path).map_err(|source| {
                    match super::strvals::input_error(source) {
                        Ok(refusal) => ValuesError::ValuesFileRefused { source: refusal },
                        Err(source) => ValuesError::ValuesFileRead {
                            path: path.clone(),
                            source,
                        },
                    }
                })?;
            let text = String::from_utf8_lossy(&bytes);
            let layer = parse_values_yaml(&text).map_err(|reason| ValuesError::ValuesFile {
                path: path.clone(),
                reason,
            })?;
            merge_maps(&mut base, layer);
        }
        const HELM_ORDER: [SetKind; 5] = [
            SetKind::SetJson,
            SetKind::Set,
            SetKind::SetString,
            SetKind::SetFile,
            SetKind::SetLiteral,
        ];
        for kind in HELM_ORDER {
            for (_, expr) in self.sets.iter().filter(|(k, _)| *k == kind) {
                apply_set(kind, expr, &mut base, files)?;
            }
        }
        Ok(base)
    }

    /// The values a chart renders with: the user layers coalesced over the chart tree.
    pub fn resolve(
        &self,
        chart: &ChartValues,
        files: &dyn FileReader,
    ) -> Result<Coalesced, ValuesError> {
        coalesce_chart(chart, &self.user_values(files)?)
    }
}

// ---------------------------------------------------------------------------------------------
// YAML values documents
// ---------------------------------------------------------------------------------------------

/// Parses a values document the way Helm reads `-f` files: every YAML document in the file is
/// merged in order, an empty document is `{}`, a later duplicate key wins, and anything but a
/// map is refused. Scalars resolve by YAML 1.1 rules as Helm's go-yaml does, so `yes`/`on`
/// are booleans, `0644` is octal, `1_000` is 1000, and keys become strings (`y:` is `"true"`).
///
/// The document is first checked against [`crate::yaml_limits`] (depth and alias expansion),
/// so an alias bomb or deep nesting is refused before anything is built.
pub fn parse_values_yaml(text: &str) -> Result<Map<String, Value>, String> {
    crate::yaml_limits::check_yaml(text).map_err(|e| e.to_string())?;
    let mut builder = YamlBuilder::default();
    let mut parser = yaml_rust2::parser::Parser::new_from_str(text);
    let mut values = Map::new();
    let mut document = 0;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| e.to_string())?;
        let at =
            |reason: String| format!("{reason} (line {}, column {})", mark.line(), mark.col() + 1);
        match event {
            yaml_rust2::Event::StreamEnd => break,
            yaml_rust2::Event::DocumentEnd => {
                document += 1;
                match builder.root.take() {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(map)) => merge_maps(&mut values, map),
                    Some(other) => {
                        return Err(format!(
                            "document {document} is {}, not a map of values",
                            describe(&other)
                        ))
                    }
                }
            }
            event => builder.event(event).map_err(at)?,
        }
    }
    Ok(values)
}

/// Key of a mapping entry being built; `<<` (plain) is YAML's merge key.
enum YamlKey {
    Text(String),
    Merge,
}

enum YamlFrame {
    Seq {
        anchor: usize,
        items: Vec<Value>,
    },
    Map {
        anchor: usize,
        map: Map<String, Value>,
        key: Option<YamlKey>,
    },
}

/// Turns parser events into JSON values, one document at a time.
#[derive(Default)]
struct YamlBuilder {
    stack: Vec<YamlFrame>,
    anchors: std::collections::HashMap<usize, Value>,
    root: Option<Value>,
}

impl YamlBuilder {
    fn event(&mut self, event: yaml_rust2::Event) -> Result<(), String> {
        use yaml_rust2::Event;
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == yaml_rust2::scanner::TScalarStyle::Plain;
                let awaiting_key =
                    matches!(self.stack.last(), Some(YamlFrame::Map { key: None, .. }));
                if awaiting_key && plain && tag.is_none() && text == "<<" {
                    if let Some(YamlFrame::Map { key, .. }) = self.stack.last_mut() {
                        *key = Some(YamlKey::Merge);
                    }
                    return Ok(());
                }
                let value = resolve_scalar(&text, plain, tag.as_ref())?;
                self.push(value, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(YamlFrame::Seq {
                    anchor,
                    items: Vec::new(),
                });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(YamlFrame::Map {
                    anchor,
                    map: Map::new(),
                    key: None,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(YamlFrame::Seq { anchor, items }) => self.push(Value::Array(items), anchor),
                Some(YamlFrame::Map { anchor, map, .. }) => self.push(Value::Object(map), anchor),
                None => Err("unbalanced YAML collection".to_owned()),
            },
            Event::Alias(id) => {
                let value = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| "alias to an unknown anchor".to_owned())?;
                self.push(value, 0)
            }
            _ => Ok(()),
        }
    }

    /// Places a finished node into its parent (or as the document root).
    fn push(&mut self, value: Value, anchor: usize) -> Result<(), String> {
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(YamlFrame::Seq { items, .. }) => items.push(value),
            Some(YamlFrame::Map { map, key, .. }) => match key.take() {
                None => *key = Some(YamlKey::Text(yaml_key(value)?)),
                Some(YamlKey::Text(name)) => {
                    map.insert(name, value);
                }
                Some(YamlKey::Merge) => {
                    // Like go-yaml v2: merged keys overwrite keys set before the `<<`, and with
                    // a list of maps the earlier maps win.
                    let sources = match value {
                        Value::Object(source) => vec![source],
                        Value::Array(items) => items
                            .into_iter()
                            .rev()
                            .map(|item| match item {
                                Value::Object(source) => Ok(source),
                                _ => Err("a `<<` merge list must hold only maps".to_owned()),
                            })
                            .collect::<Result<_, _>>()?,
                        _ => return Err("a `<<` merge value must be a map".to_owned()),
                    };
                    for source in sources {
                        map.extend(source);
                    }
                }
            },
        }
        Ok(())
    }
}

/// Helm (sigs.k8s.io/yaml) turns scalar keys into their string form and refuses the rest.
fn yaml_key(key: Value) -> Result<String, String> {
    match key {
        Value::String(text) => Ok(text),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Err("a map key is null".to_owned()),
        other => Err(format!("a map key is {}, not a string", describe(&other))),
    }
}

/// Resolves a scalar as go-yaml v2 does: tags first, then YAML 1.1 rules for plain scalars;
/// quoted and block scalars are strings.
fn resolve_scalar(
    text: &str,
    plain: bool,
    tag: Option<&yaml_rust2::parser::Tag>,
) -> Result<Value, String> {
    let core_tag = tag.and_then(|t| match t.handle.as_str() {
        "!!" | "tag:yaml.org,2002:" => Some(t.suffix.as_str()),
        _ => None,
    });
    match (core_tag, tag) {
        (Some("str" | "timestamp"), _) => Ok(Value::String(text.to_owned())),
        (Some("binary"), _) => {
            use base64::Engine as _;
            let compact: String = text.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| format!("!!binary value is not base64: {e}"))?;
            Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        }
        (Some(kind @ ("int" | "float" | "bool" | "null")), _) => {
            let value = resolve_plain(text)?;
            let fits = match kind {
                "int" => value.is_i64() || value.is_u64(),
                "float" => value.is_number(),
                "bool" => value.is_boolean(),
                _ => value.is_null(),
            };
            if fits {
                Ok(value)
            } else {
                Err(format!("{text:?} is not a valid !!{kind}"))
            }
        }
        (_, Some(_)) => Ok(Value::String(text.to_owned())),
        (_, None) if plain => resolve_plain(text),
        (_, None) => Ok(Value::String(text.to_owned())),
    }
}

/// YAML 1.1 resolution of an untagged plain scalar (go-yaml v2's `resolve`).
fn resolve_plain(text: &str) -> Result<Value, String> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Ok(Value::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Ok(Value::Bool(false))
        }
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => {
            return Err(format!("{text} cannot be represented in JSON"));
        }
        _ => {}
    }
    if !text.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.')) {
        return Ok(Value::String(text.to_owned()));
    }
    let plain = text.replace('_', "");
    if let Some(n) = go_parse_int(&plain) {
        return Ok(Value::from(n));
    }
    if let Some(n) = go_parse_uint(&plain) {
        return Ok(Value::from(n));
    }
    if is_yaml_float(&plain) {
        if let Some(n) = plain
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(serde_json::Number::from_f64)
        {
            return Ok(Value::Number(n));
        }
    }
    for (prefix, sign) in [("0b", 1i64), ("-0b", -1), ("+0b", 1)] {
        if let Some(digits) = plain.strip_prefix(prefix) {
            if let Ok(n) = i64::from_str_radix(digits, 2) {
                return Ok(Value::from(sign * n));
            }
        }
    }
    Ok(Value::String(text.to_owned()))
}

/// Go's `strconv.ParseUint(s, 0, 64)`: `0x`/`0o`/`0b` prefixes, a leading `0` means octal.
fn go_parse_uint(s: &str) -> Option<u64> {
    let lower = s.get(..2).map(str::to_ascii_lowercase);
    let (digits, radix) = match lower.as_deref() {
        Some("0x") => (&s[2..], 16),
        Some("0o") => (&s[2..], 8),
        Some("0b") => (&s[2..], 2),
        _ if s.len() > 1 && s.starts_with('0') => (&s[1..], 8),
        _ => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn go_parse_int(s: &str) -> Option<i64> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = go_parse_uint(body)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// go-yaml's float syntax: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        None => digits(mantissa),
        Some(("", fraction)) => digits(fraction),
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

// ---------------------------------------------------------------------------------------------
// Schema validation
// ---------------------------------------------------------------------------------------------

/// One value that breaks the schema, located by JSON pointer (`/components/backend/port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// JSON pointer to the offending value; `""` is the root.
    pub path: String,
    /// What is wrong, in Helm's words (`got string, want integer`).
    pub message: String,
}

impl fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "- at '{}': {}", self.path, self.message)
    }
}

/// The violations found in one chart's section of the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartViolations {
    /// The chart whose schema was broken; empty when validating without a chart.
    pub chart: String,
    /// Every violation, in the order the validator reported them.
    pub violations: Vec<SchemaViolation>,
}

fn render_violations(charts: &[ChartViolations]) -> String {
    let mut out = String::new();
    if let [single] = charts {
        if single.chart.is_empty() {
            out.push_str("values don't meet the schema:\n");
        }
    }
    if out.is_empty() {
        out.push_str(
            "values don't meet the specifications of the schema(s) in the following chart(s):\n",
        );
    }
    for chart in charts {
        if !chart.chart.is_empty() {
            out.push_str(&chart.chart);
            out.push_str(":\n");
        }
        for violation in &chart.violations {
            out.push_str(&violation.to_string());
            out.push('\n');
        }
    }
    out.push_str(
        "fix the values (values.yaml, -f files or --set flags) or the chart's values.schema.json",
    );
    out
}

/// Validates values against one JSON Schema (draft-04 to 2020-12, picked by `$schema`;
/// 2020-12 when absent, as Helm does), reporting every violation with its path.
pub fn validate_against_schema(schema: &Value, values: &Value) -> Result<(), ValuesError> {
    let violations = schema_violations("", schema, values)?;
    if violations.is_empty() {
        return Ok(());
    }
    Err(ValuesError::SchemaViolations {
        charts: vec![ChartViolations {
            chart: String::new(),
            violations,
        }],
    })
}

/// Validates coalesced values against the chart's schema and each subchart's schema (on its
/// own section), collecting every chart's violations into one error, as `helm install` does.
pub fn validate_chart_values(
    chart: &ChartValues,
    values: &Map<String, Value>,
) -> Result<(), ValuesError> {
    let mut report = Vec::new();
    collect_chart_violations(chart, values, &mut report)?;
    if report.is_empty() {
        Ok(())
    } else {
        Err(ValuesError::SchemaViolations { charts: report })
    }
}

fn collect_chart_violations(
    chart: &ChartValues,
    values: &Map<String, Value>,
    report: &mut Vec<ChartViolations>,
) -> Result<(), ValuesError> {
    if let Some(schema) = &chart.schema {
        let as_value = Value::Object(values.clone());
        let violations = schema_violations(&chart.name, schema, &as_value)?;
        if !violations.is_empty() {
            report.push(ChartViolations {
                chart: chart.name.clone(),
                violations,
            });
        }
    }
    for sub in &chart.subcharts {
        match values.get(&sub.name) {
            None | Some(Value::Null) => {}
            Some(Value::Object(section)) => collect_chart_violations(sub, section, report)?,
            Some(other) => report.push(ChartViolations {
                chart: sub.name.clone(),
                violations: vec![SchemaViolation {
                    path: String::new(),
                    message: format!("got {}, want object", json_type(other)),
                }],
            }),
        }
    }
    Ok(())
}

/// Compiles `schema` and lists the violations of `values`, phrased like Helm's validator.
fn schema_violations(
    chart: &str,
    schema: &Value,
    values: &Value,
) -> Result<Vec<SchemaViolation>, ValuesError> {
    let invalid = |reason: String| ValuesError::InvalidSchema {
        chart: chart.to_owned(),
        reason,
    };
    let (draft, schema) = normalise_draft(schema).map_err(invalid)?;
    let validator = jsonschema::options()
        .with_draft(draft)
        .build(&schema)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(validator
        .iter_errors(values)
        .map(|error| SchemaViolation {
            path: error.instance_path().to_string(),
            message: violation_message(&error),
        })
        .collect())
}

/// Picks the draft from `$schema` as Helm's validator does (http or https, with or without
/// `#`) and strips the URL so the validator never tries to fetch a meta-schema.
fn normalise_draft(schema: &Value) -> Result<(jsonschema::Draft, Value), String> {
    use jsonschema::Draft;
    let Some(object) = schema.as_object() else {
        return match schema {
            Value::Bool(_) => Ok((Draft::Draft202012, schema.clone())),
            other => Err(format!(
                "the schema must be an object or a boolean, not {}",
                describe(other)
            )),
        };
    };
    let draft = match object.get("$schema") {
        None => Draft::Draft202012,
        Some(Value::String(url)) => {
            let bare = url.trim_end_matches('#');
            let bare = bare
                .strip_prefix("http://")
                .or_else(|| bare.strip_prefix("https://"))
                .unwrap_or(bare);
            match bare {
                "json-schema.org/draft/2020-12/schema" | "json-schema.org/schema" => {
                    Draft::Draft202012
                }
                "json-schema.org/draft/2019-09/schema" => Draft::Draft201909,
                "json-schema.org/draft-07/schema" => Draft::Draft7,
                "json-schema.org/draft-06/schema" => Draft::Draft6,
                "json-schema.org/draft-04/schema" => Draft::Draft4,
                _ => {
                    return Err(format!(
                        "unsupported \"$schema\" {url:?}; use a JSON Schema draft-04, -06, -07, \
                         2019-09 or 2020-12 URL (meta-schemas are never downloaded)"
                    ))
                }
            }
        }
        Some(other) => return Err(format!("\"$schema\" is {}, not a URL", describe(other))),
    };
    let mut stripped = object.clone();
    stripped.shift_remove("$schema");
    Ok((draft, Value::Object(stripped)))
}

/// JSON type names as Helm's validator prints them (every number is "number").
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as Helm's validator quotes it: strings in single quotes, the rest as JSON.
fn quoted(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

fn quoted_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items
        .into_iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn violation_message(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::{TypeKind, ValidationErrorKind as Kind};
    let instance: &Value = error.instance();
    let got = json_type(instance);
    let size = || match instance {
        Value::String(s) => s.chars().count().to_string(),
        Value::Array(items) => items.len().to_string(),
        Value::Object(map) => map.len().to_string(),
        other => other.to_string(),
    };
    match error.kind() {
        Kind::Type { kind } => {
            let mut want: Vec<String> = match kind {
                TypeKind::Single(t) => vec![t.to_string()],
                TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
            };
            want.sort();
            format!("got {got}, want {}", want.join(" or "))
        }
        Kind::Required { property } => match property {
            Value::String(name) => format!("missing property '{name}'"),
            other => format!("missing property {other}"),
        },
        Kind::AdditionalProperties { unexpected } => format!(
            "additional properties {} not allowed",
            quoted_list(unexpected.iter().map(String::as_str))
        ),
        Kind::Minimum { limit } => format!("minimum: got {instance}, want {limit}"),
        Kind::Maximum { limit } => format!("maximum: got {instance}, want {limit}"),
        Kind::ExclusiveMinimum { limit } => {
            format!("exclusiveMinimum: got {instance}, want {limit}")
        }
        Kind::ExclusiveMaximum { limit } => {
            format!("exclusiveMaximum: got {instance}, want {limit}")
        }
        Kind::MultipleOf { multiple_of } => {
            format!("multipleOf: got {instance}, want {multiple_of}")
        }
        Kind::MinLength { limit } => format!("minLength: got {}, want {limit}", size()),
        Kind::MaxLength { limit } => format!("maxLength: got {}, want {limit}", size()),
        Kind::MinItems { limit } => format!("minItems: got {}, want {limit}", size()),
        Kind::MaxItems { limit } => format!("maxItems: got {}, want {limit}", size()),
        Kind::MinProperties { limit } => format!("minProperties: got {}, want {limit}", size()),
        Kind::MaxProperties { limit } => format!("maxProperties: got {}, want {limit}", size()),
        Kind::Pattern { pattern } => {
            format!("{} does not match pattern '{pattern}'", quoted(instance))
        }
        Kind::Enum { options } => {
            let options = match &**options {
                Value::Array(items) => items.iter().map(quoted).collect::<Vec<_>>().join(", "),
                other => quoted(other),
            };
            format!("value must be one of {options}")
        }
        Kind::Constant { expected_value } => format!("value must be {}", quoted(expected_value)),
        Kind::UniqueItems => match duplicate_items(instance) {
            Some((a, b)) => format!("items at {a} and {b} are equal"),
            None => "items are not unique".to_owned(),
        },
        Kind::Format { format } => format!("{} is not valid {format}", quoted(instance)),
        Kind::AnyOf { .. } => "'anyOf' failed".to_owned(),
        Kind::OneOfNotValid { .. } => "'oneOf' failed, none matched".to_owned(),
        Kind::OneOfMultipleValid { .. } => "'oneOf' failed, more than one matched".to_owned(),
        Kind::Not { .. } => "'not' failed".to_owned(),
        Kind::FalseSchema => "false schema".to_owned(),
        Kind::Contains => "no items match the 'contains' schema".to_owned(),
        _ => error.to_string(),
    }
}

/// The first pair of equal items in a list, for the `uniqueItems` message.
fn duplicate_items(value: &Value) -> Option<(usize, usize)> {
    let items = value.as_array()?;
    items.iter().enumerate().find_map(|(i, a)| {
        items[i + 1..]
            .iter()
            .position(|b| a == b)
            .map(|offset| (i, i + 1 + offset))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not a map: {other}"),
        }
    }

    /// Builds a chart tree from `{"name", "defaults", "schema"?, "subs"?}`.
    fn chart(spec: &Value) -> ChartValues {
        ChartValues {
            name: spec["name"].as_str().unwrap().to_owned(),
            defaults: map(spec["defaults"].clone()),
            schema: spec.get("schema").cloned(),
            subcharts: spec
                .get("subs")
                .and_then(Value::as_array)
                .map(|subs| subs.iter().map(chart).collect())
                .unwrap_or_default(),
        }
    }

    /// The parent/sub/leaf/other tree that the Helm results below were recorded with.
    const TREE: &str = r#"{"name": "p", "defaults": {
   "a": 1,
   "nested": {"x": 1, "yy": {"z": 2}, "n": null, "keep": "k"},
   "dnull": null,
   "scalarOverMap": {"m": 1},
   "mapOverScalar": 5,
   "list": [1, 2],
   "global": {"g1": "parent", "gm": {"a": 1, "deep": {"p": 1}}},
   "sub": {"s1": "fromparent", "s2": "fromparent", "global": {"gm": {"b": 2, "deep": {"q": 2}}, "g2": "subsection"}}
 },
 "subs": [
   {"name": "sub", "defaults": {"s1": "subdefault", "s2": "subdefault", "s3": "subdefault", "s4": {"x": 1, "nn": null}, "global": {"g1": "subdefault", "g3": "subdefault", "gm": {"c": 3}}},
    "subs": [{"name": "leaf", "defaults": {"z": 1, "global": {"leafdefault": 1}}}]},
   {"name": "other", "defaults": {"o": 1}}
 ]}"#;

    /// Expected results recorded from Helm v4.2.3 (`Chart.merge_values`, i.e. CoalesceValues)
    /// on a chart built from `TREE`.
    #[test]
    fn coalesces_chart_trees_like_helm() {
        let tree = chart(&serde_json::from_str(TREE).unwrap());
        let cases: &[(&str, &str)] = &[
            (
                r#"{}"#,
                r#"{"a":1,"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"list":[1,2],"mapOverScalar":5,"nested":{"keep":"k","x":1,"yy":{"z":2}},"other":{"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"o":1},"scalarOverMap":{"m":1},"sub":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}}},"leaf":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}},"leafdefault":1},"z":1},"s1":"fromparent","s2":"fromparent","s3":"subdefault","s4":{"x":1}}}"#,
            ),
            (
                r#"{"a":null,"nested":{"x":null,"n":null,"new":null,"yy":null},"dnull":null,"unknown":null}"#,
                r#"{"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"list":[1,2],"mapOverScalar":5,"nested":{"keep":"k","n":null,"new":null},"other":{"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"o":1},"scalarOverMap":{"m":1},"sub":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}}},"leaf":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}},"leafdefault":1},"z":1},"s1":"fromparent","s2":"fromparent","s3":"subdefault","s4":{"x":1}},"unknown":null}"#,
            ),
            (
                r#"{"scalarOverMap":3,"mapOverScalar":{"q":1},"list":[3]}"#,
                r#"{"a":1,"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"list":[3],"mapOverScalar":{"q":1},"nested":{"keep":"k","x":1,"yy":{"z":2}},"other":{"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"o":1},"scalarOverMap":3,"sub":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}}},"leaf":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}},"leafdefault":1},"z":1},"s1":"fromparent","s2":"fromparent","s3":"subdefault","s4":{"x":1}}}"#,
            ),
            (
                r#"{"nested":{"yy":{"z":null,"w":{"v":null}}},"brandnew":{"p":null}}"#,
                r#"{"a":1,"brandnew":{"p":null},"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"list":[1,2],"mapOverScalar":5,"nested":{"keep":"k","x":1,"yy":{"w":{"v":null}}},"other":{"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"o":1},"scalarOverMap":{"m":1},"sub":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}}},"leaf":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}},"leafdefault":1},"z":1},"s1":"fromparent","s2":"fromparent","s3":"subdefault","s4":{"x":1}}}"#,
            ),
            (
                r#"{"sub":{"s1":null,"s3":null,"s4":null,"s5":null}}"#,
                r#"{"a":1,"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"list":[1,2],"mapOverScalar":5,"nested":{"keep":"k","x":1,"yy":{"z":2}},"other":{"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"o":1},"scalarOverMap":{"m":1},"sub":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}}},"leaf":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}},"leafdefault":1},"z":1},"s2":"fromparent","s5":null}}"#,
            ),
            (
                r#"{"sub":{"s4":{"x":null,"y":2}}}"#,
                r#"{"a":1,"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"list":[1,2],"mapOverScalar":5,"nested":{"keep":"k","x":1,"yy":{"z":2}},"other":{"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"o":1},"scalarOverMap":{"m":1},"sub":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}}},"leaf":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}},"leafdefault":1},"z":1},"s1":"fromparent","s2":"fromparent","s3":"subdefault","s4":{"y":2}}}"#,
            ),
            (
                r#"{"sub":null}"#,
                r#"{"a":1,"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1}}},"list":[1,2],"mapOverScalar":5,"nested":{"keep":"k","x":1,"yy":{"z":2}},"other":{"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1}}},"o":1},"scalarOverMap":{"m":1},"sub":{"global":{"g1":"parent","g3":"subdefault","gm":{"a":1,"c":3,"deep":{"p":1}}},"leaf":{"global":{"g1":"parent","g3":"subdefault","gm":{"a":1,"c":3,"deep":{"p":1}},"leafdefault":1},"z":1},"s1":"subdefault","s2":"subdefault","s3":"subdefault","s4":{"x":1}}}"#,
            ),
            (
                r#"{"global":{"g1":"user","gm":{"a":null}}}"#,
                r#"{"a":1,"global":{"g1":"user","gm":{"deep":{"p":1,"q":2}}},"list":[1,2],"mapOverScalar":5,"nested":{"keep":"k","x":1,"yy":{"z":2}},"other":{"global":{"g1":"user","gm":{"deep":{"p":1,"q":2}}},"o":1},"scalarOverMap":{"m":1},"sub":{"global":{"g1":"user","g2":"subsection","g3":"subdefault","gm":{"b":2,"c":3,"deep":{"p":1,"q":2}}},"leaf":{"global":{"g1":"user","g2":"subsection","g3":"subdefault","gm":{"b":2,"c":3,"deep":{"p":1,"q":2}},"leafdefault":1},"z":1},"s1":"fromparent","s2":"fromparent","s3":"subdefault","s4":{"x":1}}}"#,
            ),
            (
                r#"{"global":{"g3":"user"},"sub":{"global":{"g3":"section"}}}"#,
                r#"{"a":1,"global":{"g1":"parent","g3":"user","gm":{"a":1,"deep":{"p":1,"q":2}}},"list":[1,2],"mapOverScalar":5,"nested":{"keep":"k","x":1,"yy":{"z":2}},"other":{"global":{"g1":"parent","g3":"user","gm":{"a":1,"deep":{"p":1,"q":2}}},"o":1},"scalarOverMap":{"m":1},"sub":{"global":{"g1":"parent","g2":"subsection","g3":"user","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}}},"leaf":{"global":{"g1":"parent","g2":"subsection","g3":"user","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}},"leafdefault":1},"z":1},"s1":"fromparent","s2":"fromparent","s3":"subdefault","s4":{"x":1}}}"#,
            ),
            (
                r#"{"nested":"str"}"#,
                r#"{"a":1,"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"list":[1,2],"mapOverScalar":5,"nested":"str","other":{"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"o":1},"scalarOverMap":{"m":1},"sub":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}}},"leaf":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}},"leafdefault":1},"z":1},"s1":"fromparent","s2":"fromparent","s3":"subdefault","s4":{"x":1}}}"#,
            ),
            (
                r#"{"nested":{"keep":{"m":1}}}"#,
                r#"{"a":1,"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"list":[1,2],"mapOverScalar":5,"nested":{"keep":{"m":1},"x":1,"yy":{"z":2}},"other":{"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"o":1},"scalarOverMap":{"m":1},"sub":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}}},"leaf":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}},"leafdefault":1},"z":1},"s1":"fromparent","s2":"fromparent","s3":"subdefault","s4":{"x":1}}}"#,
            ),
            (
                r#"{"sub":{"leaf":{"z":null,"extra":null,"global":{"leafdefault":2}}}}"#,
                r#"{"a":1,"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"list":[1,2],"mapOverScalar":5,"nested":{"keep":"k","x":1,"yy":{"z":2}},"other":{"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1,"q":2}}},"o":1},"scalarOverMap":{"m":1},"sub":{"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}}},"leaf":{"extra":null,"global":{"g1":"parent","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}},"leafdefault":2}},"s1":"fromparent","s2":"fromparent","s3":"subdefault","s4":{"x":1}}}"#,
            ),
            (
                r#"{"global":5}"#,
                r#"{"a":1,"global":5,"list":[1,2],"mapOverScalar":5,"nested":{"keep":"k","x":1,"yy":{"z":2}},"other":{"o":1},"scalarOverMap":{"m":1},"sub":{"global":{"g1":"subdefault","g2":"subsection","g3":"subdefault","gm":{"b":2,"c":3,"deep":{"q":2}}},"leaf":{"global":{"g1":"subdefault","g2":"subsection","g3":"subdefault","gm":{"b":2,"c":3,"deep":{"q":2}},"leafdefault":1},"z":1},"s1":"fromparent","s2":"fromparent","s3":"subdefault","s4":{"x":1}}}"#,
            ),
            (
                r#"{"sub":{"global":5}}"#,
                r#"{"a":1,"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1}}},"list":[1,2],"mapOverScalar":5,"nested":{"keep":"k","x":1,"yy":{"z":2}},"other":{"global":{"g1":"parent","gm":{"a":1,"deep":{"p":1}}},"o":1},"scalarOverMap":{"m":1},"sub":{"global":5,"leaf":{"global":{"leafdefault":1},"z":1},"s1":"fromparent","s2":"fromparent","s3":"subdefault","s4":{"x":1}}}"#,
            ),
            (
                r#"{"other":{"global":{"g1":"mine"}},"global":{"g1":"top"}}"#,
                r#"{"a":1,"global":{"g1":"top","gm":{"a":1,"deep":{"p":1,"q":2}}},"list":[1,2],"mapOverScalar":5,"nested":{"keep":"k","x":1,"yy":{"z":2}},"other":{"global":{"g1":"top","gm":{"a":1,"deep":{"p":1,"q":2}}},"o":1},"scalarOverMap":{"m":1},"sub":{"global":{"g1":"top","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}}},"leaf":{"global":{"g1":"top","g2":"subsection","g3":"subdefault","gm":{"a":1,"b":2,"c":3,"deep":{"p":1,"q":2}},"leafdefault":1},"z":1},"s1":"fromparent","s2":"fromparent","s3":"subdefault","s4":{"x":1}}}"#,
            ),
        ];
        for (user, expected) in cases {
            let user = map(serde_json::from_str(user).unwrap());
            let got = coalesce_chart(&tree, &user).unwrap_or_else(|e| panic!("{user:?}: {e}"));
            let expected: Value = serde_json::from_str(expected).unwrap();
            assert_eq!(Value::Object(got.values), expected, "user values {user:?}");
        }
    }

    /// Recorded from Helm v4.2.3: maps two levels under `global` are shared by the whole tree.
    #[test]
    fn nested_globals_are_shared_across_the_tree_like_helm() {
        let tree = chart(&json!({
            "name": "p",
            "defaults": {"global": {"a": {"b": {"x": 1}, "c": {"p": 1}}, "top": 1}, "s1": {"global": {"a": {"c": {"fromp": 1}}}}},
            "subs": [
                {"name": "s1", "defaults": {"v": 1, "global": {"a": {"b": {"y": 2}, "d": {"q": 1}}, "s": 1}},
                 "subs": [{"name": "leaf", "defaults": {"global": {"a": {"b": {"z": 3}, "c": {"w": 1}, "d": {"e": {"f": 1}}}}}}]},
                {"name": "s2", "defaults": {"global": {"a": {"c": {"r": 2}}}}}
            ]
        }));
        let got = coalesce_chart(&tree, &Map::new()).unwrap();
        let shared =
            json!({"b": {"x": 1, "y": 2, "z": 3}, "c": {"p": 1, "fromp": 1, "w": 1, "r": 2}});
        let s1_shared = json!({"b": {"x": 1, "y": 2, "z": 3}, "c": {"p": 1, "fromp": 1, "w": 1, "r": 2}, "d": {"q": 1, "e": {"f": 1}}});
        assert_eq!(
            Value::Object(got.values),
            json!({
                "global": {"a": shared, "top": 1},
                "s1": {"v": 1, "global": {"a": s1_shared, "s": 1, "top": 1},
                       "leaf": {"global": {"a": s1_shared, "s": 1, "top": 1}}},
                "s2": {"global": {"a": shared, "top": 1}},
            })
        );
    }

    #[test]
    fn subchart_section_that_is_not_a_map_is_an_error() {
        let tree = chart(&serde_json::from_str(TREE).unwrap());
        let err = coalesce_chart(&tree, &map(json!({"sub": 5}))).unwrap_err();
        assert!(
            matches!(err, ValuesError::SubchartValuesNotMap { ref subchart, found: "a number" } if subchart == "sub"),
            "{err:?}"
        );
        assert!(err.to_string().contains("--set sub.key=value"), "{err}");
    }

    #[test]
    fn type_conflicts_keep_the_user_value_and_warn() {
        let tree = chart(&serde_json::from_str(TREE).unwrap());
        let user = map(
            json!({"scalarOverMap": 3, "mapOverScalar": {"q": 1}, "nested": {"keep": {"m": 1}}}),
        );
        let got = coalesce_chart(&tree, &user).unwrap();
        assert_eq!(got.values["scalarOverMap"], json!(3));
        assert_eq!(got.values["mapOverScalar"], json!({"q": 1}));
        assert_eq!(got.values["nested"]["keep"], json!({"m": 1}));
        assert_eq!(
            got.warnings,
            [
                "p.nested.keep: the map given replaces the default \"k\"",
                "p.scalarOverMap: the value 3 replaces the chart's default map",
                "p.mapOverScalar: the map given replaces the chart default 5",
            ]
        );
        let quiet = coalesce_chart(&tree, &Map::new()).unwrap();
        assert_eq!(quiet.warnings, Vec::<String>::new());
    }

    #[test]
    fn coalesce_values_merges_maps_and_deletes_with_null() {
        let defaults = map(json!({
            "image": {"repository": "nginx", "tag": "1.0", "pullPolicy": "IfNotPresent"},
            "replicas": 1,
            "resources": {"limits": {"cpu": "1"}},
            "ports": [80],
        }));
        let user = map(json!({
            "image": {"tag": "2.0", "pullPolicy": null},
            "resources": {"limits": null},
            "replicas": null,
            "ports": [8080, 8443],
            "extra": {"enabled": true},
        }));
        let got = coalesce_values(&defaults, &user);
        assert_eq!(
            Value::Object(got.values),
            json!({
                "image": {"tag": "2.0", "repository": "nginx"},
                "resources": {},
                "ports": [8080, 8443],
                "extra": {"enabled": true},
            })
        );
        assert!(got.warnings.is_empty());
        // The inputs are untouched.
        assert_eq!(defaults["replicas"], json!(1));
        assert_eq!(user["replicas"], Value::Null);
    }

    #[test]
    fn coalesce_for_chart_gives_a_subchart_its_section_and_globals() {
        let parent = map(json!({
            "global": {"domain": "example.test", "labels": {"team": "a"}},
            "db": {"port": 5433, "auth": {"user": null}, "global": {"domain": "ignored", "region": "eu"}},
        }));
        let sub_defaults = map(json!({
            "port": 5432,
            "auth": {"user": "postgres", "password": "pw"},
            "global": {"labels": {"tier": "db"}, "region": "us"},
        }));
        let got = coalesce_for_chart(&parent, "db", &sub_defaults).unwrap();
        assert_eq!(
            Value::Object(got.values),
            json!({
                "port": 5433,
                "auth": {"password": "pw"},
                "global": {
                    "domain": "example.test",
                    "region": "eu",
                    "labels": {"team": "a", "tier": "db"},
                },
            })
        );
        let absent = coalesce_for_chart(&Map::new(), "db", &sub_defaults).unwrap();
        assert_eq!(absent.values["port"], json!(5432));
        assert_eq!(
            absent.values["global"],
            json!({"labels": {"tier": "db"}, "region": "us"})
        );
        let err = coalesce_for_chart(&map(json!({"db": "x"})), "db", &sub_defaults).unwrap_err();
        assert!(
            matches!(err, ValuesError::SubchartValuesNotMap { .. }),
            "{err:?}"
        );
    }

    fn fake_files(path: &str) -> std::io::Result<Vec<u8>> {
        let text = match path {
            "base.yaml" => "image:\n  tag: base\n  repo: r\nlist: [1, 2]\nname: base\n",
            "prod.yaml" => "image:\n  tag: prod\nlist: [3]\n",
            "empty.yaml" => "",
            "comments.yaml" => "# nothing here\n",
            "multi.yaml" => "a: 1\nb: {c: 1}\n---\nb: {d: 2}\n---\n",
            "list.yaml" => "- a\n- b\n",
            "broken.yaml" => "a: [1\n",
            "ca.pem" => "PEM",
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file",
                ))
            }
        };
        Ok(text.as_bytes().to_vec())
    }

    #[test]
    fn layers_apply_files_in_order_then_set_kinds_in_helms_order() {
        let layers = ValueLayers::new()
            .values_file("base.yaml")
            .values_file("prod.yaml")
            .set(SetKind::SetLiteral, "lit=a,b")
            .set(SetKind::Set, "name=set,n=1")
            .set(SetKind::SetFile, "cert=ca.pem")
            .set(SetKind::SetJson, r#"name="json",order=["json"]"#)
            .set(SetKind::SetString, "n=1,name=string")
            .set(SetKind::Set, "name=set-again,image.tag=cli");
        let got = layers.user_values(&fake_files).unwrap();
        assert_eq!(
            Value::Object(got),
            json!({
                "image": {"tag": "cli", "repo": "r"},
                "list": [3],
                // --set-json runs first, so the later kinds overwrite it whatever the
                // command-line order; --set-string runs after every --set.
                "name": "string",
                "order": ["json"],
                "n": "1",
                "cert": "PEM",
                "lit": "a,b",
            })
        );
    }

    #[test]
    fn layers_read_empty_and_multi_document_files() {
        let got = ValueLayers::new()
            .values_file("empty.yaml")
            .values_file("comments.yaml")
            .values_file("multi.yaml")
            .user_values(&fake_files)
            .unwrap();
        assert_eq!(Value::Object(got), json!({"a": 1, "b": {"c": 1, "d": 2}}));
        assert!(ValueLayers::new()
            .user_values(&fake_files)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn layer_errors_name_the_file_or_flag() {
        let cases = [
            (
                ValueLayers::new().values_file("list.yaml"),
                r#"values file "list.yaml" is not usable: document 1 is a list"#,
            ),
            (
                ValueLayers::new().values_file("broken.yaml"),
                r#"values file "broken.yaml" is not usable"#,
            ),
            (
                ValueLayers::new().values_file("nope.yaml"),
                r#"cannot read values file "nope.yaml": no such file"#,
            ),
            (
                ValueLayers::new().set(SetKind::Set, "a[x]=1"),
                r#"--set "a[x]=1": invalid list index "x""#,
            ),
            (
                ValueLayers::new().set(SetKind::SetFile, "a=nope.pem"),
                r#"--set-file "a=nope.pem": cannot read "nope.pem""#,
            ),
        ];
        for (layers, needle) in cases {
            let err = layers.user_values(&fake_files).unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} lacks {needle:?}");
        }
    }

    #[test]
    fn resolve_coalesces_layers_over_the_chart() {
        let tree = ChartValues {
            subcharts: vec![ChartValues::new("db", map(json!({"port": 5432})))],
            ..ChartValues::new("app", map(json!({"image": {"tag": "1", "repo": "r"}})))
        };
        let got = ValueLayers::new()
            .values_file("prod.yaml")
            .set(SetKind::Set, "db.port=6432,image.repo=null")
            .resolve(&tree, &fake_files)
            .unwrap();
        assert_eq!(
            Value::Object(got.values),
            json!({"image": {"tag": "prod"}, "list": [3], "db": {"port": 6432, "global": {}}})
        );
    }

    /// Numbers compare by value: Helm turns every YAML number into float64.
    fn normalise(value: &Value) -> Value {
        match value {
            Value::Number(n) => json!(n.as_f64()),
            Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), normalise(v))).collect())
            }
            other => other.clone(),
        }
    }

    /// Expected results recorded from Helm v4.2.3 (`helm_python.values_from_yaml`); `None`
    /// means Helm refuses the document.
    #[test]
    fn values_yaml_resolves_scalars_like_helm() {
        let cases: &[(&str, Option<&str>)] = &[
            ("a: yes\nb: on\nc: y\nd: NO\ne: off\nf: n\ng: True\nh: FALSE", Some(r#"{"a":true,"b":true,"c":true,"d":false,"e":false,"f":false,"g":true,"h":false}"#)),
            ("y: 1\nn: 2\non: 3\nyes: 4", Some(r#"{"false":2,"true":4}"#)),
            ("mode: 0644\nb: 0o17\nc: 1_000\nd: 0x1F\ne: 0b101\nf: -0b11\ng: 08\nh: 0\ni: -017\nj: +12", Some(r#"{"b":15,"c":1000,"d":31,"e":5,"f":-3,"g":8,"h":0,"i":-15,"j":12,"mode":420}"#)),
            ("e: 1e3\nf: 1.0\ng: 12345678901234567890\nh: -0\ni: .5\nj: 1.\nk: 6.02e+23\nl: -1_0.5", Some(r#"{"e":1000,"f":1,"g":12345678901234567000,"h":0,"i":0.5,"j":1,"k":6.02e+23,"l":-10.5}"#)),
            ("a: \"yes\"\nb: 'on'\nc: \"0644\"\nd: |\n  yes\ne: >\n  1\n", Some(r#"{"a":"yes","b":"on","c":"0644","d":"yes\n","e":"1\n"}"#)),
            ("a: !!str 5\nb: !!binary aGVsbG8=\nc: !!int \"5\"\nd: !!bool \"yes\"\ne: !!float \"1\"\nf: !custom 5\ng: !!null ''", Some(r#"{"a":"5","b":"hello","c":5,"d":true,"e":1,"f":"5","g":null}"#)),
            ("a: &x {b: 1}\nc: *x\nd:\n  <<: *x\n  e: 2", Some(r#"{"a":{"b":1},"c":{"b":1},"d":{"b":1,"e":2}}"#)),
            ("d:\n  e: 2\n  <<: {e: 1, f: 1}", Some(r#"{"d":{"e":1,"f":1}}"#)),
            ("d:\n  <<: [{e: 1}, {e: 2, f: 2}]\n  g: 3", Some(r#"{"d":{"e":1,"f":2,"g":3}}"#)),
            ("\"<<\": {a: 1}", Some(r#"{"<<":{"a":1}}"#)),
            ("1: a\ntrue: b\n1.5: c\n0x10: d\nnull_: e", Some(r#"{"1":"a","1.5":"c","16":"d","null_":"e","true":"b"}"#)),
            ("a: 1\na: 2", Some(r#"{"a":2}"#)),
            ("a:\n  - 1\n  - b: ~\n  - [x, NULL, Null, '']\n", Some(r#"{"a":[1,{"b":null},["x",null,null,""]]}"#)),
            ("~: c", None), // error converting YAML to JSON: unsupported map key of type: %!s(<nil>), key: <nil>, value: "c"
            ("a: .inf", None), // error converting YAML to JSON: json: unsupported value: +Inf
            ("a: .NaN", None), // error converting YAML to JSON: json: unsupported value: NaN
            ("- a", None), // error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type common.Values
            ("foo", None), // error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go value of type common.Values
            ("? [x]\n: 2", None), // error converting YAML to JSON: yaml: invalid map key: []interface {}{"x"}
            ("", Some(r#"{}"#)),
            ("~", Some(r#"{}"#)),
            ("d: 2001-12-14\nt: 2001-12-14T21:59:43.10-05:00\nv: 1.2.3\nw: 1:30\nz: .\nq: 0x\nr: 1e\ns: 99999999999999999999999\nu: 18446744073709551615\nm: -9223372036854775809\nx: +\nk: 0_7\no: 0o\np: 1__0", Some(r#"{"d":"2001-12-14","k":7,"m":-9223372036854776000,"o":"0o","p":10,"q":"0x","r":"1e","s":1e+23,"t":"2001-12-14T21:59:43.10-05:00","u":18446744073709552000,"v":"1.2.3","w":"1:30","x":"+","z":"."}"#)),
            ("n: -0.0\nq: 1e400\nr: 0x_1F", Some(r#"{"false":0,"q":"1e400","r":31}"#)),
        ];
        for (text, expected) in cases {
            let got = parse_values_yaml(text);
            match expected {
                Some(expected) => {
                    let got = got.unwrap_or_else(|e| panic!("{text:?}: {e}"));
                    let expected: Value = serde_json::from_str(expected).unwrap();
                    assert_eq!(
                        normalise(&Value::Object(got)),
                        normalise(&expected),
                        "{text:?}"
                    );
                }
                None => assert!(got.is_err(), "{text:?} should be refused, got {got:?}"),
            }
        }
        // Integers stay integers (no float64 round trip), so large ones keep every digit.
        let exact = parse_values_yaml("mode: 0644\nbig: 18446744073709551615\n").unwrap();
        assert_eq!(
            Value::Object(exact),
            json!({"mode": 420, "big": 18446744073709551615u64})
        );
    }

    #[test]
    fn values_yaml_merges_documents_and_names_the_bad_one() {
        let got = parse_values_yaml("a: 1\nb: {c: 1}\n---\nb: {d: 2}\n---\n...\n").unwrap();
        assert_eq!(Value::Object(got), json!({"a": 1, "b": {"c": 1, "d": 2}}));
        let err = parse_values_yaml("a: 1\n---\n- x\n").unwrap_err();
        assert_eq!(err, "document 2 is a list, not a map of values");
        let err = parse_values_yaml("a: [1\n").unwrap_err();
        assert!(err.contains("line"), "{err}");
        let err = parse_values_yaml("a: *nope\n").unwrap_err();
        assert!(err.contains("anchor"), "{err}");
    }

    /// The schema of the chart whose messages were recorded from Helm v4.2.3.
    fn c1_schema() -> Value {
        json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "required": ["image"],
            "properties": {
                "replicaCount": {"type": "integer", "minimum": 1, "maximum": 5},
                "name": {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]+$"},
                "mode": {"enum": ["a", "b"]},
                "c": {"const": 3},
                "tags": {"type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": true, "items": {"type": "string"}},
                "ports": {"type": "array", "items": {"type": "object", "properties": {"port": {"type": "integer"}}, "required": ["port"]}},
                "strict": {"type": "object", "additionalProperties": false, "properties": {"a": {}}},
                "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "any": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "multi": {"type": ["string", "null"]},
                "ratio": {"type": "number", "exclusiveMaximum": 1, "multipleOf": 0.25},
                "no": {"not": {"type": "string"}},
                "email": {"type": "string", "format": "email"},
                "obj": {"type": "object", "minProperties": 1, "maxProperties": 1},
                "components": {"type": "object", "properties": {"backend": {"type": "object", "properties": {"port": {"type": "integer"}}}}}
            }
        })
    }

    #[test]
    fn schema_violations_are_listed_with_paths_in_helms_words() {
        let cases = [
            (json!({"image": "x", "replicaCount": 3}), vec![]),
            (
                json!({"replicaCount": "3"}),
                vec![
                    "- at '': missing property 'image'",
                    "- at '/replicaCount': got string, want integer",
                ],
            ),
            (
                json!({"image": 1, "replicaCount": 0, "name": "ABCDEFG", "mode": "z", "c": 4}),
                vec![
                    "- at '/replicaCount': minimum: got 0, want 1",
                    "- at '/name': maxLength: got 7, want 4",
                    "- at '/name': 'ABCDEFG' does not match pattern '^[a-z]+$'",
                    "- at '/mode': value must be one of 'a', 'b'",
                    "- at '/c': value must be 3",
                ],
            ),
            (
                json!({"image": 1, "tags": [], "ports": [{"port": "80"}, {}], "strict": {"a": 1, "b": 2, "c": 3}}),
                vec![
                    "- at '/tags': minItems: got 0, want 1",
                    "- at '/ports/0/port': got string, want integer",
                    "- at '/ports/1': missing property 'port'",
                    "- at '/strict': additional properties 'b', 'c' not allowed",
                ],
            ),
            (
                json!({"image": 1, "tags": ["a", "a", "b"], "either": true, "any": true, "multi": 5,
                    "ratio": 1.1, "no": "x", "email": "nope", "obj": {}}),
                vec![
                    "- at '/obj': minProperties: got 0, want 1",
                    "- at '/any': 'anyOf' failed",
                    "- at '/ratio': exclusiveMaximum: got 1.1, want 1",
                    "- at '/ratio': multipleOf: got 1.1, want 0.25",
                    "- at '/either': 'oneOf' failed, none matched",
                    "- at '/multi': got number, want null or string",
                    "- at '/no': 'not' failed",
                    "- at '/tags': maxItems: got 3, want 2",
                    "- at '/tags': items at 0 and 1 are equal",
                    "- at '/email': 'nope' is not valid email",
                ],
            ),
            (
                json!({"image": 1, "components": {"backend": {"port": "80"}}, "ratio": 0.3, "tags": [1], "name": "a"}),
                vec![
                    "- at '/ratio': multipleOf: got 0.3, want 0.25",
                    "- at '/tags/0': got number, want string",
                    "- at '/name': minLength: got 1, want 2",
                    "- at '/components/backend/port': got string, want integer",
                ],
            ),
        ];
        let schema = c1_schema();
        for (values, expected) in cases {
            let result = validate_against_schema(&schema, &values);
            if expected.is_empty() {
                assert!(result.is_ok(), "{values}: {result:?}");
                continue;
            }
            let err = result.expect_err("values break the schema");
            let ValuesError::SchemaViolations { charts } = &err else {
                panic!("{err:?}")
            };
            let mut got: Vec<String> = charts[0]
                .violations
                .iter()
                .map(ToString::to_string)
                .collect();
            let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{values}");
            let text = err.to_string();
            assert!(
                text.starts_with("values don't meet the schema:\n- at '"),
                "{text}"
            );
            assert!(
                text.ends_with("or the chart's values.schema.json"),
                "{text}"
            );
        }
    }

    #[test]
    fn schema_draft_follows_dollar_schema_like_helm() {
        let email = |dollar_schema: Option<&str>| {
            let mut schema =
                json!({"properties": {"e": {"format": "email"}, "i": {"type": "integer"}}});
            if let Some(url) = dollar_schema {
                schema["$schema"] = json!(url);
            }
            schema
        };
        let values = json!({"e": "nope", "i": 1.0});
        // No $schema means 2020-12, where `format` only annotates; 1.0 is an integer.
        assert!(validate_against_schema(&email(None), &values).is_ok());
        assert!(validate_against_schema(
            &email(Some("https://json-schema.org/draft/2020-12/schema")),
            &values
        )
        .is_ok());
        for draft7 in [
            "http://json-schema.org/draft-07/schema#",
            "https://json-schema.org/draft-07/schema",
        ] {
            let err = validate_against_schema(&email(Some(draft7)), &values).unwrap_err();
            assert!(
                err.to_string()
                    .contains("- at '/e': 'nope' is not valid email"),
                "{err}"
            );
        }
        let err = validate_against_schema(&email(Some("http://example.com/custom")), &values)
            .unwrap_err();
        assert!(matches!(err, ValuesError::InvalidSchema { .. }), "{err:?}");
        assert!(err.to_string().contains("unsupported \"$schema\""), "{err}");
        let bad = json!({"properties": {"e": {"type": "strin"}}});
        assert!(matches!(
            validate_against_schema(&bad, &values),
            Err(ValuesError::InvalidSchema { .. })
        ));
        let refs = json!({"$defs": {"p": {"type": "integer"}}, "properties": {"e": {"$ref": "#/$defs/p"}}});
        let err = validate_against_schema(&refs, &values).unwrap_err();
        assert!(
            err.to_string()
                .contains("- at '/e': got string, want integer"),
            "{err}"
        );
    }

    #[test]
    fn chart_schemas_apply_to_their_own_sections() {
        let tree = ChartValues {
            schema: Some(json!({"required": ["name"]})),
            subcharts: vec![
                ChartValues {
                    schema: Some(json!({"properties": {"port": {"type": "integer"}}})),
                    ..ChartValues::new("db", Map::new())
                },
                ChartValues {
                    schema: Some(json!({"required": ["x"]})),
                    ..ChartValues::new("absent", Map::new())
                },
                ChartValues {
                    schema: Some(json!({"type": "object"})),
                    ..ChartValues::new("odd", Map::new())
                },
            ],
            ..ChartValues::new("app", Map::new())
        };
        let values = map(json!({"db": {"port": "5432"}, "odd": 7}));
        let err = validate_chart_values(&tree, &values).unwrap_err();
        assert_eq!(
            err.to_string(),
            "values don't meet the specifications of the schema(s) in the following chart(s):\n\
             app:\n- at '': missing property 'name'\n\
             db:\n- at '/port': got string, want integer\n\
             odd:\n- at '': got number, want object\n\
             fix the values (values.yaml, -f files or --set flags) or the chart's values.schema.json"
        );
        let fine = map(json!({"name": "x", "db": {"port": 5432}}));
        assert!(validate_chart_values(&tree, &fine).is_ok());
    }

    /// `levels` levels of nine-fold aliases: 9^(levels+1) scalars once expanded.
    fn alias_bomb(levels: usize) -> String {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..=levels {
            let items = vec![format!("*a{}", i - 1); 9].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        text
    }

    #[test]
    fn values_yaml_refuses_alias_bombs_and_deep_nesting_by_name() {
        // Runs on the default 2 MiB test thread, so unbounded recursion would show.
        let err = parse_values_yaml(&alias_bomb(10)).unwrap_err();
        assert!(
            err.contains("aliases") && err.contains("5000000 nodes"),
            "{err}"
        );
        let flow = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let err = parse_values_yaml(&flow).unwrap_err();
        assert!(err.contains("deeper than the limit of 128"), "{err}");
        let block: String = (0..5000)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect();
        let err = parse_values_yaml(&block).unwrap_err();
        assert!(err.contains("deeper than the limit of 128"), "{err}");
        // Aliases used as Helm users do still expand.
        let ok = parse_values_yaml("base: &b {cpu: 1}\nweb: *b\napi: {<<: *b, mem: 2}\n").unwrap();
        assert_eq!(ok["web"], json!({"cpu": 1}));
        assert_eq!(ok["api"], json!({"cpu": 1, "mem": 2}));
    }

    #[test]
    fn values_files_that_are_fifos_devices_or_too_big_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = crate::input::test_files::fifo(&dir.path().join("pipe"));
        let sparse = dir.path().join("big.yaml");
        std::fs::File::create(&sparse)
            .unwrap()
            .set_len(200 << 20)
            .unwrap();
        for (path, why) in [
            (fifo.display().to_string(), "FIFO"),
            ("/dev/zero".to_string(), "character device"),
            ("/dev/null".to_string(), "character device"),
            (
                sparse.display().to_string(),
                "over the limit of 16777216 bytes",
            ),
        ] {
            let err = ValueLayers::new()
                .values_file(path.clone())
                .user_values(&LocalFiles)
                .unwrap_err();
            assert!(
                matches!(err, ValuesError::ValuesFileRefused { .. }),
                "{err}"
            );
            let message = err.to_string();
            assert!(
                message.contains(why) && message.contains(&path),
                "{message}"
            );
        }
    }
}
