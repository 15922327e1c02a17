//! The in-memory object store: objects by (group, plural, namespace, name), a global
//! resourceVersion counter, the change history watches replay from, and the write paths
//! (create, update, server-side apply, patches, delete with propagation) with the checks and
//! defaulting the real API server does on them.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use super::errors::{self, ApiError, Cause};
use super::quota;
use super::resources::{self, ResourceType};

/// Where an object lives. `namespace` is empty for cluster-scoped objects.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
}

/// Watch event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// One recorded change (what a watch replays).
#[derive(Clone, Debug)]
pub struct Change {
    pub rv: u64,
    pub kind: ChangeType,
    pub key: Key,
    pub object: Value,
    /// The version before this change (None for ADDED).
    pub prev: Option<Value>,
}

/// How a delete treats dependents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

impl Propagation {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Background" => Some(Propagation::Background),
            "Foreground" => Some(Propagation::Foreground),
            "Orphan" => Some(Propagation::Orphan),
            _ => None,
        }
    }
}

/// The identity of a writer: field manager and whether it is a server-side apply.
#[derive(Clone, Debug)]
pub struct Writer {
    pub manager: String,
    pub apply: bool,
    pub subresource: Option<String>,
    /// Server-side apply with `force=true`: take fields other managers own.
    pub force: bool,
    /// The applied configuration (server-side apply): its fields become this manager's.
    pub applied: Option<Value>,
}

impl Writer {
    pub fn update(manager: &str) -> Self {
        Writer {
            manager: manager.into(),
            apply: false,
            subresource: None,
            force: false,
            applied: None,
        }
    }
}

