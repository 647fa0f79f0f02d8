//! Trusted certificates (PEM X.509), their public keys, and the signature
//! primitives (ring).
//!
//! Trust is by pinning: a certificate is trusted because the region's
//! operators configured it, byte for byte. No chain is built, no validity
//! period, key usage or revocation is looked at: to stop trusting a key,
//! remove its certificate.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use x509_cert::Certificate;
use x509_cert::der::asn1::{ObjectIdentifier, UintRef};
use x509_cert::der::{Decode, Reader, SliceReader};

/// Largest PEM text accepted for one certificate.
pub const CERT_PEM_MAX_BYTES: usize = 16 * 1024;
/// Most certificates one trust store holds.
pub const TRUST_MAX_CERTIFICATES: usize = 20;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END: &str = "-----END CERTIFICATE-----";

/// Why a configured certificate cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("the certificate PEM is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error(
        "no PEM certificate (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----) found{found}"
    )]
    NoPem { found: String },
    #[error("more than one certificate in one entry: give each certificate as its own entry")]
    SeveralPem,
    #[error("the PEM body is not valid base64")]
    Base64,
    #[error("not a valid X.509 certificate: {reason}")]
    NotACertificate { reason: String },
    #[error(
        "unsupported public key: {reason}; RSA (2048 to 8192 bits) or ECDSA P-256 keys are supported"
    )]
    UnsupportedKey { reason: String },
    #[error("the RSA key has {bits} bits; at least 2048 are needed")]
    WeakKey { bits: usize },
    #[error("more than {max} trusted certificates")]
    TooMany { max: usize },
}

/// The kind of a trusted public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA, for `rsa-sha256` (PKCS#1 v1.5).
    Rsa { bits: usize },
    /// ECDSA on P-256, for `ecdsa-sha256`.
    EcP256,
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rsa { bits } => write!(f, "RSA {bits}"),
            Self::EcP256 => f.write_str("ECDSA P-256"),
        }
    }
}

/// One pinned certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCert {
    der: Vec<u8>,
    kind: KeyKind,
    /// For RSA the DER `RSAPublicKey`, for EC the uncompressed point: what
    /// ring verifies with.
    public_key: Vec<u8>,
    subject: String,
}

impl TrustedCert {
    /// Reads one PEM certificate (text around the PEM block is ignored).
    pub fn from_pem(pem: &str) -> Result<Self, CertError> {
        if pem.len() > CERT_PEM_MAX_BYTES {
            return Err(CertError::TooLarge {
                max: CERT_PEM_MAX_BYTES,
            });
        }
        let Some(begin) = pem.find(PEM_BEGIN) else {
            let found = pem
                .find("-----BEGIN ")
                .and_then(|i| pem[i + 11..].split_once("-----"))
                .map(|(label, _)| format!(" (found a PEM {})", crate::text::truncated(label, 40)))
                .unwrap_or_default();
            return Err(CertError::NoPem { found });
        };
        let body_and_rest = &pem[begin + PEM_BEGIN.len()..];
        let Some(end) = body_and_rest.find(PEM_END) else {
            return Err(CertError::NoPem {
                found: " (the END line is missing)".into(),
            });
        };
        if body_and_rest[end + PEM_END.len()..].contains(PEM_BEGIN) {
            return Err(CertError::SeveralPem);
        }
        let body: String = body_and_rest[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = STANDARD.decode(body).map_err(|_| CertError::Base64)?;
        Self::from_der(der)
    }

    /// Reads one DER certificate.
    pub fn from_der(der: Vec<u8>) -> Result<Self, CertError> {
        let cert = Certificate::from_der(&der).map_err(|e| CertError::NotACertificate {
            reason: crate::text::truncated(&e.to_string(), 120),
        })?;
        let tbs = &cert.tbs_certificate;
        let spki = &tbs.subject_public_key_info;
        let key_bits =
            spki.subject_public_key
                .as_bytes()
                .ok_or_else(|| CertError::UnsupportedKey {
                    reason: "the public key is not a whole number of bytes".into(),
                })?;
        let (kind, public_key) = if spki.algorithm.oid == RSA_ENCRYPTION {
            let bits = rsa_modulus_bits(key_bits)?;
            if bits < 2048 {
                return Err(CertError::WeakKey { bits });
            }
            if bits > 8192 {
                return Err(CertError::UnsupportedKey {
                    reason: format!("RSA key of {bits} bits"),
                });
            }
            (KeyKind::Rsa { bits }, key_bits.to_vec())
        } else if spki.algorithm.oid == EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            if curve != Some(PRIME256V1) {
                return Err(CertError::UnsupportedKey {
                    reason: match curve {
                        Some(oid) => format!("EC curve {oid}"),
                        None => "EC key without a named curve".into(),
                    },
                });
            }
            if key_bits.len() != 65 || key_bits[0] != 0x04 {
                return Err(CertError::UnsupportedKey {
                    reason: "the EC point is not uncompressed".into(),
                });
            }
            (KeyKind::EcP256, key_bits.to_vec())
        } else {
            return Err(CertError::UnsupportedKey {
                reason: format!("algorithm {}", spki.algorithm.oid),
            });
        };
        Ok(Self {
            subject: crate::text::truncated(&tbs.subject.to_string(), 300),
            der,
            kind,
            public_key,
        })
    }

