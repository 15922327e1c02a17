//! The bundled Helm chart and the in-process Helm renderer.
