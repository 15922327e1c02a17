//! Sprig's certificate generators (`genCA`, `genSignedCert`, `genSelfSignedCert`,
//! `genPrivateKey`). Keys are ECDSA P-256 rather than Sprig's RSA 2048: the PEM shapes and the
//! `.Cert`/`.Key` fields are the same, and parity tests compare generated values by shape.

use super::exec::Exec;
use super::value::Value;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, SanType,
};
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

type R = Result<Value, super::exec::FuncError>;

fn cert_value(cert: String, key: String) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Cert".to_string(), Value::from(cert));
    m.insert("Key".to_string(), Value::from(key));
    Value::map(m)
}

fn params(cn: &str, days: i64, ips: &[Value], dns: &[Value]) -> Result<CertificateParams, String> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    p.not_before = now;
    p.not_after = now + Duration::days(days.max(1));
    for ip in ips {
        let s = super::funcs::strval(ip);
        let addr = s.parse().map_err(|_| format!("error parsing ip: {s}"))?;
        p.subject_alt_names.push(SanType::IpAddress(addr));
    }
    for d in dns {
        let s = super::funcs::strval(d);
        let name = s
            .clone()
            .try_into()
            .map_err(|_| format!("invalid DNS name: {s}"))?;
        p.subject_alt_names.push(SanType::DnsName(name));
    }
    Ok(p)
}

fn list(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::List(l)) => l.to_vec(),
        _ => Vec::new(),
    }
}

fn days(v: Option<&Value>) -> i64 {
    v.map(super::funcs::to_int64).unwrap_or(365)
}

/// `genCA CN DAYS`
pub fn gen_ca(_: &mut Exec, a: Vec<Value>) -> R {
    let cn = a.first().map(super::funcs::strval).unwrap_or_default();
    let mut p = params(&cn, days(a.get(1)), &[], &[])?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = p.self_signed(&key).map_err(|e| e.to_string())?;
    Ok(cert_value(cert.pem(), key.serialize_pem()))
}

/// `genSelfSignedCert CN IPS DNS DAYS`
pub fn gen_self_signed(_: &mut Exec, a: Vec<Value>) -> R {
    let cn = a.first().map(super::funcs::strval).unwrap_or_default();
    let p = params(&cn, days(a.get(3)), &list(a.get(1)), &list(a.get(2)))?;
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = p.self_signed(&key).map_err(|e| e.to_string())?;
    Ok(cert_value(cert.pem(), key.serialize_pem()))
}

/// `genSignedCert CN IPS DNS DAYS CA`
pub fn gen_signed(_: &mut Exec, a: Vec<Value>) -> R {
    let cn = a.first().map(super::funcs::strval).unwrap_or_default();
    let p = params(&cn, days(a.get(3)), &list(a.get(1)), &list(a.get(2)))?;
    let Some(Value::Map(ca)) = a.get(4) else {
        return Err("genSignedCert needs a CA made by genCA".into());
    };
    let ca = ca.borrow();
    let ca_cert = ca.get("Cert").map(super::funcs::strval).unwrap_or_default();
    let ca_key = ca.get("Key").map(super::funcs::strval).unwrap_or_default();
    let ca_key = KeyPair::from_pem(&ca_key).map_err(|e| format!("error decoding CA key: {e}"))?;
    let ca_params = CertificateParams::from_ca_cert_pem(&ca_cert)
        .map_err(|e| format!("error decoding CA cert: {e}"))?;
    let issuer = ca_params.self_signed(&ca_key).map_err(|e| e.to_string())?;
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = p
        .signed_by(&key, &issuer, &ca_key)
        .map_err(|e| e.to_string())?;
    Ok(cert_value(cert.pem(), key.serialize_pem()))
}

/// `genPrivateKey TYPE`
pub fn gen_private_key(_: &mut Exec, _a: Vec<Value>) -> R {
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    Ok(Value::from(key.serialize_pem()))
}