/// The store proper.
#[derive(Clone, Default)]
pub struct Store {
    pub rv: u64,
    pub objects: BTreeMap<Key, Value>,
    pub history: Vec<Change>,
    /// Changes at or below this resourceVersion are gone (watches from there get 410).
    pub compacted: u64,
    /// Last configuration applied by each field manager, by (uid, manager).
    pub applied: HashMap<(String, String), Value>,
    /// Field ownership by uid: SSA path -> (fieldsV1 segments, manager).
    pub owners: HashMap<String, BTreeMap<String, (Vec<String>, String)>>,
    pub metrics_api: bool,
    /// Deleted pods stay Terminating until the controller removes them (Scenario::pod_termination).
    pub pod_grace: bool,
    uid_counter: u64,
    ip_counter: u32,
    node_port_counter: u32,
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Name of a key as RFC 1123 subdomain check (what most kinds require).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

impl Store {
    pub fn new() -> Self {
        let mut s = Store::default();
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let rt = s.type_for("", "namespaces").unwrap();
            s.create(
                &rt,
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                &Writer::update("fake-bootstrap"),
            )
            .unwrap();
        }
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "fake-node", "labels": {"kubernetes.io/hostname": "fake-node", "kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""}},
            "spec": {"podCIDR": "10.244.0.0/24"},
            "status": {
                "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
                "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": "fake-node"}],
                "nodeInfo": {"kubeletVersion": "v1.33.1", "containerRuntimeVersion": "containerd://1.7", "osImage": "fake", "architecture": "amd64", "operatingSystem": "linux"}
            }
        });
        let rt = s.type_for("", "nodes").unwrap();
        s.create(&rt, "", node, &Writer::update("fake-bootstrap"))
            .unwrap();
        s
    }

    /// Every served type: built-ins plus the custom resources of the CRDs in the store.
    pub fn types(&self) -> Vec<ResourceType> {
        let mut v = resources::builtin_types(self.metrics_api);
        for (k, crd) in &self.objects {
            if k.group == "apiextensions.k8s.io" && k.plural == "customresourcedefinitions" {
                v.extend(resources::types_from_crd(crd));
            }
        }
        v
    }

    /// The served type at group/version/plural.
    pub fn type_at(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.types()
            .into_iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// A served type by group and plural (any version; the preferred one first).
    pub fn type_for(&self, group: &str, plural: &str) -> Option<ResourceType> {
        self.types()
            .into_iter()
            .find(|t| t.group == group && t.plural == plural)
    }

    /// A served type by apiVersion and kind.
    pub fn type_by_kind(&self, api_version: &str, kind: &str) -> Option<ResourceType> {
        self.types()
            .into_iter()
            .find(|t| t.api_version() == api_version && t.kind == kind)
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        let n = self.uid_counter;
        format!("{:08x}-fa4e-4a11-8000-{:012x}", n as u32 ^ 0x5eed_0000, n)
    }

    pub fn key(rt: &ResourceType, ns: &str, name: &str) -> Key {
        Key {
            group: rt.group.clone(),
            plural: rt.plural.clone(),
            namespace: if rt.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&Self::key(rt, ns, name))
    }

    /// The object as served at `rt`'s version (apiVersion/kind filled in).
    pub fn serve(rt: &ResourceType, obj: &Value) -> Value {
        let mut o = obj.clone();
        o["apiVersion"] = json!(rt.api_version());
        o["kind"] = json!(rt.kind);
        o
    }

    /// Objects of a type, in (namespace, name) order; `ns` empty = all namespaces.
    pub fn list(&self, rt: &ResourceType, ns: &str) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(k, _)| {
                k.group == rt.group && k.plural == rt.plural && (ns.is_empty() || k.namespace == ns)
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Records a change and stores (or removes) the object.
    fn commit(&mut self, key: Key, mut obj: Value, kind: ChangeType) -> Value {
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let prev = if kind == ChangeType::Deleted {
            self.objects.remove(&key)
        } else {
            self.objects.insert(key.clone(), obj.clone())
        };
        self.history.push(Change {
            rv,
            kind,
            key,
            object: obj.clone(),
            prev,
        });
        obj
    }

    fn namespace_check(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<(), ApiError> {
        if !rt.namespaced {
            return Ok(());
        }
        let nsrt = self.type_for("", "namespaces").unwrap();
        match self.get(&nsrt, "", ns) {
            None => Err(errors::namespace_not_found(ns)),
            Some(n) if n["status"]["phase"] == "Terminating" => {
                Err(errors::namespace_terminating(rt, name, ns))
            }
            Some(_) => Ok(()),
        }
    }

    /// Moves field ownership for a write: an update owns what it changed, an apply owns every
    /// field of its configuration; fields that disappeared are owned by nobody.
    fn take_ownership(&mut self, old: Option<&Value>, new: &Value, w: &Writer) {
        if w.subresource.is_some() {
            return;
        }
        let uid = new["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let new_leaves = field_leaves(new);
        let old_leaves = old.map(field_leaves).unwrap_or_default();
        let owners = self.owners.entry(uid).or_default();
        owners.retain(|p, _| new_leaves.contains_key(p));
        for (p, (_, v)) in &new_leaves {
            if old_leaves.get(p).map(|(_, ov)| ov) != Some(v) {
                owners.insert(p.clone(), (new_leaves[p].0.clone(), w.manager.clone()));
            }
        }
        if let Some(a) = &w.applied {
            for p in field_leaves(a).keys() {
                if let Some((segs, _)) = new_leaves.get(p) {
                    owners.insert(p.clone(), (segs.clone(), w.manager.clone()));
                }
            }
        }
    }

    /// Fields of `patch` that another manager owns with a different live value.
    pub fn apply_conflicts(
        &self,
        live: &Value,
        patch: &Value,
        manager: &str,
    ) -> Vec<(String, String)> {
        let uid = live["metadata"]["uid"].as_str().unwrap_or_default();
        let Some(owners) = self.owners.get(uid) else {
            return vec![];
        };
        let live_leaves = field_leaves(live);
        let mut out = vec![];
        for (p, (_, v)) in field_leaves(patch) {
            if let (Some((_, lv)), Some((_, owner))) = (live_leaves.get(&p), owners.get(&p)) {
                if lv != &v && owner != manager {
                    out.push((p, owner.clone()));
                }
            }
        }
        out
    }

    /// Records the write in metadata.managedFields, with each manager's fieldsV1 rebuilt from
    /// the ownership table.
    fn record_manager(&self, obj: &mut Value, w: &Writer, api_version: &str) {
        let op = if w.apply { "Apply" } else { "Update" };
        let mut entry = json!({
            "manager": w.manager, "operation": op, "apiVersion": api_version,
            "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": {}
        });
        if let Some(s) = &w.subresource {
            entry["subresource"] = json!(s);
        }
        let mf = obj["metadata"]
            .as_object_mut()
            .unwrap()
            .entry("managedFields")
            .or_insert_with(|| json!([]));
        if !mf.is_array() {
            *mf = json!([]);
        }
        let arr = mf.as_array_mut().unwrap();
        arr.retain(|e| {
            !(e["manager"] == entry["manager"]
                && e["operation"] == entry["operation"]
                && e.get("subresource") == entry.get("subresource"))
        });
        arr.push(entry);
        let uid = obj["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let owners = self.owners.get(&uid);
        let arr = obj["metadata"]["managedFields"].as_array_mut().unwrap();
        for e in arr.iter_mut() {
            if e.get("subresource").is_some() {
                continue;
            }
            let m = e["manager"].as_str().unwrap_or_default().to_string();
            let mut fields = json!({});
            for (segs, owner) in owners.into_iter().flat_map(|o| o.values()) {
                if *owner == m {
                    let mut cur = &mut fields;
                    for seg in segs {
                        cur = cur
                            .as_object_mut()
                            .unwrap()
                            .entry(seg.clone())
                            .or_insert_with(|| json!({}));
                    }
                }
            }
            e["fieldsV1"] = fields;
        }
        // A manager that owns nothing any more leaves managedFields (status writers stay).
        arr.retain(|e| {
            e.get("subresource").is_some()
                || e["fieldsV1"].as_object().is_some_and(|f| !f.is_empty())
        });
    }

    /// Defaulting and validation common to create and update (what admission and the
    /// registry strategies do on a real server).
    fn prepare(
        &mut self,
        rt: &ResourceType,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(o) = old {
            check_immutable(rt, &name, o, obj)?;
        }
        let mut causes = validate_labels(obj);
        causes.extend(validate_port_names(rt, obj));
        if rt.group.is_empty() && rt.plural == "services" {
            causes.extend(self.validate_node_ports(obj, old));
        }
        if !causes.is_empty() {
            return Err(errors::invalid(rt, &name, &causes));
        }
        // Secrets: stringData is write-only and folds into data.
        if rt.group.is_empty() && rt.plural == "secrets" {
            if let Some(sd) = obj.as_object_mut().unwrap().remove("stringData") {
                use base64::Engine;
                let data = obj
                    .as_object_mut()
                    .unwrap()
                    .entry("data")
                    .or_insert_with(|| json!({}));
                if data.is_null() {
                    *data = json!({});
                }
                for (k, v) in sd.as_object().into_iter().flatten() {
                    let s = v
                        .as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v.to_string());
                    data[k] = json!(base64::engine::general_purpose::STANDARD.encode(s));
                }
            }
            if obj.get("type").is_none() {
                obj["type"] = json!("Opaque");
            }
            for (k, v) in obj["data"].as_object().into_iter().flatten() {
                use base64::Engine;
                let ok = v
                    .as_str()
                    .map(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok())
                    .unwrap_or(false);
                if !ok {
                    return Err(errors::bad_request(format!(
                        "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data in data[{k:?}]"
                    )));
                }
            }
        }
        if rt.group.is_empty() && rt.plural == "services" {
            match old {
                Some(o) => {
                    // clusterIP is immutable once allocated.
                    obj["spec"]["clusterIP"] = o["spec"]["clusterIP"].clone();
                    obj["spec"]["clusterIPs"] = o["spec"]["clusterIPs"].clone();
                }
                None => {
                    if obj["spec"]["clusterIP"].as_str() != Some("None") {
                        self.ip_counter += 1;
                        let ip = format!(
                            "10.96.{}.{}",
                            self.ip_counter / 250,
                            self.ip_counter % 250 + 2
                        );
                        obj["spec"]["clusterIP"] = json!(ip);
                        obj["spec"]["clusterIPs"] = json!([ip]);
                    }
                }
            }
            if obj["spec"]["type"].is_null() {
                obj["spec"]["type"] = json!("ClusterIP");
            }
            let wants_node_port = matches!(
                obj["spec"]["type"].as_str(),
                Some("NodePort") | Some("LoadBalancer")
            );
            if let Some(ports) = obj["spec"]["ports"].as_array_mut() {
                for (i, p) in ports.iter_mut().enumerate() {
                    if p["protocol"].is_null() {
                        p["protocol"] = json!("TCP");
                    }
                    if p["targetPort"].is_null() {
                        p["targetPort"] = p["port"].clone();
                    }
                    if wants_node_port && p["nodePort"].is_null() {
                        let prev = old
                            .and_then(|o| o["spec"]["ports"].get(i))
                            .map(|op| op["nodePort"].clone());
                        match prev {
                            Some(np) if !np.is_null() => p["nodePort"] = np,
                            _ => {
                                // The allocator skips ports in use (given explicitly elsewhere).
                                loop {
                                    self.node_port_counter += 1;
                                    let candidate = 30000 + self.node_port_counter as i64;
                                    let taken = self.objects.iter().any(|(k, o)| {
                                        k.group.is_empty()
                                            && k.plural == "services"
                                            && o["spec"]["ports"].as_array().is_some_and(|ps| {
                                                ps.iter().any(|x| x["nodePort"] == candidate)
                                            })
                                    });
                                    if !taken {
                                        p["nodePort"] = json!(candidate);
                                        break;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if rt.group.is_empty() && rt.plural == "namespaces" {
            if obj["spec"]["finalizers"].is_null() {
                obj["spec"]["finalizers"] = json!(["kubernetes"]);
            }
            if obj["status"]["phase"].is_null() {
                obj["status"]["phase"] = json!("Active");
            }
            let labels = obj["metadata"]
                .as_object_mut()
                .unwrap()
                .entry("labels")
                .or_insert_with(|| json!({}));
            if labels.is_null() {
                *labels = json!({});
            }
            labels["kubernetes.io/metadata.name"] = json!(name);
        }
        if rt.group.is_empty() && rt.plural == "pods" && old.is_none() {
            obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
            if obj["spec"]["restartPolicy"].is_null() {
                obj["spec"]["restartPolicy"] = json!("Always");
            }
        }
        if rt.group.is_empty() && rt.plural == "persistentvolumeclaims" && old.is_none() {
            obj["status"] = json!({"phase": "Pending"});
            // The StorageObjectInUseProtection admission plugin.
            let fin = obj["metadata"]
                .as_object_mut()
                .unwrap()
                .entry("finalizers")
                .or_insert_with(|| json!([]));
            if let Some(a) = fin.as_array_mut() {
                if !a.iter().any(|f| f == "kubernetes.io/pvc-protection") {
                    a.push(json!("kubernetes.io/pvc-protection"));
                }
            }
        }
        if rt.group == "apps"
            && (rt.plural == "deployments"
                || rt.plural == "statefulsets"
                || rt.plural == "replicasets")
        {
            if obj["spec"]["replicas"].is_null() {
                obj["spec"]["replicas"] = json!(1);
            }
            if rt.plural == "deployments" {
                if obj["spec"]["strategy"].is_null() {
                    obj["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
                }
                if obj["spec"]["progressDeadlineSeconds"].is_null() {
                    obj["spec"]["progressDeadlineSeconds"] = json!(600);
                }
                if obj["spec"]["revisionHistoryLimit"].is_null() {
                    obj["spec"]["revisionHistoryLimit"] = json!(10);
                }
            }
            validate_workload(rt, &name, obj)?;
        }
        if rt.group == "batch" && rt.plural == "jobs" && obj["spec"]["backoffLimit"].is_null() {
            obj["spec"]["backoffLimit"] = json!(6);
        }
        Ok(())
    }

    /// POST: create a new object.
    pub fn create(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        mut obj: Value,
        w: &Writer,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(errors::bad_request(
                "the body of the request is not a JSON object",
            ));
        }
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        let mut name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            if let Some(prefix) = obj["metadata"]["generateName"].as_str() {
                name = format!(
                    "{prefix}{}",
                    random_suffix(&format!("{}{}", self.uid_counter, prefix))
                );
                obj["metadata"]["name"] = json!(name);
            }
        }
        if name.is_empty() {
            return Err(errors::invalid(
                rt,
                "",
                &[Cause::new(
                    "FieldValueRequired",
                    "metadata.name",
                    "Required value: name or generateName is required",
                )],
            ));
        }
        if !valid_name(&name) {
            return Err(errors::invalid(rt, &name, &[Cause::new(
                "FieldValueInvalid",
                "metadata.name",
                &format!("Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
            )]));
        }
        if let Some(c) = name_rule_violation(rt, &name) {
            return Err(errors::invalid(rt, &name, &[c]));
        }
        if let Some(body_ns) = obj["metadata"]["namespace"].as_str() {
            if rt.namespaced && !ns.is_empty() && body_ns != ns {
                return Err(errors::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
            }
        }
        self.namespace_check(rt, ns, &name)?;
        let key = Self::key(rt, ns, &name);
        if self.objects.contains_key(&key) {
            return Err(errors::already_exists(rt, &name));
        }
        if rt.namespaced {
            obj["metadata"]["namespace"] = json!(ns);
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        if rt.has_status() && !(rt.group.is_empty() && rt.plural == "nodes") {
            // The status of a new object is the server's, not the client's.
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
        }
        self.prepare(rt, &mut obj, None)?;
        if rt.group.is_empty() && rt.plural == "pods" {
            // The LimitRanger and ResourceQuota admission plugins.
            let lrt = self.type_for("", "limitranges").unwrap();
            quota::limit_ranges(rt, &mut obj, &self.list(&lrt, ns))?;
            let qrt = self.type_for("", "resourcequotas").unwrap();
            quota::check_quota(rt, &obj, &self.list(&qrt, ns), &self.list(rt, ns))?;
        }
        let uid = self.next_uid();
        let m = &mut obj["metadata"];
        m["uid"] = json!(uid);
        m["creationTimestamp"] = json!(now_rfc3339());
        m["generation"] = json!(1);
        if let Some(mm) = m.as_object_mut() {
            mm.remove("resourceVersion");
            mm.remove("deletionTimestamp");
            mm.remove("managedFields");
        }
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        self.take_ownership(None, &obj, w);
        self.record_manager(&mut obj, w, &rt.api_version());
        Ok(self.commit(key, obj, ChangeType::Added))
    }

    /// Stores a new version of an existing object after the checks an update gets; `status`
    /// = write through the /status subresource.
    fn write_existing(
        &mut self,
        rt: &ResourceType,
        key: Key,
        old: Value,
        mut obj: Value,
        w: &Writer,
        status: bool,
    ) -> Result<Value, ApiError> {
        if status {
            // Only status changes through /status.
            let mut merged = old.clone();
            merged["status"] = obj["status"].clone();
            obj = merged;
        } else {
            if rt.has_status() {
                obj["status"] = old["status"].clone();
                if obj["status"].is_null() {
                    obj.as_object_mut().unwrap().remove("status");
                }
            }
            // Immutable metadata.
            for f in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "namespace",
                "name",
            ] {
                match old["metadata"].get(f) {
                    Some(v) => obj["metadata"][f] = v.clone(),
                    None => {
                        if let Some(m) = obj["metadata"].as_object_mut() {
                            m.remove(f);
                        }
                    }
                }
            }
            if obj["metadata"]["managedFields"].is_null() {
                obj["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
            }
            self.prepare(rt, &mut obj, Some(&old))?;
        }
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        let old_gen = old["metadata"]["generation"].as_i64().unwrap_or(1);
        let spec_changed = !status && spec_part(&obj) != spec_part(&old);
        obj["metadata"]["generation"] = json!(if spec_changed { old_gen + 1 } else { old_gen });
        obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if strip_volatile(&obj) == strip_volatile(&old) {
            // A no-op write changes nothing, not even the resourceVersion.
            return Ok(old);
        }
        let mut w = w.clone();
        if status {
            w.subresource = Some("status".into());
        }
        self.take_ownership(Some(&old), &obj, &w);
        self.record_manager(&mut obj, &w, &rt.api_version());
        // The last finalizer gone from an object being deleted completes the delete.
        let finalizers_empty = obj["metadata"]["finalizers"]
            .as_array()
            .map(|a| a.is_empty())
            .unwrap_or(true);
        if !old["metadata"]["deletionTimestamp"].is_null() && finalizers_empty {
            let gone = self.commit(key, obj, ChangeType::Deleted);
            self.collect_dependents(&gone, Propagation::Background);
            return Ok(gone);
        }
        Ok(self.commit(key, obj, ChangeType::Modified))
    }

    /// PUT: replace an object (optimistic concurrency on metadata.resourceVersion when given).
    pub fn replace(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        obj: Value,
        w: &Writer,
        status: bool,
    ) -> Result<Value, ApiError> {
        let key = Self::key(rt, ns, name);
        if obj["metadata"]["name"].as_str().is_some_and(|n| n != name) {
            return Err(errors::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                obj["metadata"]["name"].as_str().unwrap()
            )));
        }
        let Some(old) = self.objects.get(&key).cloned() else {
            if status {
                return Err(errors::not_found(rt, name));
            }
            // PUT on a missing object creates it (as the real server does for most kinds).
            return self.create(rt, ns, obj, w);
        };
        if let Some(rv) = obj["metadata"]["resourceVersion"].as_str() {
            if !rv.is_empty() && Some(rv) != old["metadata"]["resourceVersion"].as_str() {
                return Err(errors::conflict(rt, name));
            }
        }
        self.write_existing(rt, key, old, obj, w, status)
    }

    /// Server-side apply: create-if-missing, otherwise merge the applied configuration into the
    /// live object and remove what this manager applied last time and no longer applies.
    pub fn apply(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        patch: Value,
        w: &Writer,
        status: bool,
    ) -> Result<Value, ApiError> {
        if !patch.is_object() {
            return Err(errors::bad_request(
                "error decoding YAML: the applied configuration is not an object",
            ));
        }
        if patch["apiVersion"].as_str().is_none() || patch["kind"].as_str().is_none() {
            return Err(errors::bad_request(
                "invalid object type: apiVersion and kind must be set in an apply patch",
            ));
        }
        if patch["kind"].as_str() != Some(&rt.kind) {
            return Err(errors::bad_request(format!(
                "the kind of the applied configuration ({}) does not match the resource ({})",
                patch["kind"].as_str().unwrap(),
                rt.kind
            )));
        }
        match patch["metadata"]["name"].as_str() {
            Some(n) if n == name => {}
            Some(n) => {
                return Err(errors::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            None => {
                return Err(errors::bad_request(
                    "metadata.name: Required value: name is required for apply patch",
                ));
            }
        }
        if let Some(body_ns) = patch["metadata"]["namespace"].as_str() {
            if rt.namespaced && body_ns != ns {
                return Err(errors::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
            }
        }
        let key = Self::key(rt, ns, name);
        let Some(old) = self.objects.get(&key).cloned() else {
            if status {
                return Err(errors::not_found(rt, name));
            }
            let mut obj = patch.clone();
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            let mut aw = w.clone();
            aw.applied = Some(patch.clone());
            let created = self.create(rt, ns, obj, &aw)?;
            let uid = created["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.applied.insert((uid, w.manager.clone()), patch);
            return Ok(created);
        };
        if let Some(rv) = patch["metadata"]["resourceVersion"].as_str() {
            if rv
                != old["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
            {
                return Err(errors::conflict(rt, name));
            }
        }
        let uid = old["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mkey = (
            uid,
            format!("{}{}", w.manager, if status { "/status" } else { "" }),
        );
        if !w.force && !status {
            let conflicts = self.apply_conflicts(&old, &patch, &w.manager);
            if !conflicts.is_empty() {
                return Err(errors::apply_conflicts(&conflicts, &rt.api_version()));
            }
        }
        let mut aw = w.clone();
        aw.applied = Some(patch.clone());
        let w = &aw;
        let mut obj = old.clone();
        if let Some(prev) = self.applied.get(&mkey) {
            remove_dropped(&mut obj, prev, &patch);
        }
        let mut to_merge = patch.clone();
        for f in ["apiVersion", "kind"] {
            to_merge.as_object_mut().unwrap().remove(f);
        }
        if let Some(m) = to_merge["metadata"].as_object_mut() {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        deep_merge(&mut obj, &to_merge);
        let out = self.write_existing(rt, key, old, obj, w, status)?;
        self.applied.insert(mkey, patch);
        Ok(out)
    }

    /// Merge patch (RFC 7386), strategic merge patch (merging lists of named objects by name) or
    /// JSON patch (RFC 6902) on an existing object.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        kind: PatchKind,
        patch: &Value,
        w: &Writer,
        status: bool,
    ) -> Result<Value, ApiError> {
        let key = Self::key(rt, ns, name);
        let Some(old) = self.objects.get(&key).cloned() else {
            return Err(errors::not_found(rt, name));
        };
        let mut obj = old.clone();
        match kind {
            PatchKind::Merge => merge_patch(&mut obj, patch, false),
            PatchKind::Strategic => merge_patch(&mut obj, patch, true),
            PatchKind::Json => json_patch(&mut obj, patch).map_err(|m| {
                errors::ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {m}"),
                    Value::Null,
                )
            })?,
        }
        if let Some(rv) = patch["metadata"]["resourceVersion"].as_str() {
            if rv
                != old["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
            {
                return Err(errors::conflict(rt, name));
            }
        }
        self.write_existing(rt, key, old, obj, w, status)
    }

    /// DELETE with propagation. Returns the answer body and whether the object is gone
    /// (false: it waits for finalizers, answered with 202).
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        prop: Option<Propagation>,
        precondition_uid: Option<&str>,
        precondition_rv: Option<&str>,
    ) -> Result<(Value, bool), ApiError> {
        let key = Self::key(rt, ns, name);
        let Some(old) = self.objects.get(&key).cloned() else {
            return Err(errors::not_found(rt, name));
        };
        if precondition_uid.is_some_and(|u| Some(u) != old["metadata"]["uid"].as_str()) {
            return Err(errors::ApiError::new(409, "Conflict", format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {}, UID in object meta: {}",
                rt.qualified_plural(), precondition_uid.unwrap(), old["metadata"]["uid"].as_str().unwrap_or_default()
            ), json!({"name": name, "kind": rt.plural})));
        }
        if precondition_rv.is_some_and(|r| Some(r) != old["metadata"]["resourceVersion"].as_str()) {
            return Err(errors::conflict(rt, name));
        }
        let prop = prop.unwrap_or(Propagation::Background);
        let status_ok = |o: &Value| {
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": o["metadata"]["uid"]}})
        };
        // Namespaces go Terminating; the namespace controller (the scenario controller here)
        // then deletes the contents and the namespace.
        if rt.group.is_empty() && rt.plural == "namespaces" {
            let mut term = old.clone();
            if term["metadata"]["deletionTimestamp"].is_null() {
                term["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                term["status"]["phase"] = json!("Terminating");
                term = self.commit(key.clone(), term, ChangeType::Modified);
            }
            return Ok((term, false));
        }
        // Pods terminate gracefully when the scenario says so (the kubelet removes them later).
        if rt.group.is_empty() && rt.plural == "pods" && self.pod_grace {
            let mut o = old.clone();
            if o["metadata"]["deletionTimestamp"].is_null() {
                o["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                o["metadata"]["deletionGracePeriodSeconds"] = json!(30);
                o = self.commit(key, o, ChangeType::Modified);
            }
            return Ok((o, false));
        }
        let user_finalizers = old["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|a| a.iter().any(|f| f != "foregroundDeletion" && f != "orphan"));
        if user_finalizers {
            let mut o = old.clone();
            if o["metadata"]["deletionTimestamp"].is_null() {
                o["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                o["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                o = self.commit(key, o, ChangeType::Modified);
            }
            return Ok((o, false));
        }
        match prop {
            Propagation::Foreground => {
                let mut o = old.clone();
                o["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                o["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                o["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
                let marked = self.commit(key.clone(), o, ChangeType::Modified);
                self.collect_dependents(&marked, Propagation::Foreground);
                let mut o = marked.clone();
                o["metadata"].as_object_mut().unwrap().remove("finalizers");
                self.commit(key, o, ChangeType::Deleted);
                Ok((marked, false))
            }
            Propagation::Background | Propagation::Orphan => {
                let gone = self.commit(key, old, ChangeType::Deleted);
                self.collect_dependents(&gone, prop);
                if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
                    // A CRD takes its custom resources with it.
                    let g = gone["spec"]["group"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let p = gone["spec"]["names"]["plural"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let crs: Vec<Key> = self
                        .objects
                        .keys()
                        .filter(|k| k.group == g && k.plural == p)
                        .cloned()
                        .collect();
                    for k in crs {
                        if let Some(o) = self.objects.get(&k).cloned() {
                            let cr = self.commit(k, o, ChangeType::Deleted);
                            self.collect_dependents(&cr, Propagation::Background);
                        }
                    }
                }
                if rt.group.is_empty() && rt.plural == "pods" {
                    Ok((gone, true))
                } else {
                    Ok((status_ok(&gone), true))
                }
            }
        }
    }

    /// The garbage collector for one deleted owner: dependents whose every owner is gone are
    /// deleted (recursively); with Orphan, the owner reference is removed instead.
    fn collect_dependents(&mut self, owner: &Value, prop: Propagation) {
        let Some(uid) = owner["metadata"]["uid"].as_str().map(String::from) else {
            return;
        };
        let deps: Vec<Key> = self
            .objects
            .iter()
            .filter(|(_, o)| {
                o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid.as_str()))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in deps {
            let Some(mut o) = self.objects.get(&k).cloned() else {
                continue;
            };
            let refs: Vec<Value> = o["metadata"]["ownerReferences"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let remaining: Vec<Value> = refs
                .into_iter()
                .filter(|r| r["uid"] != uid.as_str())
                .collect();
            let other_owner_alive = remaining.iter().any(|r| {
                let ruid = r["uid"].as_str().unwrap_or_default();
                self.objects.values().any(|x| x["metadata"]["uid"] == ruid)
            });
            if prop == Propagation::Orphan || other_owner_alive {
                o["metadata"]["ownerReferences"] = json!(remaining);
                if remaining.is_empty() {
                    o["metadata"]
                        .as_object_mut()
                        .unwrap()
                        .remove("ownerReferences");
                }
                self.commit(k, o, ChangeType::Modified);
                continue;
            }
            let fin = o["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
            if fin || (k.group.is_empty() && k.plural == "pods" && self.pod_grace) {
                if o["metadata"]["deletionTimestamp"].is_null() {
                    o["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                    self.commit(k, o, ChangeType::Modified);
                }
                continue;
            }
            let gone = self.commit(k, o, ChangeType::Deleted);
            self.collect_dependents(
                &gone,
                if prop == Propagation::Foreground {
                    Propagation::Foreground
                } else {
                    Propagation::Background
                },
            );
        }
    }

    /// Writes by the fake's own controllers (status and owned objects), as manager `name`.
    pub fn controller_write(
        &mut self,
        rt: &ResourceType,
        obj: Value,
        status: bool,
        manager: &str,
    ) -> Option<Value> {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let key = Self::key(rt, &ns, &name);
        let old = self.objects.get(&key).cloned()?;
        self.write_existing(rt, key, old, obj, &Writer::update(manager), status)
            .ok()
    }

    /// The namespace controller's work for a Terminating namespace: deletes what is inside
    /// (objects with finalizers get a deletionTimestamp and stay), then the namespace once
    /// empty. Returns true when the namespace is gone.
    pub fn finish_namespace(&mut self, name: &str) -> bool {
        let nsrt = self.type_for("", "namespaces").unwrap();
        let key = Self::key(&nsrt, "", name);
        let Some(term) = self.objects.get(&key).cloned() else {
            return true;
        };
        let inside: Vec<Key> = self
            .objects
            .keys()
            .filter(|k| k.namespace == name)
            .cloned()
            .collect();
        for k in inside {
            let Some(mut o) = self.objects.get(&k).cloned() else {
                continue;
            };
            let fin = o["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
            if fin || (k.plural == "pods" && k.group.is_empty() && self.pod_grace) {
                if o["metadata"]["deletionTimestamp"].is_null() {
                    o["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                    self.commit(k, o, ChangeType::Modified);
                }
                continue;
            }
            let gone = self.commit(k, o, ChangeType::Deleted);
            self.collect_dependents(&gone, Propagation::Background);
        }
        if self.objects.keys().any(|k| k.namespace == name) {
            return false;
        }
        self.commit(key, term, ChangeType::Deleted);
        true
    }

    /// Removes a pod whose graceful termination is over.
    pub fn finish_pod(&mut self, key: &Key) {
        if let Some(o) = self.objects.get(key).cloned() {
            let fin = o["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
            if !fin {
                let gone = self.commit(key.clone(), o, ChangeType::Deleted);
                self.collect_dependents(&gone, Propagation::Background);
            }
        }
    }

    /// NodePorts must be in 30000-32767 and not used by another Service.
    fn validate_node_ports(&self, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
        let mut causes = vec![];
        let me = obj["metadata"]["uid"]
            .as_str()
            .or_else(|| old.and_then(|o| o["metadata"]["uid"].as_str()))
            .unwrap_or_default()
            .to_string();
        let used: Vec<i64> = self
            .objects
            .iter()
            .filter(|(k, o)| {
                k.group.is_empty() && k.plural == "services" && o["metadata"]["uid"] != me.as_str()
            })
            .flat_map(|(_, o)| o["spec"]["ports"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["nodePort"].as_i64())
            .collect();
        for (j, p) in obj["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let Some(np) = p["nodePort"].as_i64() else {
                continue;
            };
            let field = format!("spec.ports[{j}].nodePort");
            if !(30000..=32767).contains(&np) {
                causes.push(Cause::new("FieldValueInvalid", &field, &format!("Invalid value: {np}: provided port is not in the valid range. The range of valid ports is 30000-32767")));
            } else if used.contains(&np) {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    &field,
                    &format!("Invalid value: {np}: provided port is already allocated"),
                ));
            }
        }
        causes
    }

    /// Forgets history at or below the current resourceVersion: later watches from an older
    /// resourceVersion get 410 Gone.
    pub fn compact(&mut self) {
        self.compacted = self.rv;
        self.history.clear();
    }
}

/// The user-settable leaf fields of an object (not status, not server-set metadata) as SSA
/// paths (`.spec.template.spec.containers[name="app"].image`) with their fieldsV1 segments.
pub fn field_leaves(obj: &Value) -> BTreeMap<String, (Vec<String>, Value)> {
    let mut out = BTreeMap::new();
    for (k, v) in obj.as_object().into_iter().flatten() {
        match k.as_str() {
            "status" | "apiVersion" | "kind" => {}
            "metadata" => {
                for (mk, mv) in v.as_object().into_iter().flatten() {
                    match mk.as_str() {
                        "labels" | "annotations" => walk_leaves(
                            &format!(".metadata.{mk}"),
                            &["f:metadata".into(), format!("f:{mk}")],
                            mv,
                            &mut out,
                        ),
                        "finalizers" | "ownerReferences" => {
                            out.insert(
                                format!(".metadata.{mk}"),
                                (vec!["f:metadata".into(), format!("f:{mk}")], mv.clone()),
                            );
                        }
                        _ => {}
                    }
                }
            }
            _ => walk_leaves(&format!(".{k}"), &[format!("f:{k}")], v, &mut out),
        }
    }
    out
}

fn walk_leaves(
    path: &str,
    segs: &[String],
    v: &Value,
    out: &mut BTreeMap<String, (Vec<String>, Value)>,
) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let mut s = segs.to_vec();
                s.push(format!("f:{k}"));
                walk_leaves(&format!("{path}.{k}"), &s, x, out);
            }
        }
        Value::Array(a) if is_named_list(v) => {
            for e in a {
                let n = e["name"].as_str().unwrap_or_default();
                let mut s = segs.to_vec();
                s.push(format!("k:{}", json!({"name": n})));
                for (k, x) in e.as_object().into_iter().flatten() {
                    let mut s2 = s.clone();
                    s2.push(format!("f:{k}"));
                    walk_leaves(&format!("{path}[name=\"{n}\"].{k}"), &s2, x, out);
                }
            }
        }
        _ => {
            out.insert(path.to_string(), (segs.to_vec(), v.clone()));
        }
    }
}

/// The part of an object whose change bumps metadata.generation.
fn spec_part(o: &Value) -> Value {
    let mut v = o.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

/// The object without fields every write changes.
fn strip_volatile(o: &Value) -> Value {
    let mut v = o.clone();
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    v
}

fn dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Names stricter than a DNS subdomain: Services (RFC 1035 label) and Namespaces (RFC 1123
/// label), as the API server validates them.
fn name_rule_violation(rt: &ResourceType, name: &str) -> Option<Cause> {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "services") if !(dns1123_label(name) && name.starts_with(|c: char| c.is_ascii_lowercase())) => Some(Cause::new(
            "FieldValueInvalid",
            "metadata.name",
            &format!("Invalid value: \"{name}\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"),
        )),
        ("", "namespaces") if !dns1123_label(name) => Some(Cause::new(
            "FieldValueInvalid",
            "metadata.name",
            &format!("Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"),
        )),
        _ => None,
    }
}

fn label_value_ok(v: &str) -> bool {
    v.len() <= 63
        && (v.is_empty()
            || (v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && v.starts_with(|c: char| c.is_ascii_alphanumeric())
                && v.ends_with(|c: char| c.is_ascii_alphanumeric())))
}

fn label_key_ok(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(valid_name);
    prefix_ok && !name.is_empty() && label_value_ok(name)
}

/// Label keys and values everywhere labels are (metadata, pod templates, selectors).
fn validate_labels(obj: &Value) -> Vec<Cause> {
    let mut causes = vec![];
    let mut check = |path: &str, labels: &Value| {
        for (k, v) in labels.as_object().into_iter().flatten() {
            if !label_key_ok(k) {
                causes.push(Cause::new("FieldValueInvalid", path, &format!("Invalid value: \"{k}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")));
            }
            let val = v.as_str().unwrap_or_default();
            if val.len() > 63 {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    path,
                    &format!("Invalid value: \"{val}\": must be no more than 63 characters"),
                ));
            } else if !label_value_ok(val) {
                causes.push(Cause::new("FieldValueInvalid", path, &format!("Invalid value: \"{val}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")));
            }
        }
    };
    check("metadata.labels", &obj["metadata"]["labels"]);
    check(
        "spec.template.metadata.labels",
        &obj["spec"]["template"]["metadata"]["labels"],
    );
    check(
        "spec.selector.matchLabels",
        &obj["spec"]["selector"]["matchLabels"],
    );
    causes
}

/// IANA service names (port names): at most 15 characters, lowercase alphanumerics and '-',
/// at least one letter, no leading/trailing or double '-'.
fn port_name_problem(n: &str) -> Option<&'static str> {
    if n.len() > 15 {
        Some("must be no more than 15 characters")
    } else if !n
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Some("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    } else if !n.chars().any(|c| c.is_ascii_lowercase()) {
        Some("must contain at least one letter (a-z)")
    } else if n.contains("--") {
        Some("must not contain consecutive hyphens")
    } else if n.starts_with('-') || n.ends_with('-') {
        Some("must not begin or end with a hyphen")
    } else {
        None
    }
}

fn validate_port_names(rt: &ResourceType, obj: &Value) -> Vec<Cause> {
    let mut causes = vec![];
    let pod_spec = match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => Some(("spec", &obj["spec"])),
        ("apps", _) | ("batch", "jobs") => {
            Some(("spec.template.spec", &obj["spec"]["template"]["spec"]))
        }
        _ => None,
    };
    if let Some((prefix, spec)) = pod_spec {
        for (i, c) in spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            for (j, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
                if let Some(n) = p["name"].as_str() {
                    if let Some(why) = port_name_problem(n) {
                        causes.push(Cause::new(
                            "FieldValueInvalid",
                            &format!("{prefix}.containers[{i}].ports[{j}].name"),
                            &format!("Invalid value: \"{n}\": {why}"),
                        ));
                    }
                }
            }
        }
    }
    if rt.group.is_empty() && rt.plural == "services" {
        let ports = obj["spec"]["ports"].as_array().cloned().unwrap_or_default();
        for (j, p) in ports.iter().enumerate() {
            // Service port names are DNS-1123 labels (up to 63 characters), unlike container
            // port names, which are IANA service names (up to 15).
            if let Some(n) = p["name"].as_str().filter(|n| !n.is_empty()) {
                if !dns1123_label(n) {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        &format!("spec.ports[{j}].name"),
                        &format!("Invalid value: \"{n}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"),
                    ));
                }
            }
            if ports.len() > 1 && p["name"].as_str().unwrap_or_default().is_empty() {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    &format!("spec.ports[{j}].name"),
                    "Required value",
                ));
            }
        }
    }
    causes
}

/// The update validation of fields Kubernetes does not let change.
fn check_immutable(
    rt: &ResourceType,
    name: &str,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    let immutable = |field: &str, v: &Value| {
        Cause::new(
            "FieldValueInvalid",
            field,
            &format!("Invalid value: {}: field is immutable", v),
        )
    };
    let mut causes = vec![];
    let spec_changed = |f: &str| old["spec"][f] != new["spec"][f];
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("apps", "deployments") | ("apps", "replicasets") | ("apps", "daemonsets")
            if spec_changed("selector") =>
        {
            causes.push(immutable("spec.selector", &new["spec"]["selector"]));
        }
        ("apps", "statefulsets") => {
            if spec_changed("selector") {
                causes.push(immutable("spec.selector", &new["spec"]["selector"]));
            }
            let allowed = [
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
            ];
            let mut o = old["spec"].clone();
            let mut n = new["spec"].clone();
            for f in allowed {
                o.as_object_mut().map(|m| m.remove(f));
                n.as_object_mut().map(|m| m.remove(f));
            }
            if o != n {
                causes.push(Cause::new("FieldValueForbidden", "spec", "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
            }
        }
        ("batch", "jobs") => {
            if spec_changed("selector") && !old["spec"]["selector"].is_null() {
                causes.push(immutable("spec.selector", &new["spec"]["selector"]));
            }
            if spec_changed("template") {
                causes.push(immutable("spec.template", &new["spec"]["template"]));
            }
            if spec_changed("completions") {
                causes.push(immutable("spec.completions", &new["spec"]["completions"]));
            }
        }
        ("", "configmaps") | ("", "secrets") => {
            if old["immutable"] == true {
                if old["data"] != new["data"] || old["binaryData"] != new["binaryData"] {
                    causes.push(Cause::new(
                        "FieldValueForbidden",
                        "data",
                        "Forbidden: field is immutable when `immutable` is set",
                    ));
                }
                if new["immutable"] != true {
                    causes.push(Cause::new(
                        "FieldValueForbidden",
                        "immutable",
                        "Forbidden: field is immutable when `immutable` is set",
                    ));
                }
            }
            if rt.plural == "secrets" && !old["type"].is_null() && old["type"] != new["type"] {
                causes.push(immutable("type", &new["type"]));
            }
        }
        ("", "persistentvolumeclaims") => {
            let mut o = old["spec"].clone();
            let mut n = new["spec"].clone();
            for f in [
                "resources",
                "volumeName",
                "storageClassName",
                "volumeAttributesClassName",
            ] {
                o.as_object_mut().map(|m| m.remove(f));
                n.as_object_mut().map(|m| m.remove(f));
            }
            if o != n {
                causes.push(Cause::new("FieldValueForbidden", "spec", "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"));
            }
        }
        ("", "services") => {
            let (oc, nc) = (&old["spec"]["clusterIP"], &new["spec"]["clusterIP"]);
            if !nc.is_null() && oc != nc {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    "spec.clusterIPs[0]",
                    &format!("Invalid value: []string{{{nc}}}: may not change once set"),
                ));
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(errors::invalid(rt, name, &causes))
    }
}

fn validate_workload(rt: &ResourceType, name: &str, obj: &Value) -> Result<(), ApiError> {
    let mut causes = vec![];
    let spec = &obj["spec"];
    if spec["selector"].is_null() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.selector",
            "Required value",
        ));
    }
    let sel = &spec["selector"]["matchLabels"];
    let labels = &spec["template"]["metadata"]["labels"];
    if let Some(m) = sel.as_object() {
        for (k, v) in m {
            if labels.get(k) != Some(v) {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    "spec.template.metadata.labels",
                    &format!(
                        "Invalid value: {}: `selector` does not match template `labels`",
                        labels
                    ),
                ));
                break;
            }
        }
    }
    let containers = spec["template"]["spec"]["containers"].as_array();
    match containers {
        None => causes.push(Cause::new(
            "FieldValueRequired",
            "spec.template.spec.containers",
            "Required value",
        )),
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                if c["image"].as_str().unwrap_or_default().is_empty() {
                    causes.push(Cause::new(
                        "FieldValueRequired",
                        &format!("spec.template.spec.containers[{i}].image"),
                        "Required value",
                    ));
                }
                if c["name"].as_str().unwrap_or_default().is_empty() {
                    causes.push(Cause::new(
                        "FieldValueRequired",
                        &format!("spec.template.spec.containers[{i}].name"),
                        "Required value",
                    ));
                }
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(errors::invalid(rt, name, &causes))
    }
}

/// How a PATCH body is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Strategic,
    Json,
}

/// Recursive map merge where `patch` wins; lists and scalars are replaced.
pub fn deep_merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(tv) if tv.is_object() && v.is_object() => deep_merge(tv, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// Removes from `live` the fields present in `prev` (the manager's last applied config) and
/// absent from `next` (its new one).
fn remove_dropped(live: &mut Value, prev: &Value, next: &Value) {
    let (Some(l), Some(p)) = (live.as_object_mut(), prev.as_object()) else {
        return;
    };
    for (k, pv) in p {
        match next.get(k) {
            None => {
                l.remove(k);
            }
            Some(nv) => {
                if pv.is_object() && nv.is_object() {
                    if let Some(lv) = l.get_mut(k) {
                        remove_dropped(lv, pv, nv);
                    }
                }
            }
        }
    }
}

/// RFC 7386 merge patch; with `strategic`, lists whose patch elements are all objects with a
/// `name` are merged element-wise by name (the merge key of containers, env, ports, volumes).
pub fn merge_patch(target: &mut Value, patch: &Value, strategic: bool) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().unwrap();
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else if v.is_object() {
            let e = t.entry(k.clone()).or_insert(Value::Null);
            merge_patch(e, v, strategic);
        } else if strategic && is_named_list(v) && t.get(k).is_some_and(|x| x.is_array()) {
            let live = t.get_mut(k).unwrap().as_array_mut().unwrap();
            for item in v.as_array().unwrap() {
                let n = &item["name"];
                if item.get("$patch").and_then(|x| x.as_str()) == Some("delete") {
                    live.retain(|x| &x["name"] != n);
                    continue;
                }
                match live.iter_mut().find(|x| &x["name"] == n) {
                    Some(existing) => merge_patch(existing, item, true),
                    None => live.push(item.clone()),
                }
            }
        } else {
            t.insert(k.clone(), v.clone());
        }
    }
}

fn is_named_list(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|a| !a.is_empty() && a.iter().all(|e| e["name"].is_string()))
}

fn pointer_parts(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(vec![]);
    }
    if !p.starts_with('/') {
        return Err(format!("invalid JSON pointer {p:?}"));
    }
    Ok(p[1..]
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn json_patch_add(
    doc: &mut Value,
    parts: &[String],
    val: Value,
    replace: bool,
) -> Result<(), String> {
    let (last, parent) = parts.split_last().ok_or("cannot replace the root")?;
    let mut cur = doc;
    for p in parent {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(p)
                .ok_or_else(|| format!("missing path element {p:?}"))?,
            Value::Array(a) => {
                let i: usize = p.parse().map_err(|_| format!("bad index {p:?}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("index {i} out of range"))?
            }
            _ => return Err(format!("path element {p:?} is not a container")),
        };
    }
    match cur {
        Value::Object(m) => {
            if replace && !m.contains_key(last) {
                return Err(format!("replace of missing key {last:?}"));
            }
            m.insert(last.clone(), val);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(val);
            } else {
                let i: usize = last.parse().map_err(|_| format!("bad index {last:?}"))?;
                if replace {
                    *a.get_mut(i).ok_or("index out of range")? = val;
                } else if i <= a.len() {
                    a.insert(i, val);
                } else {
                    return Err(format!("index {i} out of range"));
                }
            }
        }
        _ => return Err("parent is not a container".into()),
    }
    Ok(())
}

fn json_patch_remove(doc: &mut Value, parts: &[String]) -> Result<Value, String> {
    let (last, parent) = parts.split_last().ok_or("cannot remove the root")?;
    let mut cur = doc;
    for p in parent {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(p)
                .ok_or_else(|| format!("missing path element {p:?}"))?,
            Value::Array(a) => a
                .get_mut(p.parse::<usize>().map_err(|_| "bad index")?)
                .ok_or("index out of range")?,
            _ => return Err("not a container".into()),
        };
    }
    match cur {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("remove of missing key {last:?}")),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| "bad index")?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err("index out of range".into())
            }
        }
        _ => Err("not a container".into()),
    }
}

/// RFC 6902 JSON patch.
pub fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), String> {
    let ops = patch
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?;
    for op in ops {
        let path = pointer_parts(op["path"].as_str().ok_or("operation without path")?)?;
        match op["op"].as_str().unwrap_or_default() {
            "add" => json_patch_add(doc, &path, op["value"].clone(), false)?,
            "replace" => json_patch_add(doc, &path, op["value"].clone(), true)?,
            "remove" => {
                json_patch_remove(doc, &path)?;
            }
            "test" => {
                let ptr = op["path"].as_str().unwrap();
                if doc.pointer(ptr) != Some(&op["value"]) {
                    return Err(format!("testing value {ptr} failed"));
                }
            }
            "move" | "copy" => {
                let from = op["from"].as_str().ok_or("move/copy without from")?;
                let v = if op["op"] == "move" {
                    json_patch_remove(doc, &pointer_parts(from)?)?
                } else {
                    doc.pointer(from).cloned().ok_or("copy from missing path")?
                };
                json_patch_add(doc, &path, v, false)?;
            }
            other => return Err(format!("unknown JSON patch operation {other:?}")),
        }
    }
    Ok(())
}

