//! `credentials`: shows the developer consumer's credential again, or replaces it with
//! `--rotate` (never silently); for jwt, mints a token and says how to mint more.

use super::GlobalFlags;
use crate::error::CliError;
use crate::kong::credentials::{
    mint_jwt, secret_name, show_or_rotate, CredentialStore, KubeStore, Outcome,
};
use crate::kong::derive::CredentialKind;
use crate::output::{Format, Shell};
use clap::Args;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CredentialType {
    KeyAuth,
    Jwt,
    BasicAuth,
}

impl From<CredentialType> for CredentialKind {
    fn from(t: CredentialType) -> Self {
        match t {
            CredentialType::KeyAuth => CredentialKind::KeyAuth,
            CredentialType::Jwt => CredentialKind::Jwt,
            CredentialType::BasicAuth => CredentialKind::BasicAuth,
        }
    }
}

#[derive(Debug, Args)]
pub struct CredentialsArgs {
    /// Release name (default: the `name` in ./justpush.yaml, else justpush).
    #[arg(long)]
    pub name: Option<String>,
    /// Only this credential type (default: every one the release has).
    #[arg(long = "type", value_enum)]
    pub kind: Option<CredentialType>,
    /// Replace the credential with a freshly generated one (the old one stops working).
    #[arg(long)]
    pub rotate: bool,
    /// Lifetime in seconds of the JWT minted for a jwt credential.
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub ttl: u64,
    /// Also print the jwt HS256 secret (to mint tokens yourself).
    #[arg(long)]
    pub show_secret: bool,
}

/// A kube client from kubeconfig (--kubeconfig / $KUBECONFIG / ~/.kube/config) and --context.
pub async fn kube_client(global: &GlobalFlags) -> Result<kube::Client, CliError> {
    let target = super::deploy::target(global);
    let loaded = crate::kube::ClientConfig::load(&target)
        .await
        .map_err(|e| match (&e, &global.kubeconfig) {
            // A --kubeconfig the user named that cannot be used is their input's fault.
            (crate::kube::KubeError::Config(_), Some(_)) => CliError::usage(e.to_string()),
            _ => CliError::failed(e.to_string()),
        })?;
    Ok(loaded.client()?)
}

pub fn run(
    args: &CredentialsArgs,
    global: &GlobalFlags,
    shell: &mut Shell,
) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(e.to_string()))?;
    runtime.block_on(run_async(args, global, shell))
}

async fn run_async(
    args: &CredentialsArgs,
    global: &GlobalFlags,
    shell: &mut Shell,
) -> Result<(), CliError> {
    let namespace = global.namespace.clone().unwrap_or_else(|| "default".into());
    let release = super::routes::release_name(args.name.as_deref(), None)?;
    let store = KubeStore {
        client: kube_client(global).await?,
    };
    let kinds: Vec<CredentialKind> = match args.kind {
        Some(k) => vec![k.into()],
        None => {
            // The credentials the release has.
            let mut found = Vec::new();
            for kind in [
                CredentialKind::KeyAuth,
                CredentialKind::Jwt,
                CredentialKind::BasicAuth,
            ] {
                let present = store
                    .read(&namespace, &secret_name(&release, kind))
                    .await
                    .map_err(|e| CliError::failed(e.to_string()))?
                    .is_some();
                if present {
                    found.push(kind);
                }
            }
            if found.is_empty() {
                return Err(CliError::failed(format!(
                    "no consumer credential found for release {} in namespace {namespace} (looked for {}); deploy first with `kubectl justpush up`, or check --name and -n",
                    release,
                    secret_name(&release, CredentialKind::KeyAuth)
                )));
            }
            found
        }
    };
    let mut shown = Vec::new();
    for kind in kinds {
        shown.push(
            show_or_rotate(&store, &namespace, &release, kind, args.rotate)
                .await
                .map_err(|e| CliError::failed(e.to_string()))?,
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let io = CliError::io;
    let mut records = Vec::new();
    for plan in &shown {
        plan.data
            .values()
            .for_each(|v| crate::audit::note_secret(v));
        let secret = secret_name(&release, plan.kind);
        if plan.outcome == Outcome::Rotated {
            shell
                .warn(&format!(
                    "rotated the {} credential in Secret {namespace}/{secret}: the old one stops working as soon as Kong reloads its configuration (seconds); update every client",
                    plan.kind.plugin()
                ))
                .ok();
        }
        let mut record = serde_json::json!({"type": plan.kind.plugin(), "kubernetesSecret": format!("{namespace}/{secret}"), "outcome": plan.outcome});
        let mut text = String::new();
        match plan.kind {
            CredentialKind::KeyAuth => {
                record["key"] = plan.data["key"].clone().into();
                text.push_str(&format!("key-auth key: {}\n", plan.data["key"]));
                text.push_str("  send it as the API key header (default `apikey: <key>`; the spec's apiKey name for routes derived from it)\n");
            }
            CredentialKind::Jwt => {
                let token = mint_jwt(&plan.data["key"], &plan.data["secret"], now, args.ttl);
                record["issuer"] = plan.data["key"].clone().into();
                record["token"] = token.clone().into();
                record["expires"] = (now + args.ttl).into();
                if args.show_secret {
                    record["hs256Secret"] = plan.data["secret"].clone().into();
                }
                text.push_str(&format!("jwt issuer (iss claim): {}\n", plan.data["key"]));
                text.push_str(&format!("jwt token (valid {}s): {token}\n", args.ttl));
                text.push_str("  send it as `Authorization: Bearer <token>`. To mint your own: an HS256 JWT with claims\n");
                text.push_str(&format!("  {{\"iss\": \"{}\", \"exp\": <unix time>}} signed with the credential's secret", plan.data["key"]));
                if args.show_secret {
                    text.push_str(&format!(":\n  secret: {}\n", plan.data["secret"]));
                } else {
                    text.push_str(" (shown with --show-secret)\n");
                }
            }
            CredentialKind::BasicAuth => {
                record["username"] = plan.data["username"].clone().into();
                record["password"] = plan.data["password"].clone().into();
                text.push_str(&format!(
                    "basic-auth user: {}\nbasic-auth password: {}\n",
                    plan.data["username"], plan.data["password"]
                ));
            }
        }
        if shell.format == Format::Text {
            shell.data(&text).map_err(io)?;
        }
        records.push(record);
    }
    if shell.format != Format::Text {
        shell
            .structured(&serde_json::json!({"credentials": records}))
            .map_err(io)?;
    }
    Ok(())
}
