//! Minimal compact JWS (JWT) signing for the three algorithms we need:
//! ES256 (VAPID, APNs) and RS256 (Google service-account assertion).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::Value;

use crate::ConfigError;

fn signing_input(header: &Value, claims: &Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{h}.{c}")
}

/// Signs with ES256 (ECDSA P-256 SHA-256, signature as raw `r || s`).
pub(crate) fn es256(header: &Value, claims: &Value, key: &SigningKey) -> String {
    let input = signing_input(header, claims);
    let sig: Signature = key.sign(input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(sig.to_bytes());
    format!("{input}.{sig}")
}

/// An RSA key for RS256.
pub(crate) struct RsaKey(ring::signature::RsaKeyPair);

impl RsaKey {
    /// Loads a PKCS#8 RSA private key from PEM.
    pub(crate) fn from_pkcs8_pem(field: &'static str, pem: &str) -> Result<Self, ConfigError> {
        let der = pem_to_der(pem, "PRIVATE KEY")
            .ok_or_else(|| ConfigError::invalid(field, "not a PKCS#8 PEM private key"))?;
        ring::signature::RsaKeyPair::from_pkcs8(&der)
            .map(RsaKey)
            .map_err(|e| ConfigError::invalid(field, format!("unusable RSA key: {e}")))
    }

    /// Signs with RS256 (RSASSA-PKCS1-v1_5 SHA-256).
    pub(crate) fn rs256(&self, header: &Value, claims: &Value) -> Option<String> {
        let input = signing_input(header, claims);
        let mut sig = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .ok()?;
        Some(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// Extracts the DER body of the first PEM block with the given label.
/// Tolerates literal `\n` escapes (service-account JSON pasted as-is).
pub(crate) fn pem_to_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    let pem = pem.replace("\\n", "\n");
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let b64: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD.decode(b64).ok()
}

/// Loads a PKCS#8 P-256 private key (an APNs .p8 file) from PEM.
pub(crate) fn p256_from_pkcs8_pem(
    field: &'static str,
    pem: &str,
) -> Result<SigningKey, ConfigError> {
    use p256::pkcs8::DecodePrivateKey as _;
    let der = pem_to_der(pem, "PRIVATE KEY")
        .ok_or_else(|| ConfigError::invalid(field, "not a PKCS#8 PEM private key"))?;
    SigningKey::from_pkcs8_der(&der)
        .map_err(|_| ConfigError::invalid(field, "not a P-256 PKCS#8 private key"))
}
