//! Kong from the OpenAPI spec: reading specs (`spec`), deriving routes and plugins (`derive`,
//! pure), turning them into chart values for the Kubernetes way (`chart_values`), the
//! developer consumer's credential (`credentials`), and an Admin API sync for an external Kong
//! (`admin`).

pub mod admin;
pub mod chart_values;
pub mod credentials;
pub mod derive;
pub mod spec;
