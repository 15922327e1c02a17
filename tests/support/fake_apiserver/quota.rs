//! Pod admission by ResourceQuota and LimitRange, as the real admission plugins do it:
//! LimitRange defaults fill missing requests/limits, LimitRange maxima reject, and a quota whose
//! hard limits a new pod would exceed rejects it with 403 `exceeded quota`.

use serde_json::{json, Value};

use super::errors::{self, ApiError};
use super::resources::ResourceType;

/// A quantity in milli-units (cpu: millicores; memory: milli-bytes, overflow-safe for tests).
pub fn parse_quantity(q: &Value) -> Option<i128> {
    let s = match q {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match suffix {
        "" => 1.0,
        "m" => 0.001,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0_f64.powi(4),
        _ => return None,
    };
    Some((n * mult * 1000.0).round() as i128)
}

/// Formats milli-units back the way the API prints usage (`500m`, `1Gi`, `3`).
pub fn format_quantity(milli: i128, memory: bool) -> String {
    if memory {
        let bytes = milli / 1000;
        let gi = 1024_i128.pow(3);
        let mi = 1024_i128.pow(2);
        if bytes % gi == 0 && bytes != 0 {
            format!("{}Gi", bytes / gi)
        } else if bytes % mi == 0 && bytes != 0 {
            format!("{}Mi", bytes / mi)
        } else if bytes % 1024 == 0 && bytes != 0 {
            format!("{}Ki", bytes / 1024)
        } else {
            bytes.to_string()
        }
    } else if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

fn is_memory(resource: &str) -> bool {
    resource.contains("memory") || resource.contains("storage")
}

/// What a pod asks for under a quota resource name (`pods`, `requests.cpu`, `limits.memory`, `cpu`).
fn pod_amount(pod: &Value, res: &str) -> Option<i128> {
    if res == "pods" || res == "count/pods" {
        return Some(1000);
    }
    let (section, name) = match res.split_once('.') {
        Some(("requests", n)) => ("requests", n),
        Some(("limits", n)) => ("limits", n),
        None if res == "cpu" || res == "memory" => ("requests", res),
        _ => return None,
    };
    if !is_pod_resource(name) {
        return None;
    }
    let mut total = 0;
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        total += parse_quantity(&c["resources"][section][name]).unwrap_or(0);
    }
    Some(total)
}

fn missing_in(pod: &Value, res: &str) -> bool {
    let (section, name) = match res.split_once('.') {
        Some((s @ ("requests" | "limits"), n)) => (s, n),
        None if res == "cpu" || res == "memory" => ("requests", res),
        _ => return false,
    };
    // `requests.storage` is a PersistentVolumeClaim resource: pods never specify it.
    if !is_pod_resource(name) {
        return false;
    }
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["resources"][section][name].is_null())
}

/// Compute resources a pod's containers declare (quota names like `requests.storage` are not).
fn is_pod_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.contains('/')
}

fn pod_counts(pod: &Value) -> bool {
    !matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded") | Some("Failed")
    )
}

/// Applies LimitRange defaults to a new pod and checks maxima.
pub fn limit_ranges(rt: &ResourceType, pod: &mut Value, ranges: &[Value]) -> Result<(), ApiError> {
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for lr in ranges {
        for limit in lr["spec"]["limits"].as_array().into_iter().flatten() {
            if limit["type"] != "Container" {
                continue;
            }
            for c in pod["spec"]["containers"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                for (section, key) in [("limits", "default"), ("requests", "defaultRequest")] {
                    for (res, v) in limit[key].as_object().into_iter().flatten() {
                        if c["resources"][section][res].is_null() {
                            c["resources"][section][res] = v.clone();
                        }
                    }
                }
                for (res, max) in limit["max"].as_object().into_iter().flatten() {
                    let lim = parse_quantity(&c["resources"]["limits"][res]);
                    if let (Some(l), Some(m)) = (lim, parse_quantity(max)) {
                        if l > m {
                            return Err(errors::forbidden(
                                rt,
                                &name,
                                "create",
                                "",
                                Some(&format!(
                                    "maximum {res} usage per Container is {}, but limit is {}",
                                    max.as_str().unwrap_or_default(),
                                    c["resources"]["limits"][res].as_str().unwrap_or_default()
                                )),
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Checks a new pod against the namespace's quotas, given the pods already there.
pub fn check_quota(
    rt: &ResourceType,
    pod: &Value,
    quotas: &[Value],
    existing: &[Value],
) -> Result<(), ApiError> {
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for q in quotas {
        let qname = q["metadata"]["name"].as_str().unwrap_or_default();
        let Some(hard) = q["spec"]["hard"].as_object() else {
            continue;
        };
        let mut missing = vec![];
        let mut exceeded = vec![];
        for (res, limit) in hard {
            let Some(lim) = parse_quantity(limit) else {
                continue;
            };
            if missing_in(pod, res) {
                missing.push(res.clone());
                continue;
            }
            let Some(req) = pod_amount(pod, res) else {
                continue;
            };
            let used: i128 = existing
                .iter()
                .filter(|p| pod_counts(p))
                .filter_map(|p| pod_amount(p, res))
                .sum();
            if used + req > lim {
                exceeded.push((res.clone(), req, used, lim));
            }
        }
        if !missing.is_empty() {
            missing.sort();
            return Err(errors::forbidden(
                rt,
                &name,
                "create",
                "",
                Some(&format!(
                    "failed quota: {qname}: must specify {}",
                    missing.join(",")
                )),
            ));
        }
        if !exceeded.is_empty() {
            exceeded.sort();
            let f = |sel: fn(&(String, i128, i128, i128)) -> i128| {
                exceeded
                    .iter()
                    .map(|e| format!("{}={}", e.0, format_quantity(sel(e), is_memory(&e.0))))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            return Err(errors::forbidden(
                rt,
                &name,
                "create",
                "",
                Some(&format!(
                    "exceeded quota: {qname}, requested: {}, used: {}, limited: {}",
                    f(|e| e.1),
                    f(|e| e.2),
                    f(|e| e.3)
                )),
            ));
        }
    }
    Ok(())
}

/// `status.used` and `status.hard` of a quota over the namespace's pods.
pub fn quota_status(q: &Value, pods: &[Value]) -> Value {
    let mut used = json!({});
    for (res, _) in q["spec"]["hard"].as_object().into_iter().flatten() {
        let total: i128 = pods
            .iter()
            .filter(|p| pod_counts(p))
            .filter_map(|p| pod_amount(p, res))
            .sum();
        used[res] = json!(format_quantity(total, is_memory(res)));
    }
    json!({"hard": q["spec"]["hard"], "used": used})
}