    /// The certificate's DER bytes (what a signature's `X509Certificate`
    /// must equal).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The subject's distinguished name (RFC 4514 form).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Checks `signature` over `message` with this certificate's key.
    pub(crate) fn verifies(
        &self,
        method: SignatureMethod,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        let alg: &dyn ring::signature::VerificationAlgorithm = match (method, self.kind) {
            (SignatureMethod::RsaSha256, KeyKind::Rsa { .. }) => &RSA_PKCS1_2048_8192_SHA256,
            (SignatureMethod::EcdsaSha256, KeyKind::EcP256) => &ECDSA_P256_SHA256_FIXED,
            _ => return false,
        };
        UnparsedPublicKey::new(alg, &self.public_key)
            .verify(message, signature)
            .is_ok()
    }
}

/// The bit length of the modulus of a DER `RSAPublicKey`.
fn rsa_modulus_bits(der: &[u8]) -> Result<usize, CertError> {
    let bad = || CertError::UnsupportedKey {
        reason: "the RSA public key is malformed".into(),
    };
    let mut reader = SliceReader::new(der).map_err(|_| bad())?;
    let (n, _e) = reader
        .sequence(|seq| {
            let n = UintRef::decode(seq)?;
            let e = UintRef::decode(seq)?;
            Ok((n, e))
        })
        .map_err(|_| bad())?;
    if !reader.is_finished() {
        return Err(bad());
    }
    let bytes = n.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err(bad());
    };
    Ok(bytes.len() * 8 - first.leading_zeros() as usize)
}

/// The signature algorithms firstlink verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureMethod {
    /// `http://www.w3.org/2001/04/xmldsig-more#rsa-sha256` (RSASSA-PKCS1-v1_5).
    RsaSha256,
    /// `http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256` on P-256, the
    /// value being `r || s` (32 bytes each).
    EcdsaSha256,
}

impl SignatureMethod {
    pub const RSA_SHA256: &'static str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    pub const ECDSA_SHA256: &'static str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";

    pub fn name(self) -> &'static str {
        match self {
            Self::RsaSha256 => "rsa-sha256",
            Self::EcdsaSha256 => "ecdsa-sha256",
        }
    }

    pub(crate) fn fits(self, kind: KeyKind) -> bool {
        matches!(
            (self, kind),
            (Self::RsaSha256, KeyKind::Rsa { .. }) | (Self::EcdsaSha256, KeyKind::EcP256)
        )
    }
}

/// The certificates a region trusts for signed CAP alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustStore {
    certs: Vec<TrustedCert>,
}

impl TrustStore {
    /// Reads every entry; the first bad one is reported with its index.
    pub fn from_pem<S: AsRef<str>>(pems: &[S]) -> Result<Self, (usize, CertError)> {
        if pems.len() > TRUST_MAX_CERTIFICATES {
            return Err((
                TRUST_MAX_CERTIFICATES,
                CertError::TooMany {
                    max: TRUST_MAX_CERTIFICATES,
                },
            ));
        }
        let certs = pems
            .iter()
            .enumerate()
            .map(|(i, p)| TrustedCert::from_pem(p.as_ref()).map_err(|e| (i, e)))
            .collect::<Result<_, _>>()?;
        Ok(Self { certs })
    }

    pub fn from_certs(certs: Vec<TrustedCert>) -> Self {
        Self { certs }
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    pub fn certificates(&self) -> &[TrustedCert] {
        &self.certs
    }
}

/// Base64 as XML-DSig writes it: whitespace (also `&#13;` turned CR) between
/// the characters is allowed.
pub(crate) fn xml_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'))
        .collect();
    STANDARD.decode(compact).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_errors_are_specific() {
        assert!(matches!(
            TrustedCert::from_pem("hello"),
            Err(CertError::NoPem { .. })
        ));
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            TrustedCert::from_pem(key),
            Err(CertError::NoPem {
                found: " (found a PEM PRIVATE KEY)".into()
            })
        );
        assert_eq!(
            TrustedCert::from_pem("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----"),
            Err(CertError::Base64)
        );
        assert!(matches!(
            TrustedCert::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
            Err(CertError::NotACertificate { .. })
        ));
        assert!(matches!(
            TrustedCert::from_pem("-----BEGIN CERTIFICATE-----\nAAAA"),
            Err(CertError::NoPem { .. })
        ));
        assert!(matches!(
            TrustedCert::from_pem(&"x".repeat(CERT_PEM_MAX_BYTES + 1)),
            Err(CertError::TooLarge { .. })
        ));
    }

    #[test]
    fn xml_base64_allows_whitespace_only() {
        assert_eq!(xml_base64(" QU\r\nJD\n"), Some(b"ABC".to_vec()));
        assert_eq!(xml_base64("QUJD!"), None);
        assert_eq!(xml_base64("QUJ"), None);
    }
}
