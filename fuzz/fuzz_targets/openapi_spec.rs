//! OpenAPI reading (YAML or JSON), then route derivation and chart values from the routes.
#![no_main]

use justpush::detect::config::KongConfig;
use justpush::kong::chart_values::chart_values;
use justpush::kong::derive::{derive, GatewaySettings};
use justpush::kong::spec::ApiSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(spec) = ApiSpec::parse(text, "fuzz.yaml") {
        let settings = GatewaySettings::from_config(&KongConfig::default(), "fuzz");
        if let Ok(plan) = derive(&spec, &settings) {
            let _ = chart_values(&plan, &settings, "backend");
        }
    }
});
