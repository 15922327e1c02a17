//! The bundled Helm chart and the in-process Helm renderer.

pub mod strvals;
pub mod values;