/// Five lowercase consonant/digit characters derived from a seed, like the real suffixes.
pub fn random_suffix(seed: &str) -> String {
    safe_encode(fnv(seed.as_bytes()), 5)
}

pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Kubernetes' rand.SafeEncodeString alphabet (no vowels, no ambiguous characters).
pub fn safe_encode(mut n: u64, len: usize) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut s = String::new();
    for _ in 0..len {
        s.push(ALPHA[(n % ALPHA.len() as u64) as usize] as char);
        n /= ALPHA.len() as u64;
    }
    s
}

/// A label selector (`a=b,c!=d,e,!f,g in (x,y),h notin (z)`).
#[derive(Clone, Debug, Default)]
pub struct LabelSelector {
    reqs: Vec<(String, String, Vec<String>)>,
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = vec![];
        // Split on commas outside parentheses.
        let mut parts = vec![];
        let mut depth = 0;
        let mut cur = String::new();
        for c in s.chars() {
            match c {
                '(' => {
                    depth += 1;
                    cur.push(c)
                }
                ')' => {
                    depth -= 1;
                    cur.push(c)
                }
                ',' if depth == 0 => parts.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        parts.push(cur);
        for p in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            if let Some(k) = p.strip_prefix('!') {
                reqs.push((k.trim().to_string(), "!".into(), vec![]));
            } else if let Some((k, v)) = p.split_once("!=") {
                reqs.push((k.trim().into(), "!=".into(), vec![v.trim().into()]));
            } else if let Some((k, v)) = p.split_once("==") {
                reqs.push((k.trim().into(), "=".into(), vec![v.trim().into()]));
            } else if let Some((k, v)) = p.split_once('=') {
                reqs.push((k.trim().into(), "=".into(), vec![v.trim().into()]));
            } else if let Some((k, rest)) = split_set_op(p, " notin ") {
                reqs.push((k, "notin".into(), rest));
            } else if let Some((k, rest)) = split_set_op(p, " in ") {
                reqs.push((k, "in".into(), rest));
            } else if p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                reqs.push((p.to_string(), "exists".into(), vec![]));
            } else {
                return Err(format!("unable to parse requirement: {p:?}"));
            }
        }
        Ok(LabelSelector { reqs })
    }

    pub fn matches(&self, labels: &Value) -> bool {
        self.reqs.iter().all(|(k, op, vals)| {
            let v = labels.get(k).and_then(|v| v.as_str());
            match op.as_str() {
                "=" => v == Some(vals[0].as_str()),
                "!=" => v != Some(vals[0].as_str()),
                "exists" => v.is_some(),
                "!" => v.is_none(),
                "in" => v.is_some_and(|v| vals.iter().any(|x| x == v)),
                "notin" => !v.is_some_and(|v| vals.iter().any(|x| x == v)),
                _ => false,
            }
        })
    }
}

fn split_set_op(p: &str, op: &str) -> Option<(String, Vec<String>)> {
    let (k, rest) = p.split_once(op)?;
    let rest = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some((
        k.trim().to_string(),
        rest.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    ))
}

/// A field selector over dotted paths (`metadata.name=x,status.phase!=Running`).
#[derive(Clone, Debug, Default)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = vec![];
        for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some((k, v)) = p.split_once("!=") {
                reqs.push((k.into(), false, v.into()));
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                reqs.push((k.into(), true, v.into()));
            } else {
                return Err(format!("invalid selector: {p:?}; can't understand it"));
            }
        }
        Ok(FieldSelector { reqs })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|(path, eq, want)| {
            let mut cur = obj;
            for seg in path.split('.') {
                cur = &cur[seg];
            }
            let have = match cur {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (have == *want) == *eq
        })
    }
}
