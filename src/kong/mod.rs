//! Kong from the OpenAPI spec: reading specs (`spec`), deriving routes and plugins (`derive`,
//! pure), which `x-kong-plugin-*` a spec may use and whether their configs are valid for Kong
//! (`plugin_rules`, over the facts in `plugins.yaml`), turning routes into chart values for the
//! Kubernetes way (`chart_values`), the developer consumer's credential (`credentials`), and an
//! Admin API sync for an external Kong (`admin`).

pub mod admin;
pub mod chart_values;
pub mod credentials;
pub mod derive;
pub mod plugin_rules;
pub mod spec;
